"""Record: what the server answered goes into the store, or into the journal when the store fails.

Only this process records, and only after the server answered. If the store
cannot take a batch (disk full, damaged page), the batch goes into the fsync'd
journal beside it, the recorder is ``broken`` and the pipeline stops handing
messages to the server: nothing more goes out that could not be recorded. The
journal is replayed into the store before the next send.

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
server. The archive of the batch's digests ("view in browser") is written after
its deliveries committed, in a transaction of its own.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ..errors import StoreError
from ..mail import DEFERRED, FAILED, SENT, UNCERTAIN, Delivery
from ..store.journal import Entry, Journal, record_entries
from .deliver import Outgoing
from .report import SendReport

log = logging.getLogger("digest")

BATCH = 50  # answers per transaction at most
LINGER = 0.025  # seconds an answer waits for its batch at most


class Recorder:
    def __init__(self, store: Any, journal: Journal, report: SendReport, keep_days: int = 90,
                 batch: int = BATCH, linger: float = LINGER) -> None:
        self.store = store
        self.batch, self.linger = batch, linger
        self.pending: list[tuple[Outgoing, Delivery]] = []
        self._size = 1  # the current batch: doubles with each commit up to ``batch``
        self._oldest = 0.0  # when the oldest pending answer came in (monotonic)
        self.keep_days = keep_days
        self.journal = journal
        self.report = report
        self.broken: StoreError | None = None  # the store failed: stop sending
        self.journaled = 0

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
        entries = [Entry(item.recipient, item.message_id, item.paper_ids, delivery.status, delivery.error)
                   for item, delivery in answered]
        if self.broken is None:
            try:
                record_entries(self.store, entries)
            except StoreError as err:
                self.broken = err
                log.info("%s; keeping the deliveries in %s", err, self.journal.path)
            else:
                self._size = min(2 * self._size, self.batch)
                self._archive(answered)
        if self.broken is not None:
            self._journal(entries)
        for entry in entries:
            self._count(entry)

    def _archive(self, answered: list[tuple[Outgoing, Delivery]]) -> None:
        """Keep each accepted digest's HTML for "view in browser"; a failure costs the copies, not the deliveries."""
        kept = [(item.recipient, item.message_id, item.day, item.html) for item, delivery in answered
                if delivery.status == SENT and item.html and item.day is not None]
        if not kept:
            return
        try:
            self.store.archive_many(kept, keep_days=self.keep_days)
        except StoreError as err:
            log.warning("%d digests (%s, ...) were sent but not archived for \"view in browser\": %s",
                        len(kept), kept[0][0], err)

    def _journal(self, entries: list[Entry]) -> None:
        try:
            self.journal.append(entries)
        except StoreError as err:
            assert self.broken is not None
            raise StoreError(f"{self.broken}; and {err}: {len(entries)} readers whose digest the server "
                             "accepted may get it again on the next run") from err
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
        if self.broken is not None:
            raise StoreError(f"{self.broken}; stopped sending: the {self.journaled} deliveries the server answered "
                             f"since are kept in {self.journal.path} and recorded before the next send") from self.broken
