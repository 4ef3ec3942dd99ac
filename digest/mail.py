"""SMTP delivery: one connection per batch, retries for what is worth retrying.

Never sends credentials over an unencrypted connection, never falls back to
plain text, verifies certificates, and never puts the password in a message.
"""

from __future__ import annotations

import logging
import queue
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .errors import AuthError, ConfigError, MailError
from .settings import Settings

log = logging.getLogger("digest.mail")
RETRIES = 4
BACKOFF = (0.5, 2.0, 5.0, 10.0)


@dataclass(frozen=True, slots=True)
class Delivery:
    ok: bool
    error: str = ""


class Mailer:
    def __init__(self, settings: Settings, sleep: Callable[[float], None] = time.sleep) -> None:
        if settings.smtp_security == "none" and settings.smtp_user:
            raise ConfigError(
                "DIGEST_SMTP_USER is set but DIGEST_SMTP_SECURITY=none: refusing to send a password "
                "unencrypted; use starttls or ssl"
            )
        self.settings = settings
        self.sleep = sleep
        self.smtp: smtplib.SMTP | None = None

    def _context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.settings.smtp_ca_file:
            try:
                context.load_verify_locations(cafile=str(self.settings.smtp_ca_file))
            except (OSError, ssl.SSLError) as err:
                raise ConfigError(f"DIGEST_SMTP_CA_FILE={self.settings.smtp_ca_file}: cannot load ({err})") from err
        return context

    def connect(self) -> None:
        s = self.settings
        where = f"{s.smtp_host}:{s.port}"
        try:
            if s.smtp_security == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(s.smtp_host, s.port, timeout=s.smtp_timeout, context=self._context())
            else:
                smtp = smtplib.SMTP(s.smtp_host, s.port, timeout=s.smtp_timeout)
                if s.smtp_security == "starttls":
                    smtp.ehlo()
                    if not smtp.has_extn("starttls"):
                        smtp.close()
                        raise MailError(f"{where} does not offer STARTTLS; set DIGEST_SMTP_SECURITY=ssl (port 465) or check DIGEST_SMTP_HOST")
                    smtp.starttls(context=self._context())
                    smtp.ehlo()
            if s.smtp_user:
                self._login(smtp)
        except ssl.SSLCertVerificationError as err:
            raise MailError(f"{where}: TLS certificate not trusted ({err.verify_message}); check DIGEST_SMTP_HOST or DIGEST_SMTP_CA_FILE") from None
        except (ssl.SSLError, smtplib.SMTPException, OSError) as err:
            if isinstance(err, MailError):
                raise
            raise MailError(f"cannot connect to the SMTP server {where} ({_describe(err)}); check DIGEST_SMTP_HOST, DIGEST_SMTP_PORT and DIGEST_SMTP_SECURITY") from None
        self.smtp = smtp

    def _login(self, smtp: smtplib.SMTP) -> None:
        try:
            smtp.login(self.settings.smtp_user, self.settings.smtp_password)
        except smtplib.SMTPAuthenticationError as err:
            smtp.close()
            raise AuthError(
                f"the SMTP server refused the login ({err.smtp_code}); check DIGEST_SMTP_USER and DIGEST_SMTP_PASSWORD"
            ) from None
        except smtplib.SMTPNotSupportedError:
            smtp.close()
            raise AuthError("the SMTP server offers no login; unset DIGEST_SMTP_USER or check DIGEST_SMTP_SECURITY") from None

    def send(self, sender: str, recipient: str, message: bytes) -> Delivery:
        """Deliver one message; transient failures are retried, permanent ones reported."""
        for attempt in range(RETRIES + 1):
            try:
                if self.smtp is None:
                    self.connect()
                assert self.smtp is not None
                self.smtp.sendmail(sender, [recipient], message)
                return Delivery(True)
            except smtplib.SMTPServerDisconnected:
                self.smtp = None
                error = "connection dropped"
            except smtplib.SMTPRecipientsRefused as err:
                code, text = next(iter(err.recipients.values()))
                if code >= 500:
                    return Delivery(False, f"{code} {_text(text)}")
                error = f"{code} {_text(text)}"
            except smtplib.SMTPResponseException as err:
                if err.smtp_code >= 500:
                    return Delivery(False, f"{err.smtp_code} {_text(err.smtp_error)}")
                if err.smtp_code == 421:
                    self.close()
                error = f"{err.smtp_code} {_text(err.smtp_error)}"
            except (OSError, smtplib.SMTPException) as err:
                self.close()
                error = _describe(err)
            if attempt < RETRIES:
                log.info("retrying %s after: %s", recipient, error)
                self.sleep(BACKOFF[min(attempt, len(BACKOFF) - 1)])
        raise MailError(f"cannot deliver to the SMTP server {self.settings.smtp_host}:{self.settings.port}: {error}; check DIGEST_SMTP_HOST or try again later")

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (OSError, smtplib.SMTPException):
                self.smtp.close()
        self.smtp = None


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _describe(err: BaseException) -> str:
    if isinstance(err, socket.timeout):
        return "timed out"
    if isinstance(err, ConnectionRefusedError):
        return "connection refused"
    if isinstance(err, smtplib.SMTPResponseException):
        return f"{err.smtp_code} {_text(err.smtp_error)}"
    return str(err) or type(err).__name__


