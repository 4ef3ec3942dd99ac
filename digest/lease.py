"""A send's hold on PostgreSQL (its claimed readers, its send and slot locks) as a lease it renews.

The claims are row locks in a transaction of their own and the send locks advisory
locks of a session of their own (``digest.claims``, ``digest.lock``); both last as
long as their connection. A killed host's end at once, a vanished host's within
about a minute (TCP keepalives). A *frozen* host (SIGSTOP, a paused VM, a long GC
or swap storm) is neither: its kernel still answers the keepalives, so its claims
and locks would stay held until it woke, and its readers miss their digest.

So each such connection gets a server-side limit on idleness
(``idle_in_transaction_session_timeout`` for the claims, ``idle_session_timeout`` for
the locks, PostgreSQL 14 or later), and a thread of the send renews it every
``seconds / 6`` with a ``SELECT 1``: the locks from the moment the send has taken them
until it lets go of them (``digest.sending``), the claims from the moment their
transaction is open until it ends (``release``: before the locks). A live host
keeps its hold; a frozen one has its session ended by the server after ``seconds``,
which lets its claims and locks go to the other hosts' sends: a frozen daemon's slot
too, even while it was still ranking, before its first claim (embedding the day's papers
takes minutes with a real model, in the send's process or the producer it forks).

A limit is never set without the renewals: set and not renewed, it would end a live
host's lock while it embeds. The renewals run on a thread because the ranking runs on
the main one; that thread runs through a ranking done in this process (threads are fine
without a fork), and stops for the instant the producer is forked (``paused_for_fork``:
no thread, nor a lock a thread holds, may exist across a fork; the process must have one
thread to fork at all, ``fork_is_safe``), renewing just before and starting again in the
parent right after.

Before each message goes to the SMTP server the sender asks ``check``, and so does
each claim of a batch of readers (``ReaderClaims.take``): the hold
must have been renewed within the last ``seconds / 2`` (a host that slept, or a
server it could not reach, cannot know whether it still holds anything), and a
connection the server closed (a restart, ``pg_terminate_backend``, a dropped
network) is found at once: its socket has something to read, and a renewal right
then fails. Either way ``check`` raises a transient ``StoreError`` and the send stops
before its next message or claim (a daemon tries the run again later); what the lost
claims covered goes to another send. Only a
message already with the SMTP server when the host froze can go out twice (the
documented one extra copy).
"""

from __future__ import annotations

import logging
import select
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import StoreError
from .store.engine import is_database_error
from .store.schema import store_error

log = logging.getLogger("digest")

LEASE_SECONDS = 30.0  # a hold not renewed for this long is let go by the server


def _boottime() -> float:
    """Seconds on a clock that also runs while the machine sleeps (a suspended laptop or VM)."""
    return time.clock_gettime(getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC))


class Lease:
    """Renews the sessions of ``hold``'s connections on a thread, from ``start`` until ``stop`` (or ``release``)."""

    def __init__(self, url: Path, seconds: float | None = None,
                 clock: Callable[[], float] = _boottime) -> None:
        self.url, self.seconds, self.clock = url, LEASE_SECONDS if seconds is None else seconds, clock
        self.held: list[tuple[Any, str, str]] = []  # connection, its idleness setting, what it holds
        self.lost: str | None = None
        self.renewed = clock()
        self._lock = threading.Lock()
        self._started = self._stopped = False
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self, conn: Any, what: str, *, in_transaction: bool) -> None:
        """Keep ``conn``'s session (which holds ``what``) alive; ``in_transaction``: it idles inside one. On a
        lease already started, its limit is set at once."""
        if conn is None:
            return
        if in_transaction:
            setting = "idle_in_transaction_session_timeout"
        elif conn.info.server_version >= 140000:
            setting = "idle_session_timeout"
        else:
            setting = ""  # before PostgreSQL 14: the keepalives alone end a frozen host's locks
        with self._lock:
            self.held.append((conn, setting, what))
            if self._started and setting:
                self._renew_one(conn, what, self._limit(setting))

    def release(self, conn: Any) -> None:
        """No renewal of ``conn`` from now on: its holder lets go of it (the send's claims end before its locks)."""
        with self._lock:  # a renewal under way finishes first
            self.held = [entry for entry in self.held if entry[0] is not conn]

    def start(self) -> None:
        """The server's limits set, and the thread renewing them started (once; nothing held: nothing to do)."""
        if self._started or not self.held:
            return
        self._renew_all(lambda setting: setting and self._limit(setting))
        self._started = True
        self._spawn()

    def _limit(self, setting: str) -> str:
        return f"SET {setting} = {int(self.seconds * 1000)}"

    def _spawn(self) -> None:
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(self._halt,), name="digest-lease", daemon=True)
        self._thread.start()

    def _end_thread(self) -> None:
        if self._thread is not None:
            self._halt.set()
            self._thread.join()
            self._thread = None

    @contextmanager
    def paused_for_fork(self) -> Iterator[None]:
        """No renewing thread in this process while the body runs (a fork: no thread, nor a lock one holds,
        may exist across it), renewed just before; then the thread again (in the parent). Keep the body short:
        nothing renews meanwhile."""
        if self._thread is None:
            yield
            return
        self._end_thread()
        self.renew()
        try:
            yield
        finally:
            if not self._stopped and self.lost is None:
                self._spawn()

    def _run(self, halt: threading.Event) -> None:
        while not halt.wait(self.seconds / 6):
            self.renew()
            if self.lost is not None:
                return

    def renew(self) -> None:
        """One ``SELECT 1`` on each connection; a failure is a lost hold."""
        self._renew_all(lambda setting: "SELECT 1")

    def _renew_all(self, statement: Callable[[str], str]) -> None:
        """``statement(setting)`` on each held connection (none where it is empty); renewed as of its start."""
        with self._lock:
            started = self.clock()
            for conn, setting, what in self.held:
                if sql := statement(setting):
                    self._renew_one(conn, what, sql)
            if self.lost is None:
                self.renewed = started

    def _renew_one(self, conn: Any, what: str, sql: str) -> None:
        if self.lost is not None:
            return
        try:
            conn.execute(sql)
        except Exception as err:
            if not is_database_error(err):
                raise
            self.lost = f"{store_error(self.url, err)}; this send lost {what} with its session"
            log.warning("%s", self.lost)

    def check(self) -> None:
        """Raise a ``StoreError`` unless the hold is still this send's (see the module's docstring)."""
        if not self._started:
            return
        if self.lost is None and any(_readable(conn) for conn, _, _ in self.held):
            self.renew()  # the server said something unasked: most likely that it closed the session
        age = self.clock() - self.renewed
        if self.lost is None and age >= self.seconds / 2:
            what = " and ".join(what for _, _, what in self.held)
            self.lost = (f"the state database {self.url} has not renewed this send's hold for {age:.0f} s (the host "
                         f"was frozen, or the server out of reach), and lets go of one after {self.seconds:g} s: "
                         f"this send may have lost {what}")
        if self.lost is not None:
            raise StoreError(f"{self.lost}; it stopped before its next message, and another host's send or the next "
                             "run sends the readers left", transient=True)

    def stop(self) -> None:
        self._stopped = True
        self._end_thread()


def _readable(conn: Any) -> bool:
    """Whether the server sent something on ``conn`` that nobody asked for yet (or closed it)."""
    try:
        return bool(select.select([conn.fileno()], [], [], 0)[0])
    except Exception:  # noqa: BLE001 (a closed connection has no socket)
        return True
