"""A chunk of readers scored and walked together (``batch``), and each reader's view of it (``Scores``).

The chunk keeps its arrays and lists whole, flat, reader after reader; a reader's
``Scores`` slices out its own part only when asked, so a reader whose batch walk
is all ``select.rank`` needs costs no more than that walk's picks.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from .explain import Match

Walked = tuple[list[int], list[float], list[tuple[Match, ...]], int]  # numbers, scores shown, matches, count


@dataclass(frozen=True, slots=True)
class Chunk:
    """Every reader's totals, candidates and walk (``batch_walk``), its picks explained (``batch_explain``)."""

    totals: np.ndarray  # readers x papers: the weighted sum of the reader's keyword scores; 0 where excluded
    removed: Sequence[np.ndarray | None]  # ``Columns.removed``
    candidates: np.ndarray  # the papers that pass each reader's floor (``qualified_mask``), reader by reader
    owners: np.ndarray  # per candidate, the keyword that gives it most of its score (``shares.owners``)
    starts: Sequence[int]  # where each reader's candidates start, and the end
    most: Sequence[int | None]  # the ``max_items`` each reader was walked for
    sent: Sequence[Collection[str]]  # and the papers sent before
    slow: Sequence[bool]  # the reader needs the step-by-step walk: no walk here
    ends: Sequence[int]  # where each reader's picks start in the next three, and the end
    numbers: list[int]  # the picks' paper numbers, best first
    scores: list[float]  # their totals, rounded as a ``Pick`` shows them
    matched: list[tuple[Match, ...]]  # their matches (``select._matched``)
    counts: Sequence[int]  # ``count_matches``: the distinct titles of the candidates a keyword names, not sent


class Scores:
    """One reader's part of a ``Chunk``: what ``select.Scored`` would work out, and (``walk``) its picks."""

    __slots__ = ("chunk", "reader")

    def __init__(self, chunk: Chunk, reader: int) -> None:
        self.chunk, self.reader = chunk, reader

    @property
    def totals(self) -> np.ndarray:
        return self.chunk.totals[self.reader]

    @property
    def removed(self) -> np.ndarray | None:
        return self.chunk.removed[self.reader]

    @property
    def candidates(self) -> np.ndarray:
        return self.chunk.candidates[self.chunk.starts[self.reader]:self.chunk.starts[self.reader + 1]]

    @property
    def owners(self) -> np.ndarray:
        return self.chunk.owners[self.chunk.starts[self.reader]:self.chunk.starts[self.reader + 1]]

    def walk(self, most: int | None, sent: Collection[str]) -> Walked | None:
        """The picks of the walk made for ``most`` and ``sent``, and the count; None when none was (walk again)."""
        chunk, r = self.chunk, self.reader
        if chunk.slow[r] or chunk.most[r] != most or not (chunk.sent[r] is sent or chunk.sent[r] == sent):
            return None
        a, b = chunk.ends[r], chunk.ends[r + 1]
        return chunk.numbers[a:b], chunk.scores[a:b], chunk.matched[a:b], chunk.counts[r]
