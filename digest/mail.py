"""SMTP delivery: one connection, retries only for what is safe to retry.

Opening the connection (TLS, login, the errors that name a setting) is
``digest.smtp``'s; this module drives the transactions over it.

Never sends credentials over an unencrypted connection, never falls back to
plain text, verifies certificates, and never puts the password in a message.

Each message is one SMTP transaction (MAIL, RCPT, DATA) driven step by step, so
the mailer knows whether the whole message, final "." included, reached the
server. What happens to a failure depends on that point:

- before the end of the message (dropped connection, 421, a 4xx to MAIL):
  nothing can have been queued; reconnect and retry, with backoff;
- a 4xx to RCPT, to DATA or to the final "." (mailbox full, over quota,
  greylisting, content greylisting): retried, then that reader is *deferred*
  (recorded, retried next run) and the batch goes on;
- a 5xx to RCPT, to DATA or after the message: that reader *failed*, the batch
  goes on;
- the same refusal (4xx or 5xx) for the first readers in a row (nobody accepted
  yet) is a problem of the server or the account, not of the readers: the run
  stops with one error; a refusal naming the reader's own mailbox (RFC 3463
  X.1.1 unknown, X.1.2 no such domain, X.1.10 null MX, X.2.1 disabled, X.2.2
  full) is that reader's, and counts towards no such streak;
- a 5xx to MAIL (or 530 anywhere): the sender or the login is wrong; the run stops;
- after the end of the message, no reply (connection dropped, timeout): the
  server may have queued it. That is *uncertain*, never resent in this run;
- a stop signal (SIGTERM) while a message waits out the backoff before its next try:
  nothing of it was queued; it is not tried again, and goes next run with the rest;
- a new connection greeted with a 4xx (421: "too many connections") while other
  connections of the pool are open: the server caps connections at once, it is
  not down; that connection hands its message to the others (``Surplus``) and
  the pool goes on with those the server takes;
- mid-run, once the server has turned the last readers away with the same 4xx
  (over an hourly quota, say), each next reader gets one try, not the retries and
  their backoff; once the replies to the last messages in a row were all lost, the
  run stops: each next reader would be uncertain, and a second copy next run.

With ``DIGEST_BOUNCE_ADDRESS`` the envelope sender is that address in its per-reader
(VERP) form (``digest.bounces.verp``), so later bounces name the reader. A 5xx to
RCPT is recorded with ``AT_RCPT`` after the reply (``AT_DATA`` for one naming the reader's mailbox
once the server had the message): the bounce score counts it (``digest.bounces``), as a bounce that
arrives later by mail.
"""

from __future__ import annotations

import logging
import re
import smtplib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .bounces.verp import envelope_sender
from .errors import AuthError, MailError
from .limits import Stopped, pause
from .settings import Settings
from .smtp import Connector, ServerBusy, describe, reply_text

log = logging.getLogger("digest.mail")
RETRIES = 4
BACKOFF = (0.5, 2.0, 5.0, 10.0)
_OWN_MAILBOX = re.compile(r"\d{3}[ -][45]\.(1\.(1|2|10)|2\.[12])\b")  # 550 5.1.1, 452 4.2.2: the reader's mailbox
SAME_FAILURE_STOPS = 3  # the same refusal for this many readers in a row, before any success, stops the run
# (and after a success, the same 4xx for this many in a row: the next readers get one try each)
LOST_REPLIES_STOP = 3  # the replies to this many messages in a row lost: the run stops
NEEDS_LOGIN = ("the SMTP server requires a login ({reply}): set DIGEST_SMTP_USER and DIGEST_SMTP_PASSWORD "
               "(with DIGEST_SMTP_SECURITY=starttls or ssl)")
FIXES = {
    552: "the server refuses the message size or is out of storage: lower DIGEST_MAX_ITEMS, "
         "or ask the mail provider about its limits",
}

SENT, FAILED, DEFERRED, UNCERTAIN = "sent", "failed", "deferred", "uncertain"
DEFERRED_NOTE = " (deferred to the next run)"
AT_RCPT = " (refused at RCPT)"  # the reader's address itself was refused: counted towards a suppression
AT_DATA = " (refused at DATA)"  # the same, said only once the server had the message (X.1.x, X.2.x codes)


@dataclass(frozen=True, slots=True)
class Delivery:
    """What became of one message: sent, failed (5xx), deferred (4xx after retries) or uncertain."""

    status: str
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status == SENT


class _Retry(Exception):
    """Nothing was queued: safe to try again (after a reconnect when ``reconnect``)."""

    def __init__(self, reply: str, *, reconnect: bool = True, recipient: bool = False) -> None:
        super().__init__(reply)
        self.reconnect, self.recipient = reconnect, recipient


