"""Many readers' keyword walks at once: ``select.Walk`` over every candidate, as array operations.

A walk takes the candidates best first (by total, then paper number), skips a
paper sent before or one no keyword names, and gives each keyword no more than
its places (``shares``): a paper whose keyword's places are used waits, and fills
the digest only if the walk ends with room left. Over a batch of readers that
is a sort, a count of each keyword's papers so far and a count of each reader's
picks so far. Papers with the same total are ordered as the walk orders them
(upvotes, then recency, then title: ``tie``, the paper's place in that order).
Two things only the step-by-step walk does: ordering papers whose totals differ
by less than ``TIE``, and skipping a repeated title; a reader whose candidates
hold either is left to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .matrix import bounds
from .select import TIE

NO_LIMIT = np.iinfo(np.intp).max // 4
_STEP = 2.0 ** -22  # a step of the walk's sort key: a quarter of ``TIE`` or less
_STEPS = 2.0 ** 22  # steps in 1


@dataclass(frozen=True, slots=True)
class Candidates:
    """A batch's candidates, flat: reader (row) by reader, each reader's by paper number."""

    rows: np.ndarray
    numbers: np.ndarray
    totals: np.ndarray
    owners: np.ndarray  # the keyword (position) that gives the paper most of its score
    tie: np.ndarray  # the paper's place among the index's papers by ``index.tie_key`` (then number)
    eligible: np.ndarray  # a keyword names it, and it was not sent before
    twin: np.ndarray  # its title is another paper's too


def walk_many(found: Candidates, quota: np.ndarray,
              most: Sequence[int | None]) -> tuple[np.ndarray, list[int], list[bool]]:
    """The flat positions of every reader's picks, reader by reader, each best first; where each reader's
    end (``ends[r]:ends[r + 1]``); and whether the reader needs the step-by-step walk instead.

    ``quota``: readers x keywords, each keyword's places (``NO_LIMIT`` without shares).
    """
    readers = len(most)
    order = _best_first(found)
    rows = found.rows[order]
    slow = _slow(found, rows, found.totals[order], readers)
    eligible = found.eligible[order]
    keyed = rows * quota.shape[1] + found.owners[order]
    first = eligible & (_running(keyed, eligible) < quota.ravel()[keyed])  # within its keyword's places
    full = np.array([m if m else NO_LIMIT for m in most], dtype=np.intp)
    firsts = np.bincount(rows[first], minlength=readers)
    chosen = first & (_so_far(rows, first, firsts) < full[rows])
    room = full - firsts  # after the walk: what waiting papers may fill
    waits = eligible & ~first
    if waits.any() and (room > 0).any():
        chosen |= waits & (_so_far(rows, waits, np.bincount(rows[waits], minlength=readers)) < room[rows])
    return order[chosen], bounds(rows[chosen], readers), slow.tolist()


def _slow(found: Candidates, rows: np.ndarray, totals: np.ndarray, readers: int) -> np.ndarray:
    """Per reader, whether only the step-by-step walk orders it: totals closer than ``TIE`` but not equal
    (``rows`` and ``totals`` in the walk's order), or a title another paper has too."""
    near = (totals[1:] > totals[:-1] - TIE) & (totals[1:] != totals[:-1])
    apart = np.flatnonzero((rows[1:] == rows[:-1]) & near)
    slow: np.ndarray = np.zeros(readers, dtype=bool)
    slow[rows[apart]] = True
    slow[found.rows[found.twin]] = True
    return slow


def _best_first(found: Candidates) -> np.ndarray:
    """The candidates' order: reader by reader, by total (highest first), equal totals by ``tie``.

    One sort of one integer key: the reader, then the total in steps of ``_STEP``
    (finer than ``TIE``, highest first), then ``tie``. Totals in one step are ordered
    by ``tie``: they differ by less than ``TIE`` and, unless equal, send the reader to
    the step-by-step walk (``walk_many``). A key too wide for 63 bits (totals far
    apart, or not finite) takes ``_best_first_by_floats``.
    """
    if not len(found.totals):
        return np.zeros(0, dtype=np.intp)
    steps = np.floor(found.totals * _STEPS)  # exactly totals / _STEP: a power of 2
    high = float(steps.max())
    spread = high - float(steps.min())
    if not spread < 2.0 ** 62:  # not finite either
        return _best_first_by_floats(found)
    ties, levels = int(found.tie.max()).bit_length(), int(spread).bit_length()
    if int(found.rows[-1]).bit_length() + levels + ties > 62:
        return _best_first_by_floats(found)
    below = (high - steps).astype(np.int64)
    # no two keys equal (a reader's candidates are distinct papers, ``tie`` one place per paper): any sort gives
    # the one order, and numpy's default sorts 64-bit integers faster than its stable sort
    return np.argsort((found.rows.astype(np.int64, copy=False) << (levels + ties)) | (below << ties) | found.tie)


def _best_first_by_floats(found: Candidates) -> np.ndarray:
    """``_best_first`` by two stable sorts: by reader and ``tie``, then by the reader less the total scaled
    below 1 (which rounds a total by less than ``TIE``, as ``_best_first``'s steps do)."""
    by_tie = np.argsort(found.rows * len(found.tie) + found.tie, kind="stable")
    scale = 2.0 * (float(found.totals.max(initial=0.0)) + 1.0)
    key = found.rows[by_tie] - found.totals[by_tie] / scale
    return by_tie[np.argsort(key, kind="stable")]


def _so_far(rows: np.ndarray, mask: np.ndarray, per_reader: np.ndarray) -> np.ndarray:
    """For each entry (grouped by reader, ``rows``), how many of its reader's entries before it are in ``mask``
    (``per_reader``: how many of each reader's are)."""
    before = np.cumsum(mask) - mask
    return before - (np.cumsum(per_reader) - per_reader)[rows]


def _running(keys: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """For each entry, how many entries before it (in order) with the same key are in ``mask``.

    The entries in ``mask`` sorted by key, stably (a radix sort when the keys fit 16 bits): each one's
    count is its place less the place where its key starts. When all are in ``mask`` (no paper sent
    before, every one named), no subset is taken.
    """
    at = None if mask.all() else np.flatnonzero(mask)
    picked = keys if at is None else keys[at]
    out: np.ndarray = np.zeros(len(keys), dtype=np.intp)
    if not len(picked):
        return out
    small = picked.astype(np.int16) if keys.max(initial=0) < 2 ** 15 else picked
    grouped = np.argsort(small, kind="stable")  # by key, in order within each key
    sorted_keys = small[grouped]
    starts: np.ndarray = np.empty(len(sorted_keys), dtype=bool)
    starts[0] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=starts[1:])
    place = np.arange(len(sorted_keys))
    out[grouped if at is None else at[grouped]] = place - np.maximum.accumulate(np.where(starts, place, 0))
    return out
