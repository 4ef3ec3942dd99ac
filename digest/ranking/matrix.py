"""The index's keyword columns as rows of one matrix, for readers ranked together (``batch``).

A keyword's row holds its score column (``Columns.scores``), dense and as the
papers it scores, its match codes (``Columns.code_bytes``) and the papers it
mentions in passing (``Columns.passing``). Keywords that score and match alike
share a row. Rows are added as new keywords come, those of a batch's new keywords
together (one copy, one ``nonzero``); the sparse forms are one array each (CSR:
offsets, paper numbers, values), grown in place, and a set of terms (``gather``)
is read from them without a loop per keyword.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat
from operator import itemgetter
from typing import cast

import numpy as np

from .columns import Columns
from .explain import PARTIAL, Match, matches_by_code
from .profile import Keyword

Sparse = tuple[np.ndarray, np.ndarray, np.ndarray]  # offsets per row, paper numbers, values (CSR)
CODES = PARTIAL * 2  # match codes 0 to 7 (``explain``)
_UNKNOWN = (None, 0)  # a keyword without a term yet (``Matrix.terms``)
_NOTHING: np.ndarray = np.zeros(0, dtype=np.intp)  # no passing mentions (the word rules off)


class Matrix:
    """Per keyword row: scores (dense and sparse), match codes, passing mentions. Row 0 is no keyword.

    Each keyword object is a term (``term``): its row and its ``Match`` per code
    (``explain.matches_by_code``, ``CODES`` entries a term in ``matches``), which name the
    keyword as the reader wrote it. Term 0 is no keyword (row 0, no matches).
    """

    def __init__(self, table: Columns, size: int) -> None:
        self.table, self.size = table, size
        self.scores = np.zeros((64, size))
        self.codes: np.ndarray = np.zeros((64, size), dtype=np.int8)
        self.matches: list[Match | None] = [None] * CODES  # per term, by code
        self._terms: dict[int, tuple[Keyword, int]] = {}  # id(keyword) -> (the keyword, its term)
        self._term_rows: list[int] = [0]
        self._rows_of: np.ndarray = np.zeros(1, dtype=np.intp)  # ``_term_rows`` as an array, when asked for
        self._by_column: dict[tuple[int, int], int] = {}  # ids of (score column, code bytes) -> row
        self._filled = 1  # rows with their columns in (row 0: zeros)
        self._new: list[tuple[Keyword, np.ndarray, bytes]] = []  # rows named, their columns not yet in (``_fill``)
        self._sparse = {"scores": _Rows(), "passing": _Rows()}

    def term(self, keyword: Keyword) -> int:
        """The keyword's term, made (and its row filled) the first time it comes."""
        term = self._term(keyword)
        self._fill()
        return term

    def terms(self, keywords: Sequence[Keyword]) -> np.ndarray:
        """Each keyword's ``term``: those already known found in one pass (a batch's readers share
        most keyword objects), the others made in their order and their rows filled together."""
        known = map(self._terms.get, map(id, keywords), repeat(_UNKNOWN))  # a keyword kept: its id is its own
        found = np.fromiter(map(itemgetter(1), known), np.intp, len(keywords))
        missing = np.flatnonzero(found == 0).tolist()
        if missing:
            for n in missing:
                found[n] = self._term(keywords[n])
            self._fill()
        return found

    def rows(self, terms: np.ndarray) -> np.ndarray:
        """The terms' rows."""
        if len(self._rows_of) < len(self._term_rows):
            self._rows_of = np.array(self._term_rows, dtype=np.intp)
        return self._rows_of[terms]

    def sparse(self, kind: str) -> Sparse:
        """Every row's ``scores`` or ``passing`` papers and values (CSR)."""
        return self._sparse[kind].joined()

    def _term(self, keyword: Keyword) -> int:
        """The keyword's term; a new one's row named, and left for ``_fill`` when it is new too."""
        known = self._terms.get(id(keyword))
        if known is not None:
            return known[1]
        column, codes = self.table.scores(keyword), self.table.code_bytes(keyword)
        same = (id(column), id(codes))  # both cached by the table: ids not reused
        row = self._by_column.get(same)
        if row is None:
            row = self._by_column[same] = self._filled + len(self._new)
            self._new.append((keyword, column, codes))
        term = len(self._term_rows)
        self._term_rows.append(row)
        self.matches += matches_by_code(keyword.text)
        self._terms[id(keyword)] = (keyword, term)  # the keyword kept: its id is not reused
        return term

    def _fill(self) -> None:
        """The new rows' columns: dense scores and codes, the papers scored and those mentioned in passing."""
        new, self._new = self._new, []
        if not new:
            return
        start, end = self._filled, self._filled + len(new)
        self._room(end)
        block = self.scores[start:end]
        np.stack([column for _, column, _ in new], out=block)
        self.codes[start:end] = np.frombuffer(b"".join([codes for _, _, codes in new]), dtype=np.int8).reshape(
            len(new), self.size)
        dense = block.reshape(-1)  # a view: the rows are contiguous
        cells = np.flatnonzero(dense)  # row by row, each's papers by number
        rows: np.ndarray = cells // self.size
        self._sparse["scores"].add(np.bincount(rows, minlength=len(new)), cells - rows * self.size, dense[cells])
        passing = [self.table.passing(keyword) if self.table.index.rules.passing else _NOTHING for keyword, _, _ in new]
        lengths = np.fromiter(map(len, passing), np.intp, len(passing))
        numbers = np.concatenate(passing)
        self._sparse["passing"].add(lengths, numbers, block[np.repeat(np.arange(len(new)), lengths), numbers])
        self._filled = end

    def _room(self, rows: int) -> None:
        """Dense rows for at least ``rows`` rows, and as many again (those past the filled ones are never read).

        Rows never written cost no memory (``np.empty``: the system hands a page
        over when it is first written), so room for twice what is asked is free; a
        run's first chunk brings half its keywords, and the rows are then not copied again.
        """
        if rows <= len(self.scores):
            return
        count = 2 * max(rows, len(self.scores))
        for name in ("scores", "codes"):
            old = getattr(self, name)
            grown = np.empty((count, self.size), dtype=old.dtype)
            grown[:self._filled] = old[:self._filled]
            setattr(self, name, grown)


