"""Record: what the server answered goes into the store, or into the journal when the store fails.

Only this process records, and only after the server answered. If the store
cannot take a batch (disk full, damaged page), the queue is halted first
(nothing more is handed to the server, before anything else runs), then the
batch goes into the fsync'd journal beside it and the recorder is ``broken``.
The journal is replayed into the store before the next send. If the journal
cannot be written either, the answers that could be recorded nowhere are
counted exactly and named: the readers among them whose digest the server
accepted get it again on the next run.

Recording runs on a thread of its own (``Recording``), with its own connection
to the store, woken by the answers and by the batch's deadline: an answer waits
at most ``LINGER`` seconds, whatever the thread that builds the messages is
doing (rendering, waiting for a full queue).

Answers are written in batches: one transaction for up to ``BATCH`` answers,
written as soon as the batch is full or its oldest answer has waited ``LINGER``
seconds, and at the end of the run (``flush``). A transaction costs about as much
for fifty deliveries as for one. Batches start at one answer and double with each
commit, as TCP's slow start does: a store that cannot record (read-only, full,
damaged) is found at the first delivery, before more go out, and full batches
come only once the store has taken some. Nothing is recorded before the server answered;
what changes is the window in which a ``kill -9`` loses accepted deliveries (the
documented ambiguous case: those readers get the digest once more): at most one
batch, at most ``LINGER`` seconds of sending. A store that fails is noticed at the
batch's commit: that batch goes into the journal and nothing more is handed to the
server. The archive of the batch's digests ("view in browser": what each page is
re-rendered from, see ``digest.archive``) is written after its deliveries
committed, in a transaction of its own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import StoreError
from ..mail import DEFERRED, FAILED, SENT, UNCERTAIN, Delivery
from ..store import Store
from ..store.journal import Entry, Journal, record_entries
from .deliver import Outgoing, SendQueue
from .report import SendReport

log = logging.getLogger("digest")

BATCH = 50  # answers per transaction at most
LINGER = 0.025  # seconds an answer waits for its batch at most
IDLE = 0.05  # seconds the recording thread sleeps with nothing pending before it looks whether the send is over
NAMED = 5  # readers named in the error when their delivery could be recorded nowhere


class Recorder:
    def __init__(self, store: Any, journal: Journal, report: SendReport, keep_days: int = 90,
                 batch: int = BATCH, linger: float = LINGER, halt: Callable[[], object] | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        """``halt``: stop handing messages to the server; called the moment the store fails. ``clock``: when
        an answer came (the send's; default the store's), kept with it in the journal."""
        self.store = store
        self.clock = clock
        self.batch, self.linger = batch, linger
        self.pending: list[tuple[Outgoing, Delivery]] = []
        self._size = 1  # the current batch: doubles with each commit up to ``batch``
        self._oldest = 0.0  # when the oldest pending answer came in (monotonic)
        self.keep_days = keep_days
        self.journal = journal
        self.report = report
        self.broken: StoreError | None = None  # the store failed: stop sending
        self.journaled = 0
        self.halt = halt
        self.journal_error: StoreError | None = None  # the journal could not be written either
        self.unrecorded: list[str] = []  # readers whose accepted digest could be recorded nowhere

    def due_in(self) -> float:
        """Seconds until the pending batch must be written (``IDLE`` when nothing is pending)."""
        if not self.pending:
            return IDLE
        return max(0.0, self._oldest + self.linger - time.monotonic())

    def fail(self, err: StoreError) -> None:
        """The store cannot record: halt the queue before anything else, then journal from now on."""
        if self.broken is None:
            self.broken = err
            if self.halt is not None:
                self.halt()
            log.info("%s; keeping the deliveries in %s", err, self.journal.path)

    def record(self, answered: list[tuple[Outgoing, Delivery]]) -> None:
        """Take the server's answers; written when the batch is full or has waited long enough."""
        if answered:
            if not self.pending:
                self._oldest = time.monotonic()
            self.pending.extend(answered)
        if self.pending and (len(self.pending) >= self._size or self.broken is not None
                             or time.monotonic() - self._oldest >= self.linger):
            self.flush()

    def flush(self) -> None:
        """Write every pending answer now (store, else journal) and count them in the report."""
        answered, self.pending = self.pending, []
        if not answered:
            return
        at = float((self.clock or (self.store.clock if self.store is not None else time.time))())
        entries = [Entry(item.recipient, item.message_id, item.paper_ids, delivery.status, delivery.error, at,
                         item.seen_upto) for item, delivery in answered]
        if self.broken is None:
            try:
                record_entries(self.store, entries)
            except StoreError as err:
                self.fail(err)
            else:
                self._size = min(2 * self._size, self.batch)
                self._archive(answered)
        if self.broken is not None:
            self._journal(entries)
        for entry in entries:
            self._count(entry)

    def _archive(self, answered: list[tuple[Outgoing, Delivery]]) -> None:
        """Keep each accepted digest for "view in browser"; a failure costs the copies, not the deliveries."""
        accepted = [item for item, delivery in answered if delivery.status == SENT]
        records = [item.kept for item in accepted if item.kept is not None]
        pages = [(item.recipient, item.message_id, item.day, item.html) for item in accepted
                 if item.kept is None and item.html and item.day is not None]
        try:
            if records:
                self.store.archive_digests(records, keep_days=self.keep_days)
            if pages:
                self.store.archive_many(pages, keep_days=self.keep_days)
        except StoreError as err:
            log.warning("%d digests (%s, ...) were sent but not archived for \"view in browser\": %s",
                        len(records) + len(pages), accepted[0].recipient, err)

    def _journal(self, entries: list[Entry]) -> None:
        """Keep the answers in the journal; if it cannot take them either, count the accepted ones lost."""
        try:
            self.journal.append(entries)
        except StoreError as err:
            self.journal_error = self.journal_error or err
            self.unrecorded += [entry.email for entry in entries if entry.status == SENT]
            log.error("%s; %d answers of the server could not be recorded", err, len(entries))
            return
        self.journaled += len(entries)

    def _count(self, entry: Entry) -> None:
        if entry.status == SENT:
            self.report.sent.append(entry.email)
        elif entry.status == FAILED:
            self.report.failed[entry.email] = entry.error
        elif entry.status == DEFERRED:
            self.report.deferred[entry.email] = entry.error
        elif entry.status == UNCERTAIN:
            self.report.uncertain[entry.email] = entry.error

    def raise_if_broken(self) -> None:
        if self.journal_error is not None:
            raise StoreError(f"{self.broken}; and {self.journal_error}: stopped sending; {self._lost()}, "
                             f"{self.journaled} kept in the journal") from self.broken
        if self.broken is not None:  # all kept in the journal: a server out of reach is worth a retry, as before
            raise StoreError(f"{self.broken}; {self.journal_note()}",
                             transient=getattr(self.broken, "transient", False)) from self.broken

    def journal_note(self) -> str:
        return (f"stopped sending: the {self.journaled} deliveries the server answered since are kept in "
                f"{self.journal.path} and recorded before the next send")

    def _lost(self) -> str:
        """``3 readers whose digest the server accepted could be recorded nowhere ...``: the exact count, named."""
        count, names = len(self.unrecorded), ", ".join(self.unrecorded[:NAMED])
        more = f" and {count - NAMED} more" if count > NAMED else ""
        if not count:
            return "no accepted digest went unrecorded"
        return (f"{count} reader{'s' if count != 1 else ''} whose digest the server accepted could be recorded "
                f"nowhere and get it again on the next run ({names}{more})")


