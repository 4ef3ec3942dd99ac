"""The index's keyword columns as rows of one matrix, for readers ranked together (``batch``).

A keyword's row holds its score column (``Columns.scores``), dense and as the
papers it scores, its match codes (``Columns.code_bytes``) and the papers it
mentions in passing (``Columns.passing``). Keywords that score and match alike
share a row. Rows are added as new keywords come; the sparse forms are joined
into one array (CSR: offsets, paper numbers, values), the rows added since the
last join appended when asked for, and a set of terms (``gather``) is read from
them without a loop per keyword.
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
_EMPTY: tuple[np.ndarray, np.ndarray] = (np.zeros(0, dtype=np.intp), np.zeros(0))
_UNKNOWN = (None, 0)  # a keyword without a term yet (``Matrix.terms``)


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
        self._parts: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {"scores": [_EMPTY], "passing": [_EMPTY]}
        self._joined: dict[str, Sparse] = {kind: (np.zeros(2, dtype=np.intp), *_EMPTY) for kind in self._parts}

    def term(self, keyword: Keyword) -> int:
        """The keyword's term, made (and its row filled) the first time it comes."""
        known = self._terms.get(id(keyword))
        if known is not None and known[0] is keyword:
            return known[1]
        term = len(self._term_rows)
        self._term_rows.append(self._row(keyword))
        self.matches += matches_by_code(keyword.text)
        self._terms[id(keyword)] = (keyword, term)  # the keyword kept: its id is not reused
        return term

    def terms(self, keywords: Sequence[Keyword]) -> np.ndarray:
        """Each keyword's ``term``: those already known found in one pass (a batch's readers share
        most keyword objects), the others made in their order."""
        known = map(self._terms.get, map(id, keywords), repeat(_UNKNOWN))  # a keyword kept: its id is its own
        found = np.fromiter(map(itemgetter(1), known), np.intp, len(keywords))
        for n in np.flatnonzero(found == 0).tolist():
            found[n] = self.term(keywords[n])
        return found

    def rows(self, terms: np.ndarray) -> np.ndarray:
        """The terms' rows."""
        if len(self._rows_of) < len(self._term_rows):
            self._rows_of = np.array(self._term_rows, dtype=np.intp)
        return self._rows_of[terms]

    def _row(self, keyword: Keyword) -> int:
        """The keyword's row, filled the first time it (or a keyword that scores and matches alike) comes."""
        column = self.table.scores(keyword)
        same = (id(column), id(self.table.code_bytes(keyword)))  # both cached by the table: ids not reused
        row = self._by_column.get(same)
        if row is None:
            row = self._by_column[same] = self._add(keyword, column)
        return row

    def _add(self, keyword: Keyword, column: np.ndarray) -> int:
        row = len(self._parts["scores"])
        if row == len(self.scores):
            self.scores = np.concatenate([self.scores, np.zeros_like(self.scores)])
            self.codes = np.concatenate([self.codes, np.zeros_like(self.codes)])
        self.scores[row] = column
        self.codes[row] = np.frombuffer(self.table.code_bytes(keyword), dtype=np.int8)
        numbers = np.flatnonzero(column)
        self._parts["scores"].append((numbers, column[numbers]))
        passing = self.table.passing(keyword) if self.table.index.rules.passing else _EMPTY[0]
        self._parts["passing"].append((passing, column[passing]))  # without vectors the words are the scores
        return row

    def sparse(self, kind: str) -> Sparse:
        """Every row's ``scores`` or ``passing`` papers and values, joined (CSR)."""
        offsets, numbers, values = self._joined[kind]
        parts = self._parts[kind][len(offsets) - 1:]
        if parts:
            ends = offsets[-1] + np.cumsum([len(n) for n, _ in parts])
            self._joined[kind] = (np.concatenate([offsets, ends]), np.concatenate([numbers, *(n for n, _ in parts)]),
                                  np.concatenate([values, *(v for _, v in parts)]))
        return self._joined[kind]


def gather(table: Sparse, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each of ``rows`` in turn, its entries: which of ``rows`` (position), paper numbers, values."""
    offsets, numbers, values = table
    starts, lengths = offsets[rows], offsets[rows + 1] - offsets[rows]
    total = int(lengths.sum())
    term: np.ndarray = np.repeat(np.arange(len(rows)), lengths)
    at = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths) + starts[term]
    return term, numbers[at], values[at]


def summed(term_reader: np.ndarray, numbers: np.ndarray, values: np.ndarray, readers: int, size: int) -> np.ndarray:
    """Readers x papers: the values added into their (reader, paper) cell from zero, one after another, in order.

    ``np.bincount`` adds its weights in their order: each reader's terms in the
    reader's keyword order give the same float, bit for bit, as adding the
    keywords' columns one after another (``Columns.totals``).
    """
    return np.bincount(term_reader * size + numbers, weights=values, minlength=readers * size).reshape(readers, size)


def slots(rows: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Each reader's rows, flat in order, and which reader each belongs to."""
    flat = np.fromiter((row for mine in rows for row in mine), np.intp)
    return flat, np.repeat(np.arange(len(rows)), [len(mine) for mine in rows])


def bounds(rows: np.ndarray, count: int) -> list[int]:
    """Where each of ``count`` readers' entries start in ``rows`` (their reader, ascending), and the end."""
    return cast(np.ndarray, np.searchsorted(rows, np.arange(count + 1))).tolist()