class _Rows:
    """A CSR table grown in place, row after row; row 0 has no entries."""

    def __init__(self) -> None:
        self.offsets: np.ndarray = np.zeros(65, dtype=np.intp)
        self.numbers: np.ndarray = np.zeros(1024, dtype=np.intp)
        self.values: np.ndarray = np.zeros(1024)
        self.count, self.used = 1, 0  # rows, entries

    def add(self, lengths: np.ndarray, numbers: np.ndarray, values: np.ndarray) -> None:
        """Rows with ``lengths`` entries each, their ``numbers`` and ``values`` one row after another."""
        rows, used = self.count + len(lengths), self.used + len(numbers)
        if rows + 1 > len(self.offsets):
            self.offsets = _grown(self.offsets, rows + 1, self.count + 1)
        if used > len(self.numbers):
            self.numbers, self.values = _grown(self.numbers, used, self.used), _grown(self.values, used, self.used)
        np.cumsum(lengths, out=self.offsets[self.count + 1:rows + 1])
        self.offsets[self.count + 1:rows + 1] += self.used
        self.numbers[self.used:used], self.values[self.used:used] = numbers, values
        self.count, self.used = rows, used

    def joined(self) -> Sparse:
        return self.offsets[:self.count + 1], self.numbers[:self.used], self.values[:self.used]


def _grown(array: np.ndarray, size: int, kept: int) -> np.ndarray:
    """``array`` with room for ``size`` entries (twice its length at least), its first ``kept`` kept."""
    grown = np.empty(max(size, 2 * len(array)), dtype=array.dtype)
    grown[:kept] = array[:kept]
    return grown


def gather(table: Sparse, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each of ``rows`` in turn, its entries: how many (per row), their paper numbers and values."""
    offsets, numbers, values = table
    starts = offsets[rows]
    lengths: np.ndarray = offsets[rows + 1] - starts
    ends = np.cumsum(lengths)
    at = np.arange(ends[-1] if len(ends) else 0) + np.repeat(starts - ends + lengths, lengths)
    return lengths, numbers[at], values[at]


def summed(cells: np.ndarray, values: np.ndarray, readers: int, size: int) -> np.ndarray:
    """Readers x papers: the values added into their cell (reader x ``size`` + paper) from zero, one after
    another, in order.

    ``np.bincount`` adds its weights in their order: each reader's terms in the
    reader's keyword order give the same float, bit for bit, as adding the
    keywords' columns one after another (``Columns.totals``).
    """
    totals = np.bincount(cells, weights=values, minlength=readers * size)
    return totals.astype(float, copy=False).reshape(readers, size)  # of no cells at all, bincount gives integers


def bounds(rows: np.ndarray, count: int) -> list[int]:
    """Where each of ``count`` readers' entries start in ``rows`` (their reader, ascending), and the end."""
    return cast(np.ndarray, np.searchsorted(rows, np.arange(count + 1))).tolist()
