"""Deliver: sender threads talk SMTP while the caller's thread builds and another records.

SMTP is mostly waiting for the server's reply; sender threads (the wait releases
the GIL) let rendering and building overlap it. Each thread has its own
connection (``DIGEST_SMTP_CONNECTIONS``, one ``Mailer`` each, all with the same
security, login and retry rules) and takes the next message from one queue fed
by the one producer; ``DIGEST_SMTP_RATE`` paces them together. A message whose
connection drops before the end of DATA is retried (on a new connection) by the
thread that holds it; the others go on. A connection the server turns away
because it takes fewer at once (a 421 greeting while others are open) hands its
message to the others and is given up: the pool goes on with fewer. Results go to the recording
thread (``record.Recording``), which records them within ``LINGER`` seconds
whatever the builder is doing: a message counts as sent only after the server
accepted it. A fatal error (server gone after the retries, refused login) stops
the queue once: the messages in hand finish, the ones behind are neither sent
nor recorded, so the next run sends them.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from ..errors import DigestError
from ..limits import LocalTurns, Stopped, Turns, wait_for_turn
from ..mail import Delivery, Mailer, Surplus

if TYPE_CHECKING:
    from ..ranking.hints import KeywordHint
    from ..store import KeptDigest

log = logging.getLogger("digest")


@dataclass
class Outgoing:
    """One built message on its way, with what to record once the server has answered."""

    recipient: str
    message_id: str
    message: bytes
    paper_ids: list[str]
    day: date | None = None  # the day it is sent on (the archive's "view in browser" day)
    html: str = ""  # an HTML copy to archive as it is, once accepted (the archive's old form)
    kept: KeptDigest | None = None  # what its page is re-rendered from, archived once accepted
    hints: tuple[KeywordHint, ...] = ()  # the reader's keywords that matched nothing (said in the message)
    seen_upto: int | None = None  # the newest arrival stamp its plan saw (catchup.Plan.upto), recorded once accepted


class Pace:
    """At most ``per_minute`` messages a minute across every connection (0: no limit), and across every
    process sharing ``shared`` (the state store's bucket: ``digest.limits.Turns``)."""

    def __init__(self, per_minute: float, shared: Turns | None = None) -> None:
        self.interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self.turns: LocalTurns | Turns = shared or LocalTurns(self.interval)

    def wait(self, halted: Callable[[], bool]) -> bool:
        """Wait for this message's turn; False if the queue was halted before or meanwhile.

        A halted queue takes no turn: the turns are shared with every send from the store (shards, the
        next run), and a message left for the next run would push their turns back for nothing.
        """
        if halted():
            return False
        return wait_for_turn(self.turns, halted) if self.interval else True


class SendQueue:
    def __init__(self, mailers: Mailer | Sequence[Mailer], sender: str, depth: int = 4,
                 pace: Pace | None = None, halt: threading.Event | None = None,
                 held: Callable[[], None] | None = None) -> None:
        """``halt`` (a stop signal): no connection starts another message; the ones in hand finish.
        ``held``: asked before each message, raises a ``DigestError`` when this send lost its right to send
        (its claims or locks on PostgreSQL, ``digest.lease``): the queue stops as after a fatal error."""
        self.mailers = [mailers] if isinstance(mailers, Mailer) else list(mailers)
        self.sender = sender
        self.pace = pace or Pace(0)
        self.halt = halt or threading.Event()
        self.held = held
        self.dropped = 0  # messages never handed to the server (stopped, halted): they go next run
        self._todo: queue.Queue[Outgoing | None] = queue.Queue(maxsize=max(depth, 2 * len(self.mailers)))
        self._done: queue.Queue[tuple[Outgoing, Delivery]] = queue.Queue()
        self._error: BaseException | None = None
        self._error_lock = threading.Lock()
        self._stopped = threading.Event()
        self._back: list[Outgoing] = []  # messages handed back by a connection the server would not take
        self._taking = len(self.mailers)  # threads still taking messages (neither given up nor ending)
        self._back_lock = threading.Lock()
        self._warned = False  # said once that the server takes fewer connections
        # started by the first submit: a producer may fork before, while this process has one thread
        self._threads = [threading.Thread(target=self._run, args=(mailer,), name=f"digest-smtp-{number}", daemon=True)
                         for number, mailer in enumerate(self.mailers, 1)]

    def _run(self, mailer: Mailer) -> None:
        try:
            while (item := self._next()) is not None:
                if not self._deliver(mailer, item, may_retire=True):
                    return  # one connection too many for the server: another sends its message
            for item in self._leave():
                self._deliver(mailer, item, may_retire=False)
        finally:
            mailer.close()

    def _deliver(self, mailer: Mailer, item: Outgoing, may_retire: bool) -> bool:
        """Send one message and hand its answer over; False: this connection is given up, its message handed back."""
        try:
            if not self.pace.wait(self._halted) or not self._still_held():  # the shared pace may be the store
                self._count_dropped(1)
                return True
            delivery = mailer.send(self.sender, item.recipient, item.message, may_retire=may_retire,
                                   halted=self._halted)
        except Stopped:  # stopped during a backoff: nothing of it was queued
            self._count_dropped(1)
            return True
        except Surplus as surplus:
            if self._hand_back(item, mailer, surplus.reply):
                return False
            return self._deliver(mailer, item, may_retire=False)  # the last connection taking messages
        except BaseException as err:  # noqa: BLE001 (handed to the caller's thread)
            self._fail(err)
            return True
        self._done.put((item, delivery))
        return True

    def _still_held(self) -> bool:
        """Whether this send may still hand a message over (``held``); if not, the queue stops."""
        if self.held is None:
            return True
        try:
            self.held()
        except DigestError as err:
            self._fail(err)
            return False
        return True

    def _next(self) -> Outgoing | None:
        with self._back_lock:
            if self._back:
                return self._back.pop()
        return self._todo.get()

    def _hand_back(self, item: Outgoing, mailer: Mailer, reply: str) -> bool:
        """Give this connection up and its message to the others, unless it is the last one taking messages."""
        with self._back_lock:
            if self._taking <= 1:
                return False
            self._taking -= 1
            self._back.append(item)
            warned, self._warned = self._warned, True
        if not warned:  # once a run
            log.warning("the SMTP server %s takes fewer connections at once than DIGEST_SMTP_CONNECTIONS=%d (%s); "
                        "going on with fewer: lower DIGEST_SMTP_CONNECTIONS", mailer.where, len(self.mailers), reply)
        return True

    def _leave(self) -> list[Outgoing]:
        """This thread takes no more messages: those handed back so far are its to send."""
        with self._back_lock:
            self._taking -= 1
            back, self._back = self._back, []
        return back

    def _halted(self) -> bool:
        return self._stopped.is_set() or self.halt.is_set()

    def _count_dropped(self, number: int) -> None:
        with self._error_lock:
            self.dropped += number

    def _fail(self, err: BaseException) -> None:
        """The first fatal error stops every connection; later ones (the same outage) are not news."""
        with self._error_lock:
            if self._error is None:
                self._error = err
        self._stopped.set()

    def submit(self, item: Outgoing) -> None:
        """Queue one message; waits while the queue is full."""
        if self._threads[0].ident is None:
            for thread in self._threads:
                thread.start()
        while not self._stopped.is_set():
            try:
                self._todo.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def finished(self) -> Iterator[tuple[Outgoing, Delivery]]:
        """Deliveries the server has answered since the last call."""
        while True:
            try:
                yield self._done.get_nowait()
            except queue.Empty:
                return

    def answered(self, timeout: float) -> list[tuple[Outgoing, Delivery]]:
        """Wait up to ``timeout`` seconds for an answer, then take every answer there is."""
        try:
            first = self._done.get(timeout=timeout) if timeout > 0 else self._done.get_nowait()
        except queue.Empty:
            return []
        return [first, *self.finished()]

    def stop(self) -> int:
        """Hand nothing more to the server (the messages in hand finish); returns how many were dropped."""
        self._stopped.set()
        return self.drop_pending()

    def drop_pending(self) -> int:
        """Forget the messages not handed to the server yet: they go next run.

        The end marks stay: the recording thread halts the queue when the store fails, which
        may be after ``close`` queued them, and a thread without its end mark waits forever."""
        dropped = ends = 0
        while True:
            try:
                item = self._todo.get_nowait()
            except queue.Empty:
                break
            if item is None:
                ends += 1
            else:
                dropped += 1
        for _ in range(ends):
            self._todo.put(None)  # the queue was just emptied, and holds two per thread
        self._count_dropped(dropped)
        return dropped

    def close(self) -> None:
        """Wait for everything queued (unless stopped) and for the messages in hand; then disconnect."""
        if self._threads[0].ident is None:
            return
        if self._halted():
            self.drop_pending()
        for _ in self._threads:
            self._end_mark()
        for thread in self._threads:
            thread.join()

    def _end_mark(self) -> None:
        """One end mark for one thread: the threads keep taking, so there is room, unless none lives any more."""
        while any(thread.is_alive() for thread in self._threads):
            try:
                self._todo.put(None, timeout=0.1)
                return
            except queue.Full:
                continue

    @property
    def error(self) -> BaseException | None:
        """What stopped the queue (server gone after the retries, refused login), if anything."""
        return self._error

    def raise_error(self) -> None:
        if self._error is not None:
            raise self._error