class Surplus(Exception):
    """This connection is one more than the server takes at once (a 4xx greeting while others of the pool
    are open): its message goes to another connection, and this one is given up for the run."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


class Tally:
    """What the server said so far in this run, shared by every connection of a pool."""

    def __init__(self) -> None:
        self.accepted = 0
        self.streak: tuple[int, int] = (0, 0)  # (reply code, readers in a row refused or deferred with it)
        self.lost = 0  # messages in a row whose reply was lost (uncertain)
        self.connected = False  # some connection of this run got through: later refusals are worth retrying
        self.open = 0  # connections of this run open now
        self.lock = threading.Lock()

    def count(self, delivery: Delivery) -> int:
        """Count one answer; returns how many readers in a row (nobody accepted yet) got this same refusal."""
        with self.lock:
            self.lost = self.lost + 1 if delivery.status == UNCERTAIN else 0
            if delivery.status not in (FAILED, DEFERRED):
                self.accepted += delivery.ok
                self.streak = (0, 0)
                return 0
            if _OWN_MAILBOX.match(delivery.error):
                return 0  # this reader's mailbox (unknown, full): says nothing of the server or the account
            code = int(delivery.error[:3]) if delivery.error[:3].isdigit() else 0
            same = self.streak[1] + 1 if self.streak[0] == code else 1
            self.streak = (code, same)
            return 0 if self.accepted else same

    def deferring(self, reply: str) -> bool:
        """The last readers were all deferred with this reply's code: the server defers everyone just now."""
        code = int(reply[:3]) if reply[:3].isdigit() else 0
        with self.lock:
            return code < 500 and self.streak[0] == code and self.streak[1] >= SAME_FAILURE_STOPS


