"""The picks of a batch's walks (``batch_walk``), explained and their scores rounded, a chunk at a time.

A pick is explained by the keywords that name it (``select._matched``): each of
its reader's keywords whose match code (``Matrix.codes``) for the paper is not 0,
in the reader's order; of several, those that match fully, when there are any.
For a chunk that is one gather of the picks' codes (picks x keywords), a mask,
and the ``Match`` of each code kept (``Matrix.matches``) put into each pick's tuple. A score is shown
to three places, as ``round(score, 3)`` gives it (``rounded``).
"""

from __future__ import annotations

from itertools import repeat
from typing import TYPE_CHECKING, cast

import numpy as np

from .explain import PARTIAL, Match
from .matrix import CODES

if TYPE_CHECKING:
    from .matrix import Matrix

_SAFE = 1e-6  # a scaled score this close to a half is rounded by ``round``, not by ``np.rint``
_LARGEST = 1e9  # scores beyond this (none are) are rounded by ``round``


class Explainer:
    """A batch's picks explained (``explained``), each term's one-match tuples made once for the batch."""

    def __init__(self, matrix: Matrix) -> None:
        self.matrix = matrix
        self._ones: list[tuple[Match | None]] = []  # per term and code, as ``Matrix.matches``: (the match,)

    def explained(self, grid: np.ndarray, readers: np.ndarray, numbers: np.ndarray) -> list[tuple[Match, ...]]:
        """Each pick's matches (``select._matched``), for the picks of papers ``numbers`` by ``readers``.

        ``grid``: readers x keywords, each reader's keywords' terms (``Matrix.term``) in its
        order, 0 past its last (no keyword: a row of no match). Most picks are named by one
        keyword: their tuples are looked up; those of the others are zipped, count by count.
        """
        if not len(numbers):
            return []
        terms = grid[readers]  # picks x keywords
        width = terms.shape[1]
        mine = self.matrix.codes.reshape(-1)[self.matrix.rows(terms) * self.matrix.size + numbers[:, None]]
        partly = mine >= PARTIAL  # codes are below ``CODES``
        full = (mine > 0) & ~partly
        keep = (mine != 0) & ~(partly & full.any(axis=1)[:, None])
        at = np.flatnonzero(keep)  # pick by pick, each in its reader's keyword order
        pick = at // width
        found = terms.reshape(-1)[at] * CODES + mine.reshape(-1)[at]
        if not len(found):
            return [()] * len(numbers)
        counts = np.bincount(pick, minlength=len(numbers))
        starts = np.cumsum(counts) - counts
        out = cast(list[tuple[Match, ...]], list(map(self._singles().__getitem__,
                                                      found[np.minimum(starts, len(found) - 1)].tolist())))
        table = cast(list[Match], self.matrix.matches)  # codes not 0: never None
        for count in np.unique(counts).tolist():
            if count != 1:
                at = np.flatnonzero(counts == count)
                columns = [map(table.__getitem__, found[starts[at] + j].tolist()) for j in range(count)]
                for n, matched in zip(at.tolist(), zip(*columns) if count else repeat(())):
                    out[n] = matched
        return out

    def _singles(self) -> list[tuple[Match | None]]:
        table, ones = self.matrix.matches, self._ones
        if len(ones) < len(table):
            ones += [(m,) for m in table[len(ones):]]
        return ones


def rounded(scores: np.ndarray) -> list[float]:
    """``round(score, 3)`` of each score, most of them with numpy.

    ``np.rint(score * 1000) / 1000`` gives the nearest float to the integer over a
    thousand, as ``round`` does; the integer is the same unless the product, itself
    rounded, sits at a half: those few scores (and any too large) go through ``round``.
    """
    scaled = scores * 1000.0
    out = (np.rint(scaled) / 1000.0).tolist()
    doubt = (np.abs(scaled - np.floor(scaled) - 0.5) < _SAFE) | ~(np.abs(scores) < _LARGEST)
    if doubt.any():
        values = scores.tolist()
        for n in doubt.nonzero()[0].tolist():
            out[n] = round(values[n], 3)
    return out
