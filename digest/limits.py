"""Limits that hold across processes: one turn per interval, shared through the state store.

``DIGEST_SMTP_RATE`` and the arXiv request spacing are caps on the whole
installation, not on one process: four ``digest send --shard K/4`` together
send no faster than one would. Each limit is a bucket row in the state store
(``digest.store.buckets``); ``Turns.take`` reserves the next turn in one short
transaction and says how long to wait for it; the caller waits with the store
unlocked. The clock is the wall clock (the one every process on a host shares; on
PostgreSQL the row keeps the database server's time, so hosts whose clocks differ
still take one turn each), injectable.

A store that cannot be used (a read-only folder for ``digest papers``) is no
reason to hammer a server or to fail: the limit falls back to this process alone,
with one warning.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .errors import StoreError

log = logging.getLogger("digest")


class LocalTurns:
    """One turn per ``interval`` seconds within this process (threads included)."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval, self.clock = interval, clock
        self._next = float("-inf")
        self._lock = threading.Lock()

    def take(self) -> float:
        """Seconds to wait for this turn (0: go now)."""
        with self._lock:
            now = self.clock()
            turn = max(now, self._next)
            self._next = turn + self.interval
        return turn - now


class Turns:
    """One turn per ``interval`` seconds across every process sharing the state store ``db``."""

    def __init__(self, db: Path, name: str, interval: float, clock: Callable[[], float] = time.time) -> None:
        self.db, self.name, self.interval, self.clock = db, name, interval, clock
        self._fallback: LocalTurns | None = None

    def take(self) -> float:
        """Seconds to wait for this turn, reserved in the store (0: go now); the store is unlocked on return."""
        if self._fallback is None:
            try:
                return self._take_shared()
            except StoreError as err:
                log.warning("%s: the limit holds for this process only (%s)", self.name, err)
                self._fallback = LocalTurns(self.interval)
        return self._fallback.take()

    def _take_shared(self) -> float:
        from .store import Store

        with Store.open(self.db) as store:
            turn = store.take_turn(self.name, self.interval, self.clock)
        return max(0.0, turn - self.clock())


class Stopped(Exception):
    """A stop signal ended a wait before its time (a fetch waiting to retry): no error; the send records its
    run as cut short, and the next run serves its readers."""


def wait_for_turn(turns: LocalTurns | Turns, halted: Callable[[], bool] = lambda: False,
                  sleep: Callable[[float], None] = time.sleep, step: float = 0.05) -> bool:
    """Take a turn and wait for it; False if ``halted`` meanwhile."""
    return pause(turns.take(), halted, sleep, step)


def pause(seconds: float, halted: Callable[[], bool], sleep: Callable[[float], None] = time.sleep,
          step: float = 0.05) -> bool:
    """Wait ``seconds``, a short sleep at a time, so a stop is seen within ``step``; False if ``halted``
    meanwhile. Short sleeps, not a timed wait on an event: there may be two events to watch, and under
    libfaketime a timed lock wait waits for the faked clock."""
    until = time.monotonic() + seconds
    while not halted():
        left = until - time.monotonic()
        if left <= 0:
            return True
        sleep(min(left, step))
    return False
