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
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from .errors import ConfigError, LockedError, StoreError, file_in_the_way
from .model import Subscriber

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
    """The locks a send (of the whole list, or of one shard) holds beside the state store."""

    def __init__(self, state_db: Path, shard: Shard | None = None, wait: float = 600.0) -> None:
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


def send_lock(state_db: Path, shard: Shard | None = None, wait: float = 600.0) -> SendLocks:
    return SendLocks(state_db, shard, wait)


def send_running(state_db: Path) -> bool:
    """Whether some send (of the whole list or a shard) holds the lock beside ``state_db`` now.

    Asks for the lock alone without waiting and lets go at once: refused means a
    send holds it. Creates nothing (``digest status`` only looks).
    """
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
    """Whether process ``pid`` exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
