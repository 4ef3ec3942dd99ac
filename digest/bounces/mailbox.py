"""The bounce mailbox over IMAP, always with TLS: implicit (``imaps://``) or STARTTLS (``imap://``).

Unread messages are fetched without marking them (``BODY.PEEK``), and each is flagged
``\\Seen`` only after its outcome is in the store: a crash in between reads it again,
and the store's event key makes the second reading count nothing. Nothing is deleted.

The unread are searched a span of message numbers at a time (``UID SEARCH 1:90900 UNSEEN``,
then the next), because imaplib refuses an answer line over 1,000,000 bytes: one search over
some 120,000 unread messages failed every pass, and the mailbox was never drained. Each
span's answer, up to 11 bytes a UID, fits that line. Message numbers shift only when another
client expunges meanwhile; what that skips is read next pass.
"""

from __future__ import annotations

import imaplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from ..errors import MailboxError
from ..settings import Settings

TIMEOUT = 30.0
FIX = "check DIGEST_BOUNCE_IMAP_URL"
LINE_LIMIT = 1_000_000  # the longest answer line imaplib takes (its private ``_MAXLINE``)
SPAN = (LINE_LIMIT - 100) // 11  # messages a SEARCH covers: "* SEARCH", then a UID of up to 10 digits and a space each


@dataclass(frozen=True, slots=True)
class Where:
    scheme: str
    host: str
    port: int
    user: str
    password: str
    folder: str

    @classmethod
    def of(cls, url: str) -> "Where":
        parts = urlsplit(url)
        port = parts.port or (993 if parts.scheme == "imaps" else 143)
        folder = unquote(parts.path.lstrip("/")) or "INBOX"
        return cls(parts.scheme, parts.hostname or "", port, unquote(parts.username or ""),
                   unquote(parts.password or ""), folder)

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}/{self.folder}"


class Mailbox:
    """One logged-in IMAP session on the bounce folder."""

    def __init__(self, imap: imaplib.IMAP4, where: Where, count: int = 0, span: int = SPAN) -> None:
        self.imap, self.where = imap, where
        self.count = count  # messages in the folder when it was selected; later ones wait for the next pass
        self.span = span  # messages one SEARCH covers

    def unread(self) -> Iterator[tuple[bytes, bytes]]:
        """(uid, the raw message) of each unread message, oldest first."""
        for uid in self.unread_uids():
            data = self._call("fetch", uid.decode(), "(BODY.PEEK[])")
            raw = next((item[1] for item in data if isinstance(item, tuple)), None)
            if isinstance(raw, bytes):
                yield uid, raw

    def unread_uids(self) -> Iterator[bytes]:
        """The UIDs of the unread messages, one span of message numbers searched at a time."""
        for first in range(1, self.count + 1, self.span):
            last = min(first + self.span - 1, self.count)
            yield from self._call("search", f"{first}:{last}", "UNSEEN")[0].split()

    def mark_read(self, uid: bytes) -> None:
        self._call("store", uid.decode(), "+FLAGS", "(\\Seen)")

    def _call(self, command: str, *args: str) -> list[bytes]:
        try:
            status, data = self.imap.uid(command, *args)
        except (imaplib.IMAP4.error, OSError) as err:
            raise MailboxError(f"the bounce mailbox {self.where} failed during {command.upper()} ({err}); {FIX}") from err
        if status != "OK":
            raise MailboxError(f"the bounce mailbox {self.where} refused {command.upper()} ({_text(data)}); {FIX}")
        return list(data)


@contextmanager
def opened(settings: Settings, context: ssl.SSLContext | None = None, span: int = SPAN) -> Iterator[Mailbox]:
    """The bounce folder, logged in over TLS, or one ``MailboxError`` naming the setting to check; ``span``: how
    many messages one search for the unread covers."""
    where = Where.of(settings.bounce_imap_url)
    context = context or _context(settings)
    imap = _connect(where, context)
    try:
        count = _login(imap, where)
        yield Mailbox(imap, where, count, span)
    finally:
        try:
            imap.logout()
        except (imaplib.IMAP4.error, OSError):
            pass


def _context(settings: Settings) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if settings.bounce_ca_file:
        try:
            context.load_verify_locations(cafile=str(settings.bounce_ca_file))
        except (OSError, ssl.SSLError) as err:
            raise MailboxError(f"DIGEST_BOUNCE_CA_FILE={settings.bounce_ca_file}: cannot load ({err})") from None
    return context


def _connect(where: Where, context: ssl.SSLContext) -> imaplib.IMAP4:
    try:
        if where.scheme == "imaps":
            return imaplib.IMAP4_SSL(where.host, where.port, ssl_context=context, timeout=TIMEOUT)
        imap = imaplib.IMAP4(where.host, where.port, timeout=TIMEOUT)
        try:
            imap.starttls(ssl_context=context)
        except BaseException:
            try:
                imap.shutdown()
            except OSError:
                pass  # the failed handshake may have closed the socket already
            raise
        return imap
    except ssl.SSLCertVerificationError as err:
        raise MailboxError(f"the bounce mailbox {where}: TLS certificate not trusted ({err.verify_message}); "
                           f"{FIX} or DIGEST_BOUNCE_CA_FILE") from None
    except (imaplib.IMAP4.error, OSError) as err:
        raise MailboxError(f"cannot connect to the bounce mailbox {where} ({err or type(err).__name__}); {FIX} "
                           "(imaps:// for TLS, imap:// for STARTTLS)") from None


def _login(imap: imaplib.IMAP4, where: Where) -> int:
    """Logged in and the folder selected; how many messages it holds."""
    try:
        imap.login(where.user, where.password)
    except imaplib.IMAP4.error:
        raise MailboxError(f"the bounce mailbox {where} refused the login of {where.user}; "
                           f"check the user and password in DIGEST_BOUNCE_IMAP_URL") from None
    try:
        status, data = imap.select(_quoted(where.folder))
    except imaplib.IMAP4.error as err:
        status, data = "NO", [str(err).encode()]
    if status != "OK":
        raise MailboxError(f"the bounce mailbox has no folder {where.folder!r} ({_text(data)}); "
                           f"name the folder at the end of DIGEST_BOUNCE_IMAP_URL")
    return int(data[0]) if data and isinstance(data[0], bytes) and data[0].isdigit() else 0


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(data: object) -> str:
    items = data if isinstance(data, list) else [data]
    return " ".join(i.decode("utf-8", "replace") if isinstance(i, bytes) else str(i) for i in items)
