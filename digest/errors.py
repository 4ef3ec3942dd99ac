"""The exceptions users see.

Every error a user can cause or fix is a ``DigestError``; the CLI turns it into
one line on stderr. Anything else is a bug and keeps its traceback.

    DigestError
    ├── ConfigError            a setting or the subscribers file is wrong
    │   └── LibraryError       a reader's library file cannot be read (carries the path)
    ├── ListingError           a listing file or response cannot be read
    │   ├── EmptyListingError  the listing is valid but lists no papers
    │   └── UnreadableItemsError  the listing holds items, none of which could be read
    ├── SourceError            a live source failed (network, HTTP status)
    ├── KeywordError           a keyword expression is invalid
    ├── TemplateError          a template cannot be loaded or rendered
    ├── StoreError             the state database cannot be used
    ├── OutputError            a file or folder digest writes to cannot be written
    ├── LockedError            another run holds the send lock
    ├── MailError              SMTP delivery failed
    │   └── AuthError          the SMTP server refused the login
    └── MailboxError           the bounce mailbox (IMAP) cannot be read
"""

from __future__ import annotations

import errno
import re
from pathlib import Path

_URL_PASSWORD = re.compile(r"(//[^/@:\s]*):\S*?@")  # to the first @ after it: a password may hold / or quotes
_URL_SECRET_PARAMETER = re.compile(  # Zotero's ?key=, a feed's ?token=, a signed link's &sig=
    r"([?&;][^=&#\s]*(?:key|token|secret|password|passwd|pwd|sig|signature|auth|credentials?|session(?:id)?)=)"
    r"[^&#\s]*", re.IGNORECASE)


class DigestError(Exception):
    """Root of every user-facing error; ``str(err)`` is the one-line message."""


class ConfigError(DigestError):
    pass


class LibraryError(ConfigError):
    """A reader's library file is missing, unreadable, too big or malformed.

    A ``ConfigError`` (the file is named by the subscribers file or DIGEST_LIBRARY),
    so ``digest check`` and the CLI report it as one; a send ranks that reader
    without it. The message is one line: the file, the problem, the fix.
    """

    def __init__(self, path: Path, problem: str, fix: str) -> None:
        super().__init__(f"{shown_path(path)}: {problem}; {fix}")
        self.path = path
        self.problem = problem


class ListingError(DigestError):
    def __init__(self, source: str, problem: str) -> None:
        source, problem = shown_url(source), shown_url(problem)
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem


class EmptyListingError(ListingError):
    """``incomplete``: no papers in what was read, but a part of the source could not be read (a day of its
    look-back skipped): not an empty source, so the run does not count for its look-back (``Listing.failed``)."""

    def __init__(self, source: str, problem: str, *, incomplete: bool = False) -> None:
        super().__init__(source, problem)
        self.incomplete = incomplete


class UnreadableItemsError(ListingError):
    """Not an empty day: every item was broken (an API that changed its format, a wrong file)."""


class SourceError(DigestError):
    def __init__(self, source: str, problem: str) -> None:
        source, problem = shown_url(source), shown_url(problem)
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem


def shown_path(path: Path) -> str:
    """A file's name on one line: as it is, or its repr when it holds a line break or another unprintable."""
    return str(path) if str(path).isprintable() else repr(str(path))


def shown_url(text: str) -> str:
    """``text`` with the password of any URL in it shown as ``***`` (``https://user:***@host/...``), and the
    value of a query parameter named as a secret is (``?key=***``, ``&access_token=***``: a private feed's)."""
    return _URL_SECRET_PARAMETER.sub(r"\1***", _URL_PASSWORD.sub(r"\1:***@", text))


class KeywordError(DigestError):
    pass


class TemplateError(DigestError):
    pass


class StoreError(DigestError):
    """The state store failed. ``transient``: its server was out of reach or gave up for now (a retry may
    work, and is safe: nothing is sent before the store opens); otherwise (damaged, full) it needs a fix."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class LockedError(DigestError):
    pass


class MailError(DigestError):
    pass


class AuthError(MailError):
    pass


class MailboxError(DigestError):
    pass



class OutputError(DigestError):
    @classmethod
    def writing(cls, path: Path, err: OSError, fix: str) -> "OutputError":
        """One line naming ``path``, what is wrong with it and ``fix`` (e.g. "choose another --outbox")."""
        return cls(f"cannot write {path}: {why_not_writable(path, err)}; {fix}")


def expand_home(path: Path) -> Path:
    """``path`` with a leading ``~`` or ``~user`` expanded; a user with no home is a ``ConfigError`` saying so
    (``Path.expanduser`` raises a bare ``RuntimeError``)."""
    try:
        return path.expanduser()
    except RuntimeError:
        raise ConfigError(f"{path}: cannot expand {path.parts[0]} (no such user, or no home folder); "
                          "write the path in full") from None


def utf8_text(data: bytes, where: str, fix: str) -> str:
    """A settings or subscribers file's text (a UTF-8 BOM, as Notepad saves, dropped); not UTF-8 is a
    ``ConfigError`` naming the line: ``{where}: line 3 is not UTF-8 text; {fix}``."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ConfigError(f"{where}: line {line} is not UTF-8 text; {fix}") from None


def file_in_the_way(path: Path) -> Path | None:
    """The first folder in ``path`` that is really a file, if any (``/a/file.txt/x`` -> ``/a/file.txt``)."""
    for folder in reversed(path.parents):
        if folder.exists() and not folder.is_dir():
            return folder
    return None


def why_not_writable(path: Path, err: OSError) -> str:
    """What an ``OSError`` from writing ``path`` (or making its folder) means, in words."""
    blocker = file_in_the_way(path)
    if blocker is not None:
        return f"{blocker} is a file, not a folder"
    if isinstance(err, IsADirectoryError) or path.is_dir() and err.errno == errno.EISDIR:
        return f"{path} is a folder"
    if isinstance(err, FileNotFoundError):
        return f"the folder {path.parent} does not exist"
    if err.errno == errno.EROFS:
        return "the file system is read-only"
    if err.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return "the disk is full"
    return err.strerror or str(err) or type(err).__name__
