"""Which of today's readers this send builds, batch by batch: all of them, or those it claims.

On SQLite one send has the list (the send lock sees to it): one batch of every
reader. On PostgreSQL any number of sends run at once (``digest.claims``): each
batch is the readers this send claimed, less those whose digest went out since
the send began deciding (another send had them first). The producer asks for the
next batch only when it needs more readers, so a send never claims much more
than it is about to build.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from ..claims import BATCH, ReaderClaims
from ..lease import Lease
from ..model import Subscriber
from ..store.engine import DatabaseURL

log = logging.getLogger("digest")

Recheck = Callable[[list[str]], set[str]]  # of these addresses, those whose digest already went out


class Batches:
    """Positions in ``readers``, a batch at a time; ``taken``: how many were handed out so far."""

    def __init__(self, readers: Sequence[Subscriber], claims: ReaderClaims | None = None,
                 recheck: Recheck | None = None, batch: int = BATCH) -> None:
        self.readers, self.claims, self.recheck, self.batch = readers, claims, recheck, batch
        self.taken = 0
        self.done_elsewhere: list[str] = []

    def __iter__(self) -> Iterator[list[int]]:
        if self.claims is None:
            self.taken = len(self.readers)
            if self.readers:
                yield list(range(len(self.readers)))
            return
        for start in range(0, len(self.readers), self.batch):
            positions = self._claimed(range(start, min(start + self.batch, len(self.readers))))
            if positions:
                self.taken += len(positions)
                yield positions

    def _claimed(self, positions: range) -> list[int]:
        assert self.claims is not None
        emails = {n: self.readers[n].email.lower() for n in positions}
        mine = self.claims.take(list(emails.values()))
        gone = self.recheck(sorted(mine)) if self.recheck and mine else set()
        for n in positions:
            if emails[n] in gone:
                log.info("%s got today's digest from another send meanwhile; skipped", self.readers[n].email)
                self.done_elsewhere.append(self.readers[n].email)
        return [n for n in positions if emails[n] in mine and emails[n] not in gone]

    def close_inherited(self) -> None:
        """In a forked child: the claiming connection stays the parent's."""
        if self.claims is not None:
            self.claims.close_inherited()


@contextmanager
def batches(db: object, readers: Sequence[Subscriber], recheck: Recheck | None,
            lease: Lease | None = None) -> Iterator[Batches]:
    """Every reader in one batch (SQLite), or claimed batches on a connection held until the send ends (and
    renewed by ``lease`` from the moment its transaction is open)."""
    if not isinstance(db, DatabaseURL):
        yield Batches(readers)
        return
    with ReaderClaims(db) as claims:
        claims.offer([reader.email.lower() for reader in readers])
        if lease is not None:
            claims.keep(lease)
        yield Batches(readers, claims, recheck)
