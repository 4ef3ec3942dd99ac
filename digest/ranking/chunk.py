"""A chunk of readers scored and walked together (``batch``), and each reader's view of it (``Scores``).

The chunk keeps its arrays and lists whole, flat, reader after reader; a reader's
``Scores`` slices out its own part only when asked, so a reader whose batch walk
is all ``select.rank`` needs costs no more than that walk's picks. Those picks are
made for every reader of the chunk in one pass when the first reader asks
(``Scores.picks``): a slice of one list each, rather than a few slices and a pass
each; a reader who asks again gets picks of its own, made anew.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from .collector import collector_paused
from .explain import Match

T = TypeVar("T")
Make = Callable[[Any, float, tuple[Match, ...], int], T]  # a pick from its paper, shown score, matches and rank

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
    made: list[list[Any]] = field(default_factory=list)  # every reader's picks, made at the first ask (``Scores.picks``)
    handed: bytearray = field(default_factory=bytearray)  # per reader, whether its picks of ``made`` were handed out


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

    def _walked_for(self, most: int | None, sent: Collection[str]) -> bool:
        """Whether the batch walked this reader for ``most`` and ``sent`` (not left to the step-by-step walk)."""
        chunk, r = self.chunk, self.reader
        return not chunk.slow[r] and chunk.most[r] == most and (chunk.sent[r] is sent or chunk.sent[r] == sent)

    def walk(self, most: int | None, sent: Collection[str]) -> Walked | None:
        """The picks of the walk made for ``most`` and ``sent``, and the count; None when none was (walk again)."""
        if not self._walked_for(most, sent):
            return None
        chunk, r = self.chunk, self.reader
        a, b = chunk.ends[r], chunk.ends[r + 1]
        return chunk.numbers[a:b], chunk.scores[a:b], chunk.matched[a:b], chunk.counts[r]

    def picks(self, most: int | None, sent: Collection[str], papers: Sequence[Any],
              make: Make[T]) -> tuple[list[T], int] | None:
        """``walk``'s picks, made by ``make`` (ranked from 1), and the count; None as for ``walk``.

        The first reader to ask has every reader's made at once (the picks of a reader
        sent to the step-by-step walk too: a few). ``papers``: the index's, by number.
        """
        if not self._walked_for(most, sent):
            return None
        chunk, r = self.chunk, self.reader
        a, b = chunk.ends[r], chunk.ends[r + 1]
        if not chunk.made:
            with collector_paused():  # kept until the chunk's readers are served: no young collections over them
                chunk.made.append(list(map(make, map(papers.__getitem__, chunk.numbers), chunk.scores, chunk.matched,
                                           _ranks(chunk.ends))))
            chunk.handed.extend(bytes(len(chunk.ends)))
        if chunk.handed[r]:  # asked again: no pick in two lists
            return list(map(make, map(papers.__getitem__, chunk.numbers[a:b]), chunk.scores[a:b],
                            chunk.matched[a:b], range(1, b - a + 1))), chunk.counts[r]
        chunk.handed[r] = 1
        return chunk.made[0][a:b], chunk.counts[r]


def _ranks(ends: Sequence[int]) -> list[int]:
    """Each pick's rank among its reader's (``Chunk.ends``): 1, 2, ... from each reader's first."""
    at = np.asarray(ends, dtype=np.intp)
    return (np.arange(1, at[-1] + 1) - np.repeat(at[:-1], np.diff(at))).tolist()
