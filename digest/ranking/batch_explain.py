"""The picks of a batch's walks (``batch_walk``), explained and their scores rounded, a chunk at a time.

A pick is explained by the keywords that name it (``select._matched``): each of
its reader's keywords whose match code (``Matrix.codes``) for the paper is not 0,
in the reader's order; of several, those that match fully, when there are any.
For a chunk that is one gather of the picks' codes (picks x keywords), a mask,
and the ``Match`` of each code kept (``Matrix.matches``) cut into each pick's tuple. A score is shown
to three places, as ``round(score, 3)`` gives it (``rounded``).
"""

from __future__ import annotations

from itertools import islice
from typing import TYPE_CHECKING, cast

import numpy as np

from .explain import PARTIAL, Match
from .matrix import CODES

if TYPE_CHECKING:
    from .matrix import Matrix

_SAFE = 1e-6  # a scaled score this close to a half is rounded by ``round``, not by ``np.rint``
_LARGEST = 1e9  # scores beyond this (none are) are rounded by ``round``


def explained(matrix: Matrix, grid: np.ndarray, readers: np.ndarray, numbers: np.ndarray) -> list[tuple[Match, ...]]:
    """Each pick's matches (``select._matched``), for the picks of papers ``numbers`` by ``readers``.

    ``grid``: readers x keywords, each reader's keywords' terms (``Matrix.term``) in its
    order, 0 past its last (no keyword: a row of no match).
    """
    if not len(numbers):
        return []
    terms = grid[readers]  # picks x keywords
    mine = matrix.codes[matrix.rows(terms), numbers[:, None]]
    named = mine != 0
    partly = (mine & PARTIAL) != 0
    several = named.sum(axis=1) > 1
    keep = named & ~(partly & (several & (named & ~partly).any(axis=1))[:, None])
    pick, slot = keep.nonzero()  # pick by pick, each in its reader's keyword order
    found = (terms[pick, slot] * CODES + mine[pick, slot]).tolist()
    table = matrix.matches
    matches = iter(cast(list[Match], list(map(table.__getitem__, found))))  # codes not 0: never None
    return [(next(matches),) if count == 1 else tuple(islice(matches, count))
            for count in np.bincount(pick, minlength=len(numbers)).tolist()]


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
