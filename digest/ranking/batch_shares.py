"""Each keyword's places (``shares.places_of``) for a chunk of readers at once, as array operations.

The water-filling of ``shares.shares`` runs for every reader of the chunk
together, one round per keyword at most: in a round, each reader's keywords with
no more papers than their share take them all, and a reader with none such gives
every keyword its share, rounded up. The floats are those ``shares`` works out,
bit for bit: the weights of the keywords still in play added up from zero in the
keywords' order, then ``room * weight / total``. A reader with a weight outside
what a profile allows (``profile``) is left to ``shares.places_of``.
"""

from __future__ import annotations

import numpy as np

from .batch_walk import NO_LIMIT
from .shares import places_of

_HEAVIEST = 100.0  # the largest weight a profile allows (``profile._weight``)


def quotas(counts: np.ndarray, weights: np.ndarray, keywords: np.ndarray, limits: np.ndarray) -> np.ndarray:
    """Readers x keywords: each keyword's places (``NO_LIMIT`` where no share applies: see ``shares.places``).

    ``counts``: each keyword's candidates; ``weights``: the keywords' weights; ``keywords``: how
    many each reader wrote (the columns past them are not theirs); ``limits``: ``max_items``, 0 for none.
    """
    out: np.ndarray = np.full(counts.shape, NO_LIMIT, dtype=np.intp)
    mine = np.arange(counts.shape[1]) < keywords[:, None]
    apply = (limits > 0) & (keywords >= 2) & (counts.sum(axis=1) > limits)
    odd = apply & ((mine & ~((weights > 0) & (weights <= _HEAVIEST))).any(axis=1))
    apply &= ~odd
    at = apply.nonzero()[0]
    quota = _water_filled(counts[at], weights[at], limits[at])
    fits = np.minimum(quota, counts[at]).sum(axis=1) >= counts[at].sum(axis=1)  # ``places_of``'s None
    rows, quota = at[~fits], quota[~fits]
    out[rows] = np.where(mine[rows], quota, NO_LIMIT)
    for reader in odd.nonzero()[0].tolist():
        n = int(keywords[reader])
        places = places_of(counts[reader, :n].tolist(), weights[reader, :n].tolist(), int(limits[reader]))
        if places is not None:
            out[reader, :n] = [places.get(k, 0) for k in range(n)]
    return out


def _water_filled(counts: np.ndarray, weights: np.ndarray, limits: np.ndarray) -> np.ndarray:
    """``shares.shares`` for each row: places per keyword (0 for a keyword without papers)."""
    quota: np.ndarray = np.zeros(counts.shape, dtype=np.intp)
    active = counts > 0
    room: np.ndarray = limits.astype(np.intp)
    live = active.any(axis=1)
    while live.any():
        total = np.cumsum(np.where(active, weights, 0.0), axis=1)[:, -1]  # in the keywords' order, as ``sum`` adds
        total[total == 0] = 1.0
        share = room[:, None] * weights / total[:, None]
        small = active & (counts <= share) & live[:, None]
        last = live & ~small.any(axis=1)  # none below its share: every keyword gets it, rounded up
        filled = active & last[:, None]
        quota[filled] = np.ceil(share[filled])
        quota[small] = counts[small]
        room = room - np.where(small, counts, 0).sum(axis=1)
        active &= ~small & ~last[:, None]
        live = active.any(axis=1)
    return quota
