"""A postings table (stem or written form -> paper -> positions) kept as arrays, each key's dict made when read.

``build`` files every word of the listing by sorting arrays of numbers; the
table keeps those arrays: the positions of each key, paper after paper, and
where each key's papers (``runs``) and each paper's positions (``pairs``) start.
A run reads the dicts of a few of the listing's thousands of keys, so a key's
``Postings`` is made the first time it is looked up, the same dict (its papers
in order, each's positions in the order filed) that making them all at once
would give. ``bulk`` reads many keys' positions straight from the arrays.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from itertools import count
from typing import TypeVar, overload

import numpy as np

from .tokens import ABSTRACT_OFFSET

Postings = dict[int, tuple[int, ...]]  # paper number -> positions
T = TypeVar("T")
_NONE: np.ndarray = np.zeros(0, dtype=np.intp)


class Filed(Mapping[str, Postings]):
    """Keys (in the order the listing first has them) -> ``Postings``, from sorted arrays.

    ``runs[k]`` is key ``k``'s first pair (a key's paper) and ``runs[-1]`` the
    end; ``pairs[p]`` is pair ``p``'s first position in ``at`` and ``pairs[-1]``
    the end; ``papers[p]`` is its paper.
    """

    def __init__(self, names: list[str], runs: np.ndarray, pairs: np.ndarray, papers: np.ndarray,
                 at: np.ndarray) -> None:
        self.names, self.runs, self.pairs, self.papers, self.at = names, runs, pairs, papers, at
        self.number: dict[str, int] = dict(zip(names, count()))  # key -> its place
        self._runs: list[int] = runs.tolist()
        self._made: dict[str, Postings] = {}

    @classmethod
    def empty(cls) -> Filed:
        return cls([], np.zeros(1, dtype=np.intp), np.zeros(1, dtype=np.intp), _NONE, _NONE)

    def __getitem__(self, key: str) -> Postings:
        found = self.get(key)
        if found is None:
            raise KeyError(key)
        return found  # (a key's postings are never empty)

    @overload
    def get(self, key: str) -> Postings | None: ...

    @overload
    def get(self, key: str, default: Postings | T) -> Postings | T: ...

    def get(self, key: str, default: object = None) -> object:
        found = self._made.get(key)
        if found is None:
            number = self.number.get(key)
            if number is None:
                return default
            found = self._made[key] = self._make(number)
        return found

    def __contains__(self, key: object) -> bool:
        return key in self.number

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def span(self, key: str) -> tuple[int, int] | None:
        """The key's pairs, from the first to the end (None: the key is not in the table)."""
        number = self.number.get(key)
        return None if number is None else (self._runs[number], self._runs[number + 1])

    def sizes(self) -> list[int]:
        """How many papers each key stands in, in the keys' order."""
        return np.diff(self.runs).tolist()  # type: ignore[no-any-return]

    def title_counts(self) -> np.ndarray:
        """Per pair: how many of its positions are in the title."""
        if not len(self.papers):
            return _NONE
        return np.add.reduceat(self.at < ABSTRACT_OFFSET, self.pairs[:-1]).astype(np.intp)

    def _make(self, number: int) -> Postings:
        first, end = self._runs[number], self._runs[number + 1]
        bounds: list[int] = self.pairs[first:end + 1].tolist()
        base = bounds[0]
        positions = self.at[base:bounds[-1]].tolist()
        return dict(zip(self.papers[first:end].tolist(),
                        [tuple(positions[a - base:b - base]) for a, b in zip(bounds, bounds[1:])]))
