"""A full digest shared among the reader's keywords, so a broad one cannot crowd out the rest.

When more papers pass than ``max_items`` and the reader wrote several keywords,
each paper belongs to the keyword that gives it most of its score, and each
keyword gets places by its weight (water-filling): a keyword with fewer papers
than its share takes them all and leaves the rest to the others, and a share is
rounded up. The picks are still taken best first: a paper whose keyword's share
is used up waits, and is sent only if the digest still has room when every
paper has been seen. Papers no keyword owns (the reader's model lifted them)
wait for no share.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from .columns import Columns
from .profile import Keyword

SORT_ALL = 128  # candidates a walk sorts whole rather than cut per keyword (``Places.head``)


def shares(available: Mapping[int, int], weights: Sequence[float], limit: int) -> dict[int, int]:
    """Places per keyword (by position), by weight, for ``available`` papers per keyword."""
    quota: dict[int, int] = {}
    active, room = sorted(k for k, n in available.items() if n), limit
    while active:
        total = sum([weights[k] for k in active]) or 1.0  # summed in the keywords' order
        small = [k for k in active if available[k] <= room * weights[k] / total]
        if not small:
            for k in active:
                quota[k] = math.ceil(room * weights[k] / total)
            break
        for k in small:
            quota[k] = available[k]
            room -= available[k]
        active = [k for k in active if k not in small]
    return quota


def owners(table: Columns, wanted: Sequence[Keyword], candidates: np.ndarray) -> np.ndarray:
    """For each candidate, the position of the keyword that gives it most of its score."""
    stacked = np.array([table.scores(k)[candidates] for k in wanted])  # the candidates' scores only
    for row, keyword in enumerate(wanted):
        if keyword.weight != 1.0:
            stacked[row] *= keyword.weight
    return stacked.argmax(axis=0)


def places(table: Columns, wanted: Sequence[Keyword], candidates: np.ndarray, limit: int | None,
           owner: np.ndarray | None = None) -> Places | None:
    """Each keyword's places among ``candidates``; None when all fit, or for one keyword.

    ``owner``: ``owners`` of the candidates, when already worked out (``batch``).
    """
    if not limit or len(wanted) < 2 or len(candidates) <= limit:
        return None
    owner = owners(table, wanted, candidates) if owner is None else owner
    counts = np.bincount(owner, minlength=len(wanted))
    quota = places_of(counts.tolist(), [k.weight for k in wanted], limit)
    if quota is None:
        return None
    by_paper: np.ndarray = np.full(len(table.index.papers), -1, dtype=np.intp)
    by_paper[candidates] = owner
    return Places(by_paper, quota, counts)


def places_of(counts: Sequence[int], weights: Sequence[float], limit: int) -> dict[int, int] | None:
    """Each keyword's places (``shares``) for ``counts`` candidates per keyword; None when they all fit."""
    quota = shares(dict(enumerate(counts)), weights, limit)
    if sum([min(quota.get(k, 0), n) for k, n in enumerate(counts)]) >= sum(counts):
        return None
    return quota


class Places:
    """Each keyword's places in a full digest, and (``head``) how far down its papers were looked at."""

    def __init__(self, owner_of: np.ndarray, quota: Mapping[int, int], counts: np.ndarray | None = None) -> None:
        self.owner_of, self.quota = owner_of, quota
        self.counts = counts  # candidates per keyword (``places``)
        self.cuts: dict[int, float] = {}  # keyword -> the score below which its papers are not in the head

    def danger(self, used: Sequence[int]) -> float:
        """The score below which a walk of the head is no longer the full walk: the highest cut of a
        keyword whose places are not all used (papers of it below the cut were left out)."""
        open_cuts = [cut for k, cut in self.cuts.items() if used[k] < self.quota.get(k, 0)]
        return max(open_cuts) if open_cuts else -math.inf

    def head(self, totals: np.ndarray, candidates: np.ndarray, room: int,
             tie: float) -> tuple[np.ndarray, float | None]:
        """Each keyword's best ``quota + room`` candidates (and those tied), and the lowest cut among them.

        A walk over this head that fills the digest picks what a walk over every
        candidate would: a keyword's papers left out rank below its own ones in the
        head, by which time its places are taken. None for the cut: sort them all (as for
        ``SORT_ALL`` candidates or fewer, which cost less to sort than to cut keyword by keyword).
        """
        if len(candidates) <= SORT_ALL:
            return candidates, None
        owner = self.owner_of[candidates]
        counts = self.counts if self.counts is not None else np.bincount(owner[owner >= 0], minlength=len(self.quota))
        cuts: dict[int, float] = {}
        keep: np.ndarray | None = None
        values: np.ndarray | None = None
        for k, count in enumerate(counts.tolist()):
            needed = self.quota.get(k, 0) + room
            if count <= needed:
                continue  # only keywords with more papers than they can use
            at = (owner == k).nonzero()[0]
            values = totals[candidates] if values is None else values
            scores = values[at]
            kth = len(scores) - needed
            cut = float(np.partition(scores, kth)[kth])
            keep = np.ones(len(candidates), dtype=bool) if keep is None else keep
            keep[at] = scores > cut - tie
            cuts[k] = cut
        if keep is None:
            return candidates, None
        head = candidates[keep]
        if 2 * len(head) > len(candidates):
            return candidates, None
        self.cuts = cuts
        return head, min(cuts.values())