class Recording:
    """A ``Recorder`` on a thread of its own, fed by the send queue; its own connection to the store.

    Started after the first message is queued (a producer may fork before, while
    this process has one thread); ``close`` once the queue is closed: the last
    answers are recorded before it returns.
    """

    def __init__(self, state_db: Path, outgoing: SendQueue, journal: Journal, report: SendReport,
                 keep_days: int = 90, batch: int = BATCH, linger: float = LINGER,
                 clock: Callable[[], float] = time.time) -> None:
        self.outgoing = outgoing
        self.clock = clock  # when a delivery is recorded (the send's clock)
        self.recorder = Recorder(None, journal, report, keep_days, batch, linger, halt=outgoing.stop, clock=clock)
        self._state_db = state_db
        self._closing = threading.Event()
        self._failure: BaseException | None = None  # a bug on the thread, raised on the caller's
        self._thread = threading.Thread(target=self._run, name="digest-record", daemon=True)

    @property
    def broken(self) -> StoreError | None:
        return self.recorder.broken

    def start(self) -> None:
        if self._thread.ident is None:
            self._thread.start()

    def _run(self) -> None:
        try:
            with _own_store(self._state_db, self.recorder) as store:
                if store is not None:
                    store.clock = self.clock
                self.recorder.store = store
                while not self._closing.is_set():
                    self.recorder.record(self.outgoing.answered(self.recorder.due_in()))
                self.recorder.record(self.outgoing.answered(0))
                self.recorder.flush()
        except BaseException as err:  # noqa: BLE001 (raised on the caller's thread)
            self._failure = err
            self.outgoing.stop()

    def close(self) -> None:
        """After the queue closed (no answer comes any more): record the last ones, then end the thread."""
        self._closing.set()
        if self._thread.ident is not None:
            self._thread.join()
        elif self.outgoing.answered(0):
            raise AssertionError("answers to record, but the recording thread never started")

    @property
    def journaled(self) -> int:
        """Answers kept in the journal because the store could not take them."""
        return self.recorder.journaled

    def journal_note(self) -> str:
        return self.recorder.journal_note()

    def raise_if_broken(self) -> None:
        if self._failure is not None:
            raise self._failure
        self.recorder.raise_if_broken()


@contextmanager
def _own_store(state_db: Path, recorder: Recorder) -> Iterator[Store | None]:
    """The recording thread's own store; one that cannot be opened is a broken store (journal from the start)."""
    try:
        store = Store.open(state_db)
    except StoreError as err:
        recorder.fail(err)
        yield None
        return
    with store:
        yield store
