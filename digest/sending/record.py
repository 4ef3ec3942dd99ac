"""Record: what the server answered goes into the store, or into the journal when the store fails.

Only this process records, and only after the server answered. If the store
cannot take a batch (disk full, damaged page), the batch goes into the fsync'd
journal beside it, the recorder is ``broken`` and the pipeline stops handing
messages to the server: nothing more goes out that could not be recorded. The
journal is replayed into the store before the next send.
"""

from __future__ import annotations

import logging
from typing import Any

from ..errors import StoreError
from ..mail import DEFERRED, FAILED, SENT, UNCERTAIN, Delivery
from ..store.journal import Entry, Journal, record_entries
from .deliver import Outgoing
from .report import SendReport

log = logging.getLogger("digest")


class Recorder:
    def __init__(self, store: Any, journal: Journal, report: SendReport, keep_days: int = 90) -> None:
        self.store = store
        self.keep_days = keep_days
        self.journal = journal
        self.report = report
        self.broken: StoreError | None = None  # the store failed: stop sending
        self.journaled = 0

    def record(self, answered: list[tuple[Outgoing, Delivery]]) -> None:
        """Record a batch of answers (store, else journal) and count them in the report."""
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
                self._archive(answered)
        if self.broken is not None:
            self._journal(entries)
        for entry in entries:
            self._count(entry)

    def _archive(self, answered: list[tuple[Outgoing, Delivery]]) -> None:
        """Keep each accepted digest's HTML for "view in browser"; a failure costs the copy, not the delivery."""
        for item, delivery in answered:
            if delivery.status != SENT or not item.html or item.day is None:
                continue
            try:
                self.store.archive(item.recipient, item.message_id, item.day, item.html, keep_days=self.keep_days)
            except StoreError as err:
                log.warning("%s's digest was sent but not archived for \"view in browser\": %s", item.recipient, err)

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
