"""Who a link names, for the reader pages: the roster read once, kept until its file changes.

Every page resolves the reader id its token carries to an address. Parsing the
subscribers file and signing every address on each request cost 0.8 s of CPU per
page at 10,000 readers, and as much again for every click on a removed reader's
link. Here the file is read and indexed (by address and by reader id) once, and
again only when its modification time, size or inode changes; one ``stat`` per
request tells. Addresses only the state store knows (readers since removed from
the file, or read from another file by a send) are indexed from the store: again
when the file changes, else at most every ``STORE_REFRESH`` seconds on a miss.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..errors import DigestError
from ..model import Subscriber
from ..settings import Settings
from ..subscribers import roster_from_settings
from ..tokens import reader_id

log = logging.getLogger("digest.web")
STORE_REFRESH = 30.0  # seconds: how stale the index of store-only addresses may be when a link misses
Stamp = tuple[int, int, int] | str | None


@dataclass(frozen=True)
class RosterIndex:
    """One reading of the roster: readers by lower-case address, addresses by reader id."""

    by_email: dict[str, Subscriber] = field(default_factory=dict)
    by_rid: dict[str, str] = field(default_factory=dict)


class Roster:
    """The operator's readers as the pages need them; safe to share between request threads."""

    def __init__(self, settings: Settings, secret: str,
                 load: Callable[[Settings], list[Subscriber]] = roster_from_settings,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.secret = secret
        self.load = load
        self.clock = clock
        self._lock = threading.Lock()
        self._stamp: Stamp = "unread"
        self._index = RosterIndex()
        self._stored: dict[str, str] = {}  # reader id -> address, for addresses the store holds
        self._stored_at = float("-inf")

    def index(self) -> RosterIndex:
        """The current reading; the file is parsed again only if it changed since the last one."""
        stamp = self._file_stamp()
        with self._lock:
            if stamp != self._stamp:
                self._index = self._read(self._index)
                self._stamp = stamp
                self._stored_at = float("-inf")  # readers may have left the file: look at the store again
            return self._index

    def reader(self, email: str) -> Subscriber | None:
        return self.index().by_email.get(email.lower())

    def emails(self) -> list[str]:
        return list(self.index().by_email)

    def email_of(self, rid: str, known_emails: Callable[[], Iterable[str]]) -> str | None:
        """The address behind ``rid``: the roster's, else one of ``known_emails()`` (the store's)."""
        email = self.index().by_rid.get(rid)
        if email is not None:
            return email
        with self._lock:
            if rid not in self._stored and self.clock() - self._stored_at >= STORE_REFRESH:
                self._stored = {reader_id(self.secret, e): e for e in known_emails()}
                self._stored_at = self.clock()
            return self._stored.get(rid)

    def _file_stamp(self) -> Stamp:
        """What tells a changed file: modification time, size and inode (an editor's rename)."""
        path = self.settings.subscribers
        if not path:
            return "settings"  # DIGEST_TO's reader: fixed for the life of the process
        try:
            info = os.stat(path)
        except OSError:
            return None
        return (info.st_mtime_ns, info.st_size, info.st_ino)

    def _read(self, previous: RosterIndex) -> RosterIndex:
        """A fresh index (none for a site of sign-ups alone: ``roster_from_settings`` names no reader then); a file
        that no longer parses keeps the previous one, as the daemon does."""
        try:
            readers = self.load(self.settings)
        except DigestError as err:
            if previous.by_email:
                log.warning("reader pages: %s; keeping the %d readers read before", err, len(previous.by_email))
            elif self.settings.subscribers:  # none read before (serve started on it): its readers' links say 404
                log.warning("reader pages: %s; no reader is read from it until it is fixed", err)
            return previous
        by_email: dict[str, Subscriber] = {}
        for reader in readers:
            if reader.email:
                by_email.setdefault(reader.email.lower(), reader)
        return RosterIndex(by_email, {reader_id(self.secret, e): e for e in by_email})
