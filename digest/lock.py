"""File locks so that overlapping runs (cron plus daemon) never send twice, and shards of a list.

A send of the whole list holds ``state.db.lock`` alone. ``digest send --shard K/N``
sends to the readers whose address hashes to K of N (sha256: the same split on
every machine and every run, whatever the order of the subscribers file); it shares
``state.db.lock`` with the other shards and holds its own ``state.db.shard-K-of-N.lock``.
So the N shards run side by side on one state store, a second run of the same shard
waits, and a whole-list send waits for all of them (and they for it). Every worker
must use the same N: shards of different N overlap.

The lock is an ``flock`` on a file beside the database; the kernel drops it when
the holder's last descriptor closes, so a run killed with ``kill -9`` never
leaves it behind. A forked helper (the renderer) closes its inherited copy at
once (``close_inherited``), so it can never keep the lock after its parent died.

With the store on PostgreSQL (``DIGEST_STATE_DB`` a URL) the same locks are
advisory locks in the database (``ServerLock``), which hold across hosts: the
whole-list lock (shared by the shards) and each shard's, on a connection of their
own held for the send. The server drops them when that connection ends: a killed
worker's at once (its socket closes), a vanished host's within about a minute
(TCP keepalives: 30 s idle, then 3 probes 10 s apart), a frozen host's after the
send's lease (``digest.lease``, which also stops a send whose lock connection
dropped before its next message: it no longer holds what it locked). There a send takes the
whole-list lock shared (``together``): any number of sends run side by side and
split the readers between them by claiming each one (``digest.claims``), and only
the store's own upkeep (``digest store compact``, ``copy``) takes it alone. A
daemon's run of a scheduled slot also tries the slot's lock, without waiting:
another host's daemon holding it is running that slot, and this one skips it.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import socket
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from .errors import ConfigError, LockedError, StoreError, file_in_the_way
from .lease import Lease
from .model import Subscriber
from .store.engine import DatabaseURL, lock_key
from .store.schema import guarded

log = logging.getLogger("digest")


class SendLock:
    """Held for a whole send; a second run waits up to ``wait`` seconds, then gives up.

    ``shared``: other holders in shared mode may hold it too (the shards of a list).
    """

    def __init__(self, path: Path, wait: float = 600.0, *, shared: bool = False) -> None:
        self.path = path
        self.wait = wait
        self.mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        self.fd: int | None = None

    def __enter__(self) -> "SendLock":
        self.fd = self._open()
        deadline = time.monotonic() + self.wait
        waiting = False
        while True:
            try:
                fcntl.flock(self.fd, self.mode | fcntl.LOCK_NB)
                self._write_pid()
                return self
            except BlockingIOError:
                if not waiting:
                    log.warning("waiting for another digest send (%s) to finish", self._holder())
                    waiting = True
                if time.monotonic() >= deadline:
                    self._close()
                    raise LockedError(f"another digest send ({self._holder()}) holds {self.path}; "
                                      "try again when it has finished") from None
                time.sleep(0.1)

    def _open(self) -> int:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as err:
            blocker = file_in_the_way(self.path)
            if blocker is not None:
                raise StoreError(f"cannot open the send lock {self.path}: {blocker} is a file, not a folder; "
                                 "set DIGEST_STATE_DB to a path in a folder") from err
            raise StoreError(f"cannot open the send lock {self.path} ({err.strerror or err}); make its folder "
                             "writable, or set DIGEST_STATE_DB to a writable place") from err

    def _write_pid(self) -> None:
        """Who holds it, for the message a waiting run shows (best effort: a full disk is no reason to stop)."""
        assert self.fd is not None
        try:
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:
            pass

    def _holder(self) -> str:
        try:
            pid = self.path.read_text().strip()
        except OSError:
            pid = ""
        return f"process {pid}" if pid.isdigit() else "another process"

    def _close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def close_inherited(self) -> None:
        """In a forked child: drop the inherited descriptor (the parent keeps the lock)."""
        if self.fd is not None:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = None

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            self._close()


@dataclass(frozen=True)
class Shard:
    """Shard ``number`` of ``count`` (1-based, as written: ``--shard 2/4``)."""

    number: int
    count: int

    @classmethod
    def parse(cls, text: str) -> "Shard":
        match = re.fullmatch(r"\s*(\d{1,6})\s*/\s*(\d{1,6})\s*", text)
        if not match or not 1 <= int(match[1]) <= int(match[2]):
            raise ConfigError(f"--shard {text}: use K/N with 1 <= K <= N, e.g. --shard 1/4 (the first of four)")
        return cls(int(match[1]), int(match[2]))

    def owns(self, email: str) -> bool:
        digest = hashlib.sha256(email.strip().lower().encode("utf-8")).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.number - 1

    def select(self, readers: Sequence[Subscriber]) -> list[Subscriber]:
        return [reader for reader in readers if self.owns(reader.email)]

    def __str__(self) -> str:
        return f"{self.number}/{self.count}"


class SendLocks:
    """The locks a send (of the whole list, or of one shard) holds beside the state store.

    ``together`` and ``slot`` matter on PostgreSQL only (see the module's docstring).
    """

    def __init__(self, state_db: Path, shard: Shard | None = None, wait: float = 600.0, *,
                 together: bool = False, slot: str | None = None) -> None:
        self.locks: list[SendLock | ServerLock]
        if isinstance(state_db, DatabaseURL):
            self.locks = [ServerLock(state_db, shard, wait, together=together, slot=slot)]
            return
        whole = state_db.with_name(state_db.name + ".lock")
        if shard is None:
            self.locks = [SendLock(whole, wait)]
        else:
            own = state_db.with_name(f"{state_db.name}.shard-{shard.number}-of-{shard.count}.lock")
            self.locks = [SendLock(whole, wait, shared=True), SendLock(own, wait)]

    def __enter__(self) -> "SendLocks":
        with ExitStack() as stack:
            for lock in self.locks:
                stack.enter_context(lock)
            self._held = stack.pop_all()
        return self

    def __exit__(self, *exc: object) -> None:
        self._held.close()

    def close_inherited(self) -> None:
        """In a forked child: drop every inherited descriptor (the parent keeps the locks)."""
        for lock in self.locks:
            lock.close_inherited()

    def keep(self, lease: Lease) -> None:
        """Have ``lease`` renew the locks held on the server, and notice their loss (``digest.lease``)."""
        for lock in self.locks:
            if isinstance(lock, ServerLock):
                lock.keep(lease)

    @property
    def slot_elsewhere(self) -> bool:
        """Another host's daemon holds the slot asked for: it is running it now."""
        return any(isinstance(lock, ServerLock) and lock.slot_elsewhere for lock in self.locks)


class ServerLock:
    """The send's locks as PostgreSQL advisory locks, on a dedicated connection."""

    def __init__(self, url: "DatabaseURL", shard: Shard | None = None, wait: float = 600.0, *,
                 together: bool = False, slot: str | None = None) -> None:
        self.url, self.wait = url, wait
        whole = lock_key("send")
        self.keys = [(whole, together)] if shard is None else [
            (whole, True), (lock_key(f"shard-{shard.number}-of-{shard.count}"), False)]
        self.slot = None if slot is None else lock_key(f"slot:{slot}")
        self.slot_elsewhere = False
        self.conn: Any = None

    def __enter__(self) -> "ServerLock":
        self.conn = _lock_connection(self.url, f"digest send on {socket.gethostname()}, process {os.getpid()}")
        try:
            deadline = time.monotonic() + self.wait
            for key, shared in self.keys:
                self._take(key, shared, deadline)
            if self.slot is not None:  # never waited for: its holder is sending that slot
                self.slot_elsewhere = not _ask(self.url, self.conn, "SELECT pg_try_advisory_lock(%s)", self.slot)
        except BaseException:
            self.conn.close()
            self.conn = None
            raise
        return self

    def keep(self, lease: Lease) -> None:
        lease.hold(self.conn, "its send lock" if self.slot is None else "its send and slot locks",
                   in_transaction=False)

    def _take(self, key: int, shared: bool, deadline: float) -> None:
        take = "pg_try_advisory_lock_shared" if shared else "pg_try_advisory_lock"
        waiting = False
        while not _ask(self.url, self.conn, f"SELECT {take}(%s)", key):
            holder = _holder(self.url, self.conn, key)
            if not waiting:
                log.warning("waiting for another digest send (%s) to finish", holder)
                waiting = True
            if time.monotonic() >= deadline:
                raise LockedError(f"another digest send ({holder}) holds the send lock of {self.url}; "
                                  "try again when it has finished")
            time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        if self.conn is not None:
            from .store.postgres import let_go

            let_go(self.conn, "SELECT pg_advisory_unlock_all()")  # ends the session, its locks let go first
            self.conn = None

    def close_inherited(self) -> None:
        """In a forked child: let go of the inherited socket without a word to the server (the parent's
        session, and its locks, go on)."""
        if self.conn is not None:
            from .store.postgres import drop_inherited

            drop_inherited(self.conn)
            self.conn = None


def _lock_connection(url: "DatabaseURL", name: str) -> Any:
    from .store.postgres import connect

    with guarded(url):
        return connect(url, application=name[:63])


def _ask(url: "DatabaseURL", conn: Any, sql: str, key: int) -> bool:
    with guarded(url):
        return bool(conn.execute(sql, (key,)).fetchone()[0])


def _holder(url: "DatabaseURL", conn: Any, key: int) -> str:
    """Who holds the lock ``key``: the application name the holder's connection gave."""
    with guarded(url):
        row = conn.execute(
            "SELECT a.application_name FROM pg_locks AS l JOIN pg_stat_activity AS a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.pid != pg_backend_pid() "
            "AND ((l.classid::bigint << 32) | l.objid::bigint) = (%s::bigint & x'ffffffffffffffff'::bigint) LIMIT 1",
            (key,)).fetchone()
    return str(row[0]) if row and row[0] else "another process"


def send_lock(state_db: Path, shard: Shard | None = None, wait: float = 600.0, *, together: bool = False,
              slot: str | None = None) -> SendLocks:
    return SendLocks(state_db, shard, wait, together=together, slot=slot)


def send_running(state_db: Path) -> bool:
    """Whether some send (of the whole list or a shard) holds the lock beside ``state_db`` now.

    Asks for the lock alone without waiting and lets go at once: refused means a
    send holds it. Creates nothing (``digest status`` only looks).
    """
    if isinstance(state_db, DatabaseURL):
        conn = _lock_connection(state_db, "digest status")
        try:
            free = _ask(state_db, conn, "SELECT pg_try_advisory_lock(%s)", lock_key("send"))
        finally:
            conn.close()  # lets go of the lock if it was granted
        return not free
    try:
        fd = os.open(state_db.with_name(state_db.name + ".lock"), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # also lets go of the lock if it was granted
    return False


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (a zombie, killed and not yet reaped by its parent, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True  # no /proc (not Linux): it exists
