"""Opening the SMTP connection: connect, secure and log in, or an error naming the setting to check.

``digest.mail`` sends through what this opens; ``digest check`` opens one and closes
it to test the settings. Certificates are always verified (against
``DIGEST_SMTP_CA_FILE`` when set), STARTTLS is required when asked for, and the
password never appears in a message.
"""

from __future__ import annotations

import re
import smtplib
import socket
import ssl

from .errors import AuthError, ConfigError, MailError
from .settings import Settings


class ServerBusy(MailError):
    """A 4xx greeting (421), a 4xx to EHLO, to STARTTLS or to the login (454): the server is there but busy; a send
    retries, ``digest check`` reports it."""

    def __init__(self, message: str, reply: str) -> None:
        super().__init__(message)
        self.reply = reply  # "421 try later"


class Connector:
    """Opens logged-in connections to the configured SMTP server."""

    def __init__(self, settings: Settings) -> None:
        if settings.smtp_security == "none" and settings.smtp_user:
            raise ConfigError(
                "DIGEST_SMTP_USER is set but DIGEST_SMTP_SECURITY=none: refusing to send a password "
                "unencrypted; use starttls or ssl"
            )
        self.settings = settings

    @property
    def where(self) -> str:
        return f"{self.settings.smtp_host}:{self.settings.port}"

    def open(self) -> smtplib.SMTP:
        """Connect, secure and log in, or a ``MailError`` saying which setting to check."""
        try:
            smtp = self._connect()
            try:
                self._secure(smtp)
                if self.settings.smtp_user:
                    self._login(smtp)
            except BaseException:
                smtp.close()  # not left to the garbage collector: a retried connect would hold two sockets
                raise
        except ssl.SSLCertVerificationError as err:
            raise MailError(f"{self.where}: TLS certificate not trusted ({err.verify_message}); "
                            "check DIGEST_SMTP_HOST or DIGEST_SMTP_CA_FILE") from None
        except smtplib.SMTPConnectError as err:
            if 400 <= err.smtp_code < 500:
                raise self._busy(err.smtp_code, err.smtp_error) from None
            raise self._unreachable(err) from None
        except (ssl.SSLError, smtplib.SMTPException, OSError) as err:
            if isinstance(err, MailError):
                raise
            raise self._unreachable(err) from None
        return smtp

    def _context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.settings.smtp_ca_file:
            try:
                context.load_verify_locations(cafile=str(self.settings.smtp_ca_file))
            except (OSError, ssl.SSLError) as err:
                raise ConfigError(f"DIGEST_SMTP_CA_FILE={self.settings.smtp_ca_file}: cannot load ({err})") from err
        return context

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.smtp_security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(s.smtp_host, s.port, timeout=s.smtp_timeout,
                                                  context=self._context())
        else:
            smtp = smtplib.SMTP(s.smtp_host, s.port, timeout=s.smtp_timeout)
        return smtp

    def _secure(self, smtp: smtplib.SMTP) -> None:
        """EHLO, and STARTTLS when asked for: a 4xx to it (RFC 3207's 454) is a busy server, not an unreachable one."""
        self._hello(smtp)
        if self.settings.smtp_security != "starttls":
            return
        if not smtp.has_extn("starttls"):
            raise MailError(f"{self.where} does not offer STARTTLS; set DIGEST_SMTP_SECURITY=ssl (port 465) "
                            "or check DIGEST_SMTP_HOST")
        try:
            smtp.starttls(context=self._context())
        except smtplib.SMTPResponseException as err:
            if not 400 <= err.smtp_code < 500:
                raise
            raise self._busy(err.smtp_code, err.smtp_error, "cannot start TLS just now") from None
        self._hello(smtp)

    def _hello(self, smtp: smtplib.SMTP) -> None:
        """EHLO; a 4xx to it (Gmail: "421 4.7.0 Try again later, closing connection. (EHLO)") is a busy
        server, as a 4xx greeting is, not one without STARTTLS or a login."""
        code, text = smtp.ehlo()
        if 400 <= code < 500:
            raise self._busy(code, text)
        if code != 250:
            smtp.ehlo_resp = None  # a server without EHLO: smtplib says HELO when it first needs to

    def _busy(self, code: int, text: bytes | str, doing: str = "is busy") -> ServerBusy:
        reply = f"{code} {reply_text(text)}"
        return ServerBusy(f"the SMTP server {self.where} {doing} ({reply}); try again later", reply)

    def _unreachable(self, err: BaseException) -> MailError:
        return MailError(f"cannot connect to the SMTP server {self.where} ({describe(err)}); "
                         "check DIGEST_SMTP_HOST, DIGEST_SMTP_PORT and DIGEST_SMTP_SECURITY")

    def _login(self, smtp: smtplib.SMTP) -> None:
        try:
            smtp.login(self.settings.smtp_user, self.settings.smtp_password)
        except smtplib.SMTPAuthenticationError as err:  # ``open`` closes the connection
            if 400 <= err.smtp_code < 500:  # RFC 4954's 454 (Gmail: too many logins at once): not the password
                raise self._busy(err.smtp_code, err.smtp_error, "cannot log in just now") from None
            raise AuthError(
                f"the SMTP server refused the login ({err.smtp_code}); check DIGEST_SMTP_USER and DIGEST_SMTP_PASSWORD"
            ) from None
        except smtplib.SMTPNotSupportedError:
            raise AuthError("the SMTP server offers no login; unset DIGEST_SMTP_USER or check DIGEST_SMTP_SECURITY") from None


_STATUS = re.compile(r"[245]\.\d{1,3}\.\d{1,3}\s+")  # an RFC 3463 status, which a multi-line reply repeats


def reply_text(value: bytes | str) -> str:
    """The server's reply text on one line: a multi-line reply (``552-5.3.4 ...``, ``552 5.3.4 ...``, as Gmail
    answers) has its lines joined by a space, the status each line repeats said once."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    first, *rest = text.splitlines() or [""]
    status = _STATUS.match(first)
    rest = [line.removeprefix(status.group()) if status and _STATUS.match(line) else line for line in rest]
    return " ".join(part for part in (line.strip() for line in (first, *rest)) if part)


def describe(err: BaseException) -> str:
    """A short reason for a failed exchange: "timed out", "connection refused", the server's reply, or the error."""
    if isinstance(err, socket.timeout) or "timed out" in str(err):
        return "timed out"
    if isinstance(err, ConnectionRefusedError):
        return "connection refused"
    if isinstance(err, smtplib.SMTPResponseException):
        return f"{err.smtp_code} {reply_text(err.smtp_error)}"
    return str(err) or type(err).__name__
