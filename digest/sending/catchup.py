"""Catch-up: each reader's candidates are everything that arrived since their last digest.

The day's listing is always a candidate set (as before). To it come the papers
the store kept from earlier listings (``digest.store.listed``) that arrived after
the reader's mark: what the plan of their last accepted digest saw (``Plan.upto``,
recorded with the delivery), or, for a reader who never got one, the first time
a send found them due; never further back than
``DIGEST_CATCHUP_DAYS``. So a weekly reader gets the week, a reader whose server
deferred or refused yesterday's digest gets yesterday's papers today, and a
paused reader who comes back gets what arrived while away (within the window),
whatever the source: arXiv RSS lists only today's announcements.

All readers are ranked on one index: the day's listing plus every kept paper
that some reader still needs. A reader's older kept papers are left out the
same way as papers they already got (``Excluded``), so ranking stays one pass.
"""

from __future__ import annotations

import bisect
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Protocol

from ..model import Listing, Paper, Subscriber
from ..store.listed import Mark

DAY = 86_400


class CatchupStore(Protocol):
    """What the plan asks of the store (``digest.store.Store`` is one)."""

    def sent_among(self, paper_ids: Iterable[str], emails: Iterable[str] | None = None) -> Mapping[str, Collection[str]]: ...

    def catchup_marks(self, emails: Sequence[str] | None = None) -> dict[str, Mark]: ...

    def listed_upto(self) -> int: ...

    def arrived_since(self, since: float, leave_out: Iterable[str] = (),
                      upto: int | None = None) -> list[tuple[Paper, int]]: ...


class Excluded(Collection[str]):
    """What a reader must not get: the papers they already got, and kept papers older than their mark."""

    __slots__ = ("sent", "old")

    def __init__(self, sent: Collection[str], old: frozenset[str]) -> None:
        self.sent, self.old = sent, old

    def __contains__(self, paper_id: object) -> bool:
        return paper_id in self.sent or paper_id in self.old

    def __iter__(self) -> Iterator[str]:
        yield from self.sent
        yield from (pid for pid in self.old if pid not in self.sent)

    def __len__(self) -> int:
        return len(self.sent) + len(self.old)


@dataclass
class Plan(Mapping[str, Collection[str]]):
    """The listing every reader is ranked on, and per reader (lower case) what they must not get.

    A Mapping like the store's ``sent_among`` answer, so the producer takes either.
    """

    listing: Listing
    sent: Mapping[str, Collection[str]]
    since: dict[str, int]  # reader -> kept papers from this arrival time on (absent: today's listing only)
    arrivals: list[int]  # of the kept papers added to the listing, oldest first
    kept_ids: list[str]
    zone: tzinfo
    upto: int = 0  # the newest arrival stamp the plan saw: what its digests record as seen (``seen_upto``)

    def __post_init__(self) -> None:
        self._old: dict[int, frozenset[str]] = {}

    def __getitem__(self, email: str) -> Collection[str]:
        sent = self.sent.get(email, frozenset())
        if not self.kept_ids:
            return sent
        return Excluded(sent, self._older_than(self.since.get(email)))

    def __iter__(self) -> Iterator[str]:
        return iter(self.since.keys() | set(self.sent))

    def __len__(self) -> int:
        return len(self.since.keys() | set(self.sent))

    def older(self, email: str) -> frozenset[str]:
        """The kept papers outside this reader's window (they arrived before their mark)."""
        return self._older_than(self.since.get(email.lower())) if self.kept_ids else frozenset()

    def _older_than(self, mark: int | None) -> frozenset[str]:
        cut = len(self.arrivals) if mark is None else bisect.bisect_left(self.arrivals, mark)
        if cut not in self._old:
            self._old[cut] = frozenset(self.kept_ids[:cut])
        return self._old[cut]

    def covers(self, email: str) -> date | None:
        """The first day this reader's digest covers, when it reaches back before today's listing."""
        mark = self.since.get(email.lower())
        if mark is None or not self.arrivals or bisect.bisect_left(self.arrivals, mark) >= len(self.arrivals):
            return None
        first = self.arrivals[bisect.bisect_left(self.arrivals, mark)]
        return datetime.fromtimestamp(first, self.zone).date()


def plan(store: CatchupStore, listing: Listing, readers: Sequence[Subscriber], *, now: float, window_days: int,
         zone: tzinfo) -> Plan:
    """The readers' marks, and the kept papers at least one of them still needs.

    The plan's ``sent`` is empty: the caller asks the ledger about ``plan.listing``'s papers.
    """
    upto = store.listed_upto()  # first: every paper committed after it is stamped later (digest.store.listed)
    emails = [reader.email.lower() for reader in readers]
    marks = store.catchup_marks(emails) if emails else {}
    first_day = datetime.fromtimestamp(now, zone).date() - timedelta(days=window_days)
    oldest = datetime.combine(first_day, time(), tzinfo=zone).timestamp()  # the window: whole local days
    since: dict[str, int] = {}
    for email in emails:
        mark = marks.get(email, Mark()).since()  # past what their last digest's plan saw; or from when first due
        if mark is not None:
            since[email] = int(max(mark, oldest))
    kept: list[tuple[Paper, int]] = []
    if since:
        kept = store.arrived_since(min(since.values()), leave_out={p.id for p in listing.papers}, upto=upto)
    combined = replace(listing, papers=[*listing.papers, *(paper for paper, _ in kept)]) if kept else listing
    return Plan(combined, {}, since, [at for _, at in kept], [paper.id for paper, _ in kept], zone, upto)


def candidates(store: CatchupStore, listing: Listing, readers: Sequence[Subscriber], *, now: float,
               window_days: int, zone: tzinfo, ledger: bool = True, few: bool = False) -> Plan:
    """``plan``, with what each reader already got among its papers (``ledger``: False for ``--force``).

    ``few``: ask the ledger about these readers only (a preview, ``rank --subscriber``).
    """
    found = plan(store, listing, readers, now=now, window_days=window_days, zone=zone)
    if ledger:
        ids = (paper.id for paper in found.listing.papers)
        found.sent = store.sent_among(ids, [r.email for r in readers] if few else None)
    return found
