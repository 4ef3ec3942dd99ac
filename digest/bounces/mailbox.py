"""The bounce mailbox over IMAP, always with TLS: implicit (``imaps://``) or STARTTLS (``imap://``).

Unread messages are fetched without marking them (``BODY.PEEK``), and each is flagged
``\\Seen`` only after its outcome is in the store: a crash in between reads it again,
and the store's event key makes the second reading count nothing. Nothing is deleted.
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

    def __init__(self, imap: imaplib.IMAP4, where: Where) -> None:
        self.imap, self.where = imap, where

    def unread(self) -> Iterator[tuple[bytes, bytes]]:
        """(uid, the raw message) of each unread message, oldest first."""
        for uid in self._call("search", "UNSEEN")[0].split():
            data = self._call("fetch", uid.decode(), "(BODY.PEEK[])")
            raw = next((item[1] for item in data if isinstance(item, tuple)), None)
            if isinstance(raw, bytes):
                yield uid, raw

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
def opened(settings: Settings, context: ssl.SSLContext | None = None) -> Iterator[Mailbox]:
    """The bounce folder, logged in over TLS, or one ``MailboxError`` naming the setting to check."""
    where = Where.of(settings.bounce_imap_url)
    context = context or _context(settings)
    imap = _connect(where, context)
    try:
        _login(imap, where)
        yield Mailbox(imap, where)
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


def _login(imap: imaplib.IMAP4, where: Where) -> None:
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


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(data: object) -> str:
    items = data if isinstance(data, list) else [data]
    return " ".join(i.decode("utf-8", "replace") if isinstance(i, bytes) else str(i) for i in items)
