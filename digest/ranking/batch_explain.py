"""The picks of a batch's walks (``batch_walk``), explained and their scores rounded, a chunk at a time.

A pick is explained by the keywords that name it (``select._matched``): each of
its reader's keywords whose match code (``Matrix.codes``) for the paper is not 0,
in the reader's order; of several, those that match fully, when there are any.
For a chunk that is one gather of the picks' codes (picks x keywords), a mask
and one list of ``Match`` objects cut into each pick's tuple. A score is shown
to three places, as ``round(score, 3)`` gives it (``rounded``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np

from .explain import PARTIAL, Match, matches_by_code
from .profile import Keyword

CODES = PARTIAL * 2  # codes 0 to 7: ``matches_by_code`` has as many entries
_SAFE = 1e-6  # a scaled score this close to a half is rounded by ``round``, not by ``np.rint``
_LARGEST = 1e9  # scores beyond this (none are) are rounded by ``round``


def explained(codes: np.ndarray, grid: np.ndarray, wanted: Sequence[Sequence[Keyword]], readers: np.ndarray,
              numbers: np.ndarray) -> list[tuple[Match, ...]]:
    """Each pick's matches (``select._matched``), for the picks of papers ``numbers`` by ``readers``.

    ``codes``: match codes, keyword row by paper (``Matrix.codes``); ``grid``: readers x
    keywords, each reader's keywords' rows in its order (0: none, a row of no match);
    ``wanted``: each reader's keywords.
    """
    if not len(numbers):
        return []
    mine = codes[grid[readers], numbers[:, None]]  # picks x keywords
    named = mine != 0
    partly = (mine & PARTIAL) != 0
    fully = named & ~partly
    several = named.sum(axis=1) > 1
    keep = named & ~(partly & (several & fully.any(axis=1))[:, None])
    pick, slot = keep.nonzero()  # pick by pick, each in its reader's keyword order
    table, base = _by_code(wanted, grid.shape[1])
    found = (base[readers[pick], slot] + mine[pick, slot]).tolist()
    matches = cast(list[Match], list(map(table.__getitem__, found)))  # codes not 0: never None
    out: list[tuple[Match, ...]] = []
    at = 0
    for count in np.bincount(pick, minlength=len(numbers)).tolist():
        out.append(tuple(matches[at:at + count]))
        at += count
    return out


def _by_code(wanted: Sequence[Sequence[Keyword]], width: int) -> tuple[list[Match | None], np.ndarray]:
    """Every keyword's ``matches_by_code`` in one list, and where each reader's keyword's start (readers x keywords)."""
    table: list[Match | None] = []
    base: np.ndarray = np.zeros((len(wanted), width), dtype=np.intp)
    for reader, keywords in enumerate(wanted):
        if keywords:
            base[reader, :len(keywords)] = range(len(table), len(table) + CODES * len(keywords), CODES)
            for keyword in keywords:
                table += matches_by_code(keyword.text)
    return table, base


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
