"""The index's keyword work as arrays: the day's papers by distinct keywords.

Each keyword a reader wrote becomes, once per index, a dense column of its score
in every paper (``scoring``, zero where it does not match), a column of how each
paper matches it (``explain.match_codes``) and, for an exclusion, the numbers of
the papers it removes. A reader's total is then the weighted sum
of a few columns, added in the order of their keywords (so every total is the
same float, bit for bit, as summing the keyword tables one paper at a time), and
selection needs no per-paper Python: a threshold is a comparison, the best few a
partition. ``Match`` objects are made for the papers picked only.

With 1,000 papers a column is 8 KB: 5,000 distinct keywords cost 40 MB, shared by
every reader (and, copy-on-write, by forked workers).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import cast

import numpy as np

from . import bulk
from .explain import match_codes
from .index import Index, keyword_key
from .profile import Keyword, Profile
from .scoring import closeness, passing_mentions


BY_OBJECT = 100_000  # keyword objects ``scores`` remembers (``parse_keyword`` caches as many)
_NOTHING: tuple[np.ndarray, np.ndarray] = (np.zeros(0, dtype=np.intp), np.zeros(0))  # no passing mention counts


class Columns:
    """Per keyword: a score column, a match-code column, and for an exclusion the papers removed."""

    def __init__(self, index: Index) -> None:
        # a weak reference: the table lives as long as its index (``_COLUMNS``), and a strong
        # one from the value to its key would keep every index ever ranked alive
        self.index = cast(Index, weakref.proxy(index))
        self.size = len(index.papers)
        self._scores: dict[tuple[object, ...], np.ndarray] = {}
        self._excluded: dict[tuple[object, ...], np.ndarray] = {}
        self._complete: dict[tuple[object, ...], bool] = {}
        self._bytes: dict[tuple[object, ...], bytes] = {}
        self._by_object: dict[int, tuple[Keyword, np.ndarray]] = {}  # ``scores`` by the keyword object itself
        self._bytes_by_object: dict[int, tuple[Keyword, bytes]] = {}  # ``code_bytes`` likewise
        self._over: dict[float, dict[tuple[object, ...], tuple[np.ndarray, np.ndarray]]] = {}  # per cap
        self._over_by_object: dict[float, dict[int, tuple[Keyword, tuple[np.ndarray, np.ndarray]]]] = {}

    def scores(self, keyword: Keyword) -> np.ndarray:
        found = self._by_object.get(id(keyword))  # readers share their parsed keywords (``parse_keyword``)
        if found is not None and found[0] is keyword:
            return found[1]
        key = keyword_key(keyword)
        column = self._scores.get(key)
        if column is None:
            column = self._scores[key] = self.index.keyword_column(keyword)
        if len(self._by_object) < BY_OBJECT:
            self._by_object[id(keyword)] = (keyword, column)  # the keyword kept: its id is not reused
        return column

    def words(self, keyword: Keyword) -> np.ndarray:
        """The keyword's score in every paper from its words alone (its score column without vectors)."""
        if self.index.vectors is None:
            return self.scores(keyword)
        key = ("words", *keyword_key(keyword))
        column = self._scores.get(key)
        if column is None:
            column = self._scores[key] = self.index.keyword_column(keyword, meaning=False)
        return column

    def word_totals(self, wanted: Sequence[Keyword]) -> np.ndarray:
        """Each paper's weighted sum of the keywords' word scores (no meaning)."""
        total = np.zeros(self.size)
        for keyword in wanted:
            total += self.words(keyword) * keyword.weight
        return total

    def recalled(self, wanted: Sequence[Keyword], cosine: float, words: float) -> np.ndarray:
        """Papers close in meaning (``cosine`` or more) to a keyword whose own words, weighted, score
        ``words`` or more (and above 0): ``select.qualified_mask``'s recall rule."""
        found: np.ndarray = np.zeros(self.size, dtype=bool)
        for keyword in wanted:
            column = self.words(keyword) * keyword.weight
            found |= (column > 0) & (column >= words) & (self.closeness(keyword) >= cosine)
        return found

    def closeness(self, keyword: Keyword) -> np.ndarray:
        """Every paper's cosine to the keyword (``scoring.closeness``), cached."""
        key = ("closeness", *keyword_key(keyword))
        column = self._scores.get(key)
        if column is None:
            column = self._scores[key] = closeness(self.index, keyword)
        return column

    def passing(self, keyword: Keyword) -> np.ndarray:
        """The papers that mention the keyword in passing (``scoring.passing_mentions``)."""
        key = ("passing", *keyword_key(keyword))
        found = self._excluded.get(key)
        if found is None:
            found = self._excluded[key] = passing_mentions(self.index, keyword, self.words(keyword))
        return found

    def passing_excess(self, wanted: Sequence[Keyword], cap: float) -> np.ndarray | None:
        """Per paper, the weighted word score above ``cap`` of the keywords it mentions only in passing."""
        table = self._over.get(cap)
        if table is None:
            table = self._over[cap] = {}
            self._over_by_object[cap] = {}
        known = self._over_by_object[cap]  # as ``scores``: by the keyword object first
        over: np.ndarray | None = None
        for keyword in wanted:
            mine = known.get(id(keyword))
            if mine is not None and mine[0] is keyword:
                found = mine[1]
            else:
                key = (keyword.words, keyword.exact, keyword.prefix, keyword.weight)  # keyword_key, and the weight
                stored = table.get(key)
                found = stored if stored is not None else table.setdefault(key, self._passing_over(keyword, cap))
                if len(known) < BY_OBJECT:
                    known[id(keyword)] = (keyword, found)  # the keyword kept: its id is not reused
            if found is not _NOTHING:
                over = np.zeros(self.size) if over is None else over
                over[found[0]] += found[1]
        return over

    def _passing_over(self, keyword: Keyword, cap: float) -> tuple[np.ndarray, np.ndarray]:
        """The papers where the keyword's passing mention scores above ``cap``, and by how much."""
        numbers = self.passing(keyword)
        excess = self.words(keyword)[numbers] * keyword.weight - cap
        above = excess > 0
        return (numbers[above], excess[above]) if above.any() else _NOTHING

    def excluded(self, keyword: Keyword) -> np.ndarray:
        """The papers the exclusion removes, by number (as ``bulk.prepare_exclusions`` leaves them)."""
        key = keyword_key(keyword)
        found = self._excluded.get(key)
        if found is None:
            found = self.index.cache["excluded numbers"].get(key)
            if found is None:
                found = np.array(sorted(self.index.excluded(keyword)), dtype=np.intp)
            self._excluded[key] = found
        return found

    def codes(self, keyword: Keyword) -> np.ndarray:
        """How each paper matches the keyword (``explain.match_codes``; 0: it does not)."""
        return match_codes(self.index, keyword)

    def code_bytes(self, keyword: Keyword) -> bytes:
        """``codes`` as bytes (a code is 0-7): read paper by paper, by number, as a walk down the picks does.

        Found by the keyword object first, as ``scores`` is (every reader's walk asks for each of its keywords).
        """
        known = self._bytes_by_object.get(id(keyword))
        if known is not None and known[0] is keyword:
            return known[1]
        key = ("bytes", *keyword_key(keyword))
        found = self._bytes.get(key)
        if found is None:
            found = self._bytes[key] = self.codes(keyword).tobytes()
        if len(self._bytes_by_object) < BY_OBJECT:
            self._bytes_by_object[id(keyword)] = (keyword, found)  # the keyword kept: its id is not reused
        return found

    def complete(self, keyword: Keyword) -> bool:
        """Whether the keyword names a match for every paper it scores (it does, but for meaning or feedback)."""
        key = keyword_key(keyword)
        found = self._complete.get(key)
        if found is None:
            found = self._complete[key] = bool(np.array_equal(self.codes(keyword) > 0, self.scores(keyword) > 0))
        return found

    def totals(self, wanted: Sequence[Keyword]) -> np.ndarray:
        """Each paper's weighted sum of the keywords' scores, added in the keywords' order."""
        if not wanted:
            return np.zeros(self.size)
        first = wanted[0]
        total = self.scores(first) * first.weight if first.weight != 1.0 else self.scores(first).copy()
        for keyword in wanted[1:]:
            if keyword.weight == 1.0:
                total += self.scores(keyword)
            else:
                total += self.scores(keyword) * keyword.weight
        return total

    def removed(self, excluded: Sequence[Keyword]) -> np.ndarray | None:
        """The numbers of the papers the profile's exclusions remove (None: none)."""
        found = [f for f in map(self.excluded, excluded) if f.size]
        if len(found) < 2:
            return found[0] if found else None
        return np.array(sorted(set().union(*map(np.ndarray.tolist, found))), dtype=np.intp)  # a few: faster than numpy

    def explained_mask(self, wanted: Sequence[Keyword]) -> np.ndarray | None:
        """Papers some keyword names as a match; None when that is every paper a keyword scores."""
        if all(self.complete(k) for k in wanted):
            return None
        return np.logical_or.reduce([self.codes(k) > 0 for k in wanted])

    def prepare(self, profiles: Sequence[Profile]) -> None:
        """Every keyword's column and exclusion now (before forking workers that would each redo them)."""
        bulk.prepare(self.index, [keyword for profile in profiles for keyword in profile.wanted])
        bulk.prepare_exclusions(self.index, [keyword for profile in profiles for keyword in profile.excluded])
        for profile in profiles:
            for keyword in profile.wanted:
                self.scores(keyword)
                self.words(keyword)
                self.code_bytes(keyword)
                if self.index.rules.passing:
                    self.passing(keyword)
            for keyword in profile.excluded:
                self.excluded(keyword)


_COLUMNS: weakref.WeakKeyDictionary[Index, Columns] = weakref.WeakKeyDictionary()


def columns(index: Index) -> Columns:
    """The index's columns, made once per index and shared by every reader."""
    found = _COLUMNS.get(index)
    if found is None:
        found = _COLUMNS[index] = Columns(index)
    return found