class Mailer:
    """Sends messages over one SMTP connection, reconnecting and retrying only what is safe to retry."""

    def __init__(self, settings: Settings, sleep: Callable[[float], None] = time.sleep,
                 tally: Tally | None = None) -> None:
        self.connector = Connector(settings)  # refuses unsafe settings before anything is opened
        self.settings = settings
        self.sleep = sleep
        self.smtp: smtplib.SMTP | None = None
        self.tally = tally or Tally()

    @property
    def where(self) -> str:
        return self.connector.where

    def connect(self) -> None:
        """Connect, secure and log in, or a ``MailError`` saying which setting to check."""
        self.smtp = self.connector.open()
        with self.tally.lock:
            self.tally.connected = True
            self.tally.open += 1

    def send(self, sender: str, recipient: str, message: bytes, *, may_retire: bool = False,
             halted: Callable[[], bool] = lambda: False) -> Delivery:
        """Deliver one message: ``Delivery`` for what concerns this reader, ``MailError`` to stop the run.

        ``may_retire``: a busy greeting while other connections of the pool are open raises ``Surplus``
        (nothing was sent) instead of retrying. ``halted`` (a stop signal) ends a backoff between
        tries within 50 ms with ``limits.Stopped`` (nothing of the message was queued: it goes next run):
        a stop should not wait out seconds of it.
        """
        error = ""
        sender = envelope_sender(self.settings, recipient) or sender
        self._stop_if_replies_are_lost()
        for attempt in range(RETRIES + 1):
            try:
                if self.smtp is None:
                    self._reconnect(may_retire)
                delivery = self._transaction(sender, recipient, message)
                return self._count(delivery)
            except _Retry as retry:
                error = str(retry)
                if retry.reconnect:
                    self.close()
                if retry.recipient and (attempt == RETRIES or self.tally.deferring(error)):
                    deferred = self._count(Delivery(DEFERRED, error + DEFERRED_NOTE))  # or the run stops here
                    log.info("deferring %s to the next run: %s", recipient, error)  # the run's summary names them
                    return deferred
            if attempt < RETRIES:
                log.info("retrying %s after: %s", recipient, error)
                if not pause(BACKOFF[min(attempt, len(BACKOFF) - 1)], halted, self.sleep):
                    raise Stopped(f"stopped while waiting to retry {recipient} after: {error}")
        raise MailError(f"cannot deliver to the SMTP server {self.where}: {error} (while sending to {recipient}); "
                        "check DIGEST_SMTP_HOST or try again later")

    def _reconnect(self, may_retire: bool = False) -> None:
        """The first connection of a run fails at once; later ones (after a drop) are retried."""
        try:
            self.connect()
        except ServerBusy as err:
            if may_retire and self.tally.open > 0:
                raise Surplus(err.reply) from None
            raise _Retry(f"busy ({err.reply})") from None
        except AuthError:
            raise
        except MailError as err:
            if not self.tally.connected:
                raise
            raise _Retry(f"cannot reconnect ({err})") from None

    def _transaction(self, sender: str, recipient: str, message: bytes) -> Delivery:
        smtp = self.smtp
        assert smtp is not None
        try:
            smtp.ehlo_or_helo_if_needed()
            self._mail(smtp, sender)
            refused = self._rcpt(smtp, recipient)
            if refused is not None:
                return refused
            return self._data(smtp, message)
        except (smtplib.SMTPServerDisconnected, OSError) as err:
            raise _Retry(f"connection dropped ({describe(err)})") from None

    def _mail(self, smtp: smtplib.SMTP, sender: str) -> None:
        code, text = smtp.mail(sender)
        if code == 250:
            return
        self._reset(smtp)
        reply = f"{code} {reply_text(text)}"
        if code == 530:
            raise AuthError(NEEDS_LOGIN.format(reply=reply))
        if code == 421 or code < 500:
            raise _Retry(reply, reconnect=code == 421)
        setting = "DIGEST_BOUNCE_ADDRESS" if self.settings.bounce_address else "DIGEST_FROM"
        raise MailError(f"the SMTP server refused the sender {sender} ({reply}); "
                        + FIXES.get(code, f"check {setting} and what the server allows this account to send"))

    def _rcpt(self, smtp: smtplib.SMTP, recipient: str) -> Delivery | None:
        code, text = smtp.rcpt(recipient)
        if code in (250, 251):
            return None
        self._reset(smtp)
        reply = f"{code} {reply_text(text)}"
        if code == 530:
            raise AuthError(NEEDS_LOGIN.format(reply=reply))
        if code == 421:
            raise _Retry(reply)
        if code < 500:
            raise _Retry(reply, reconnect=False, recipient=True)
        return Delivery(FAILED, reply + AT_RCPT)

    def _data(self, smtp: smtplib.SMTP, message: bytes) -> Delivery:
        code, text = smtp.docmd("data")
        if code != 354:
            return self._refused(smtp, code, text)
        smtp.send(_dot_stuffed(message))
        try:  # the whole message is with the server now: from here on a lost reply is ambiguous
            code, text = smtp.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as err:
            self.close()
            return Delivery(UNCERTAIN, f"the server's reply to the message was lost ({describe(err)}); "
                                       "it may have been delivered")
        if code == 250:
            return Delivery(SENT)
        return self._refused(smtp, code, text)

    def _refused(self, smtp: smtplib.SMTP, code: int, text: bytes) -> Delivery:
        """A clear refusal of DATA or of the message: nothing was queued.

        With one recipient per transaction, a 4xx here (over quota, content
        greylisting) is about this reader, as a 4xx to RCPT is: retried, then
        deferred; only a 421 (the server closing) is about the connection.
        Any refusal is followed by RSET: a DATA turned away leaves the transaction
        open (Postfix then answers the next reader's MAIL with "503 nested MAIL").
        A 5xx whose code names the reader's mailbox (``550 5.1.10`` recipient not found,
        as Microsoft 365 answers after the message) is marked ``AT_DATA`` and counts
        towards a suppression as a refusal at RCPT does; one about the message (5.7.1
        spam, 5.3.4 too big) is not the address's and counts nothing.
        """
        reply = f"{code} {reply_text(text)}"
        if code == 530:
            raise AuthError(NEEDS_LOGIN.format(reply=reply))
        self._reset(smtp)
        if code < 500:
            raise _Retry(reply, reconnect=code == 421, recipient=code != 421)
        return Delivery(FAILED, reply + (AT_DATA if _OWN_MAILBOX.match(reply) else ""))

    def _reset(self, smtp: smtplib.SMTP) -> None:
        try:
            smtp.rset()
        except (smtplib.SMTPException, OSError):
            self.close()

    def _stop_if_replies_are_lost(self) -> None:
        if self.tally.lost >= LOST_REPLIES_STOP:
            raise MailError(f"the SMTP server {self.where} did not answer the last {self.tally.lost} messages "
                            "in a row once they were sent (they may have been delivered); the run stops so that "
                            "no more readers are left uncertain: check the server, or raise DIGEST_SMTP_TIMEOUT")

    def _count(self, delivery: Delivery) -> Delivery:
        """Stop the run when every reader so far was refused with the same 5xx: that is the account."""
        same = self.tally.count(delivery)
        if same < SAME_FAILURE_STOPS:
            return delivery
        code = int(delivery.error[:3])
        reply = delivery.error.removesuffix(DEFERRED_NOTE)
        if code < 500:
            raise MailError(f"the SMTP server {self.where} turned away the first {same} messages with {reply}: "
                            "a problem of the server or the account, not of the readers; try again later, "
                            "or ask the mail provider")
        raise MailError(f"the SMTP server refused the first {same} messages with {reply}; "
                        + FIXES.get(code, "check DIGEST_FROM and what the server allows this account to send"))

    def close(self) -> None:
        if self.smtp is not None:
            with self.tally.lock:
                self.tally.open -= 1
            try:
                self.smtp.quit()
            except (OSError, smtplib.SMTPException):
                self.smtp.close()
        self.smtp = None


def _dot_stuffed(message: bytes) -> bytes:
    """The DATA payload: every line end CRLF, lines starting with "." doubled, then the final ".", as RFC 5321 says.

    A lone CR or LF becomes CRLF first, so "." is stuffed after any line break and
    nothing before the end can read as the end of the data (``<CR>.<CR><LF>``,
    ``<LF>.<LF>``: SMTP smuggling on lenient servers). ``digest.mime`` writes none.
    """
    body = message.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
    body = re.sub(rb"(?m)^\.", b"..", body)
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return body + b".\r\n"