@dataclass
class Outgoing:
    """One built message on its way, with what to record once the server has it."""

    recipient: str
    message_id: str
    message: bytes
    paper_ids: list[str]


class SendQueue:
    """Deliver on one background thread while the caller renders the next digests.

    SMTP is mostly waiting for the server's reply; a sender thread (the wait
    releases the GIL) lets rendering and building overlap it, on the same single
    connection. Results come back to the caller's thread, which records them: a
    message is recorded as sent only after the server accepted it. A fatal error
    (server gone after the retries, refused login) stops the queue; the messages
    behind it are neither sent nor recorded, so the next run sends them.
    """

    def __init__(self, mailer: "Mailer", sender: str, depth: int = 4) -> None:
        self.mailer = mailer
        self.sender = sender
        self._todo: queue.Queue[Outgoing | None] = queue.Queue(maxsize=depth)
        self._done: queue.Queue[tuple[Outgoing, Delivery]] = queue.Queue()
        self._error: BaseException | None = None
        self._stopped = threading.Event()
        # started by the first submit: a producer may fork before, while this process has one thread
        self._thread = threading.Thread(target=self._run, name="digest-smtp", daemon=True)

    def _run(self) -> None:
        while True:
            item = self._todo.get()
            if item is None or self._error is not None:
                if item is None:
                    return
                continue
            try:
                delivery = self.mailer.send(self.sender, item.recipient, item.message)
            except BaseException as err:  # noqa: BLE001 (handed to the caller's thread)
                self._error = err
                self._stopped.set()
                continue
            self._done.put((item, delivery))

    def submit(self, item: Outgoing) -> None:
        """Queue one message; waits while ``depth`` messages are ahead of it."""
        if not self._thread.is_alive() and self._thread.ident is None:
            self._thread.start()
        while not self._stopped.is_set():
            try:
                self._todo.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def finished(self) -> Iterator[tuple[Outgoing, Delivery]]:
        """Deliveries the server has answered since the last call."""
        while True:
            try:
                yield self._done.get_nowait()
            except queue.Empty:
                return

    def close(self) -> None:
        """Wait for everything queued (unless stopped by an error)."""
        if self._thread.ident is None:
            return
        while self._thread.is_alive():
            try:
                self._todo.put(None, timeout=0.1)
                break
            except queue.Full:
                if self._stopped.is_set():
                    self._drop_pending()
        self._thread.join()

    def _drop_pending(self) -> int:
        dropped = 0
        while True:
            try:
                if self._todo.get_nowait() is not None:
                    dropped += 1
            except queue.Empty:
                return dropped

    def drop_pending(self) -> int:
        """Forget the messages not handed to the server yet (a stop): they go next run."""
        return self._drop_pending()

    @property
    def error(self) -> BaseException | None:
        """What stopped the queue (server gone after the retries, refused login), if anything."""
        return self._error

    def raise_error(self) -> None:
        if self._error is not None:
            raise self._error
