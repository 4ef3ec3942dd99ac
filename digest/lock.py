"""File locks so that overlapping runs (cron plus daemon) never send twice, and shards of a list.

A send of the whole list holds ``state.db.lock`` alone. ``digest send --shard K/N``
sends to the readers whose address hashes to K of N (sha256: the same split on
every machine and every run, whatever the order of the subscribers file); it shares
``state.db.lock`` with the other shards and holds its own ``state.db.shard-K-of-N.lock``.
So the N shards run side by side on one state store, a second run of the same shard
waits, and a whole-list send waits for all of them (and they for it). Every worker
must use the same N: shards of different N overlap.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from .errors import ConfigError, LockedError
from .model import Subscriber


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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(self.fd, self.mode | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(self.fd)
                    self.fd = None
                    raise LockedError(f"another digest send holds {self.path}; try again when it has finished") from None
                time.sleep(0.1)

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


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


@contextmanager
def send_lock(state_db: Path, shard: Shard | None = None, wait: float = 600.0) -> Iterator[None]:
    """The locks a send (of the whole list, or of one shard) holds beside the state store."""
    whole = state_db.with_name(state_db.name + ".lock")
    if shard is None:
        with SendLock(whole, wait):
            yield
        return
    own = state_db.with_name(f"{state_db.name}.shard-{shard.number}-of-{shard.count}.lock")
    with SendLock(whole, wait, shared=True), SendLock(own, wait):
        yield
