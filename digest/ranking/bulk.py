"""Many keywords' score columns and match codes worked out together, as a few array operations.

``scoring.keyword_column`` and ``explain.match_codes`` work one keyword at a time:
a dozen small array operations and a loop over the papers for its phrase and
proximity scores, some 70 microseconds a keyword. With thousands of new keywords
(the readers of a run) that is most of the keyword work; here every position of
every word the keywords need is read into one sorted array of codes (``_Units``:
word, paper, position), and each component of the score (each word's saturated
frequency, the phrase, the words as written, their proximity) is found for every
keyword at once: a phrase start is a position whose next word's code is in the
array, a near word one whose code has another within the window.

The floats are those of the one-at-a-time path, bit for bit: each paper's
saturation is ``Index.saturation`` itself, and a
keyword's components are added into its row by ``np.bincount``, which adds its
weights one after another from zero, in the order ``alternative_scores`` adds them.
Exact keywords, feedback and meaning stay on that path (``eligible``).

The papers a run's exclusions remove (``explain.excluded``) are found the same
way (``prepare_exclusions``): where each alternative's words stand together, and
how often in the title and in all.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from typing import TYPE_CHECKING, Literal

import numpy as np

from .explain import ABSTRACT, PARTIAL, TITLE, about
from .profile import Keyword
from .scoring import MIN_CONTRIBUTION, PROXIMITY_WINDOW
from .spelling import spelling_variants
from .tokens import ABSTRACT_OFFSET, STOPWORDS, surface_form

if TYPE_CHECKING:
    from .alternatives import Alternative, Group
    from .filed import Filed
    from .index import Index

Source = tuple[str, object]  # ("group", a stem group) or ("word", a query word as written)
REACH = 32  # the most groups of an alternative worked out here (a phrase looks this far on)
DENSE = 64_000_000  # units x papers kept dense (``_Units.fields``, ``twice``: 2 bytes each) at most


def eligible(index: Index, keyword: Keyword) -> bool:
    """Whether ``prepare`` works the keyword out: not exact, with neither feedback nor meaning."""
    return not keyword.exact and not index.feedback and index.vectors is None


def prepare(index: Index, keywords: Iterable[Keyword]) -> None:
    """Every eligible keyword's column and match codes not yet cached on the index, worked out together."""
    columns, codes, seen = index.cache["columns"], index.cache["codes"], index.cache["bulk seen"]
    every = list(keywords)
    by_id = dict(zip(map(id, every), every))  # readers share keyword objects (``parse_keyword``): a few distinct
    fresh = [k for i, k in by_id.items() if i not in seen]
    seen.update(zip(map(id, fresh), fresh))  # the keywords kept: their ids are not reused
    todo: dict[tuple[object, ...], tuple[Keyword, list[Alternative]]] = {}
    for keyword in fresh:
        key = (keyword.words, keyword.exact, keyword.prefix)
        if key not in todo and key not in codes and (*key, False, False) not in columns and eligible(index, keyword):
            alts = index.alternatives(keyword)
            if all(len(alt) <= REACH for alt in alts):
                todo[key] = (keyword, alts)
    if not todo or not index.papers or (len(_units(index).ids) + 4 * len(todo)) * len(index.papers) > DENSE:
        return  # nothing new, no papers, or a listing so long that the one-at-a-time path costs less memory
    plan = _Plan(index, list(todo.values()))
    scores = plan.columns()
    rows = list(scores)  # each keyword's column, one object (``scoring.passing_mentions`` knows it by identity)
    for found, column, marks in zip(todo, rows, plan.codes(scores)):
        columns[(*found, False, False)] = column
        codes[found] = marks
    if index.rules.passing:
        passing = index.cache["passing"]
        for found, column, numbers in zip(todo, rows, plan.passing(scores)):
            passing[found] = (column, numbers)


def prepare_exclusions(index: Index, keywords: Iterable[Keyword]) -> None:
    """Every exclusion's papers (``explain.excluded``) not yet cached on the index, worked out together:
    as ``Index.excluded`` keeps them, and by number as an array (``Columns.excluded``).

    Per alternative and paper, where its words stand together: a paper is about
    the exclusion when a start is in the title, or when there are two or more and
    each word of the alternative is among the paper's strongest terms. Exact
    phrases stay on ``explain.excluded``'s own path.
    """
    cached = index.cache["excluded"]
    todo: dict[tuple[object, ...], list[Alternative]] = {}
    for keyword in keywords:
        key = (keyword.words, keyword.exact, keyword.prefix)  # ``Index.excluded``'s key
        if key not in todo and key not in cached and not keyword.exact:
            alts = index.alternatives(keyword)
            if all(len(alt) <= REACH for alt in alts):
                todo[key] = alts
    if not todo or not index.papers:
        return
    units = _units(index)
    if (len(units.ids) + 4 * len(todo)) * len(index.papers) > DENSE:
        return  # as ``prepare``: a listing too long to keep dense
    alts = [alt for each in todo.values() for alt in each]
    owner: np.ndarray = np.repeat(np.arange(len(todo)), [len(each) for each in todo.values()])
    sources = [list(map(units.group, alt)) for alt in alts]
    units.read()
    place, paper, in_title, in_all = units.phrase_counts(sources)
    hit = in_title > 0
    repeated = np.flatnonzero(~hit & (in_all > 1)).tolist()
    papers, places = paper.tolist(), place.tolist()
    hit[repeated] = [about(index, papers[n], alts[places[n]]) for n in repeated]
    cells = np.unique(owner[place[hit]] * len(index.papers) + paper[hit])  # each exclusion's papers, once
    which, numbers = np.divmod(cells, len(index.papers))
    ends: list[int] = np.asarray(np.searchsorted(which, np.arange(len(todo) + 1))).tolist()
    found, arrays = numbers.tolist(), index.cache["excluded numbers"]
    for n, done in enumerate(todo):
        cached[done] = set(found[ends[n]:ends[n + 1]])
        arrays[done] = numbers[ends[n]:ends[n + 1]]


def _units(index: Index) -> _Units:
    """The index's sources read into arrays so far (made the first time)."""
    found = index.cache["bulk"].get("units")
    if found is None:
        found = index.cache["bulk"]["units"] = _Units(index)
    return found


@dataclass(slots=True)
class _Alt:
    """One alternative of a keyword: its keyword's row, its groups' sources, its factors, its words' sources."""

    row: int
    level: int  # which of the keyword's alternatives (0: the first)
    groups: list[int]
    factors: list[float]
    words: list[int] | None  # the query words as written, when there is one per group


@dataclass
class _Plan:
    """The keywords' alternatives, and the sources (stem groups, words as written) they read."""

    index: Index
    found: list[tuple[Keyword, list[Alternative]]]  # the keywords, and their alternatives
    alts: list[_Alt] = field(default_factory=list)
    flat: _Units = field(init=False)
    keywords: list[Keyword] = field(init=False)

    def __post_init__(self) -> None:
        self.flat = units = _units(self.index)
        self.keywords = [k for k, _ in self.found]
        group, word = units.group, units.word
        for row, (keyword, alternatives) in enumerate(self.found):
            for level, groups in enumerate(alternatives):
                raw_words = self.index.alternative_words(keyword, groups)
                raw = [w for w in raw_words if w not in STOPWORDS] or list(raw_words)
                words = list(map(word, raw)) if len(raw) == len(groups) else None
                self.alts.append(_Alt(row, level, list(map(group, groups)), [], words))
        units.read()
        idfs = units.idfs
        for alt in self.alts:
            mine = [idfs[g] for g in alt.groups]
            total = sum(mine) or 1.0
            alt.factors = [idf / total for idf in mine]

    def columns(self) -> np.ndarray:
        """Keywords x papers: each keyword's column (``scoring.keyword_column``).

        A keyword's first alternative is added up in the keyword's own row, any other
        in a row after the keywords' (``_places``), taken into the keyword's by
        ``np.maximum``; a cell below ``MIN_CONTRIBUTION`` is 0 before that as after
        (the larger of two cells passes when either does). Only a cell with a
        component can be other than 0: those alone are compared.
        """
        size, keywords = len(self.index.papers), len(self.keywords)
        places = self._places()
        cells, values = self._components(places)
        rows = max(keywords, max(places, default=0) + 1)
        # float even when no cell has a component (``np.bincount`` of nothing gives integers, weights or not)
        flat = np.bincount(cells, weights=values, minlength=rows * size).astype(float, copy=False)
        flat[cells[flat[cells] < MIN_CONTRIBUTION]] = 0.0
        scores = flat.reshape(-1, size)
        out = scores[:keywords]
        for alt, place in zip(self.alts, places):
            if alt.level:
                np.maximum(out[alt.row], scores[place], out=out[alt.row])
        return out

    def _places(self) -> list[int]:
        """Each alternative's row in ``columns``: its keyword's for a first, one after the keywords' for another."""
        later = iter(range(len(self.keywords), len(self.keywords) + len(self.alts)))
        return [next(later) if alt.level else alt.row for alt in self.alts]

    def _components(self, places: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Every (alternative x paper) cell's components, in the order ``alternative_scores`` adds them; an
        alternative's cells in its row (``places``)."""
        flat, weights, size = self.flat, self.index.weights, len(self.index.papers)
        placed = list(zip(places, self.alts))
        parts: list[tuple[np.ndarray, np.ndarray]] = []
        for k in range(max((len(a.groups) for a in self.alts), default=0)):
            mine = [(j, a) for j, a in placed if len(a.groups) > k]
            parts.append(flat.scaled([j for j, _ in mine], [a.groups[k] for _, a in mine],
                                     [a.factors[k] for _, a in mine], size))
        ones = [(j, a.groups[0]) for j, a in placed if len(a.groups) == 1]
        many = [(j, a.groups) for j, a in placed if len(a.groups) > 1]
        parts.append(flat.scaled([j for j, _ in ones], [g for _, g in ones], [weights.phrase] * len(ones), size))
        parts.append(flat.together(many, weights.phrase, size))
        words = [(j, a.words) for j, a in placed if a.words is not None]
        single = [(j, w[0]) for j, w in words if len(w) == 1]
        parts.append(flat.scaled([j for j, _ in single], [w for _, w in single], [weights.surface] * len(single), size))
        parts.append(flat.together([(j, w) for j, w in words if len(w) > 1], weights.surface, size))
        parts.append(flat.near(many, weights.proximity, size))
        return np.concatenate([c for c, _ in parts]), np.concatenate([v for _, v in parts])

    def passing(self, scores: np.ndarray) -> list[np.ndarray]:
        """Each keyword's ``scoring.passing_mentions`` (its words' scores being its column)."""
        one = np.array([len([w for w in k.words if w not in STOPWORDS] or k.words) <= 1 for k in self.keywords])
        fields, twice = self.flat.fields, self.flat.twice
        hit: np.ndarray = np.zeros(scores.shape, dtype=bool)  # in a title, or every word of an alternative twice
        for _, rows, groups, _ in self._levels():
            hit[rows] |= ((fields[groups] & TITLE) != 0).any(axis=1) | twice[groups].all(axis=1)
        rows, numbers = np.nonzero((scores > 0) & ~hit & one[:, None])
        ends: list[int] = np.asarray(np.searchsorted(rows, np.arange(len(self.keywords) + 1))).tolist()
        return [numbers[a:b] for a, b in zip(ends, ends[1:])]

    def _levels(self) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
        """Per level (the keywords' first alternatives, then their second...): the rows, the groups (each row's
        first repeated to the widest), and whether each has several."""
        for level in range(max((a.level for a in self.alts), default=-1) + 1):
            mine = [a for a in self.alts if a.level == level]
            rows = np.array([a.row for a in mine], dtype=np.intp)
            width = max(len(a.groups) for a in mine)
            groups = np.array([a.groups + a.groups[:1] * (width - len(a.groups)) for a in mine], dtype=np.intp)
            yield level, rows, groups, np.array([len(a.groups) > 1 for a in mine])

    def codes(self, scores: np.ndarray) -> np.ndarray:
        """Keywords x papers: each keyword's match codes (``explain.match_codes``) from its column."""
        fields = self.flat.fields
        codes: np.ndarray = np.zeros(scores.shape, dtype=np.int8)
        domain = scores != 0
        for level, rows, groups, several in self._levels():
            codes[rows] = _level_codes(fields[groups], domain[rows], codes[rows], several, level == 0)
        return codes


def _level_codes(fields: np.ndarray, domain: np.ndarray, codes: np.ndarray, several: np.ndarray,
                 first: bool) -> np.ndarray:
    """``explain._alternative_codes`` for one alternative of each of many keywords (fields: keyword, group, paper)."""
    least, both, either = fields.min(axis=1), np.bitwise_and.reduce(fields, axis=1), np.bitwise_or.reduce(fields, axis=1)
    everywhere = domain & (least != 0)
    full = (both & TITLE) | (either & ABSTRACT)
    if first:
        codes = np.where(everywhere, full, np.int8(0))
    else:
        codes = np.where(everywhere & ((codes == 0) | (codes >= PARTIAL)), full, codes)
    partly = domain & (either != 0) & ~everywhere & (codes == 0) & several[:, None]
    return np.where(partly, either | PARTIAL, codes).astype(np.int8)


def _segments(starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The indices ``starts[n]`` to ``starts[n] + lengths[n]`` of every segment in turn, and each one's segment."""
    owner: np.ndarray = np.repeat(np.arange(len(lengths)), lengths)
    return np.arange(int(lengths.sum())) + np.repeat(starts - np.cumsum(lengths) + lengths, lengths), owner


class _Units:
    """Every source a plan has read (a stem group; a query word's written forms), as arrays kept on the index.

    Each source is a unit: its positions are codes ``(unit * papers + paper) *
    stride + position``, sorted; its (paper) cells, with their title and total
    counts and saturated frequency, are the runs of equal ``code // stride``.
    A run's chunks of readers bring new keywords but mostly the same words: a
    source is read from the postings the first time a plan needs it, with every
    other new one, and appended (a new unit's codes come after the others').
    """

    def __init__(self, index: Index) -> None:
        self.index, self.size = index, len(index.papers)
        longest = max((d.abstract_len for d in index.docs), default=0)
        self.stride = ABSTRACT_OFFSET + longest + 2 * PROXIMITY_WINDOW + REACH + 2
        self.ids: dict[Source, int] = {}
        self.pairs = _Pairs(index.postings, index.surface)
        self.pending: list[list[tuple[int, int]]] = []  # the units made since the last read: their keys' pairs
        self.counted: list[tuple[Group, int]] = []  # groups of one stem made since: ``Index.counts`` of their unit
        self.idfs: list[float] = []
        empty: np.ndarray = np.zeros(0, dtype=np.intp)
        self.saturated: np.ndarray = np.zeros(0)
        self.codes, self.paper, self.in_title, self.in_all = empty, empty, empty, empty
        self.first: np.ndarray = np.zeros(1, dtype=np.intp)  # each unit's cells, from first[u] to first[u + 1]
        self.at: np.ndarray = np.zeros(1, dtype=np.intp)  # each unit's codes likewise
        self.fields: np.ndarray = np.zeros((256, self.size), dtype=np.int8)  # units x papers: ``explain.group_codes``
        self.twice: np.ndarray = np.zeros((256, self.size), dtype=bool)  # units x papers: there twice or more

    def group(self, group: Group) -> int:
        """A stem group's unit (``Index.positions`` merges its stems' postings)."""
        found = self.ids.get(("group", group))
        if found is None:
            spans = self.pairs.spans(self.index.postings, group)
            found = self._add(("group", group), spans)
            if len(spans) == 1:  # its counts are ``Index.counts``: kept there when read (``read``)
                self.counted.append((group, found))
        return found

    def word(self, word: str) -> int:
        """A query word's unit (``Index.surface_postings`` merges its written forms' postings)."""
        found = self.ids.get(("word", word))
        if found is None:
            forms = ({surface_form(v) for v in spelling_variants(word) | {word}} if self.index.rules.spelling
                     else {surface_form(word)})
            found = self._add(("word", word), self.pairs.spans(self.index.surface, forms))
        return found

    def _add(self, source: Source, spans: list[tuple[int, int]]) -> int:
        found = self.ids[source] = len(self.ids)
        self.pending.append(spans)
        return found

    def read(self) -> None:
        """Read the units made since the last read into the arrays, all at once."""
        if not self.pending:
            return
        base, count = len(self.first) - 1, len(self.pending)
        spans = list(chain.from_iterable(self.pending))
        owner: np.ndarray = np.repeat(np.arange(base, base + count), [len(s) for s in self.pending])
        several = any(len(s) > 1 for s in self.pending)
        self.pending = []
        pairs = self.pairs
        begin = np.array([a for a, _ in spans], dtype=np.intp)
        pair, piece = _segments(begin, np.array([b for _, b in spans], dtype=np.intp) - begin)
        lengths, in_title = pairs.length[pair], pairs.in_title[pair]
        cells = owner[piece] * self.size + pairs.paper[pair]
        codes = np.sort(np.repeat(cells, lengths) * self.stride + pairs.at[_segments(pairs.start[pair], lengths)[0]])
        if several:  # a group of several stems: its papers' counts added up
            cells, inverse = np.unique(cells, return_inverse=True)
            in_title = np.bincount(inverse, weights=in_title, minlength=len(cells)).astype(np.intp)
            lengths = np.bincount(inverse, weights=lengths, minlength=len(cells)).astype(np.intp)
        self._append(base, count, cells, codes, in_title, lengths)
        counts, first = self.index.cache["counts"], self.first.tolist()
        for group, unit in self.counted:  # the same arrays as ``position_counts`` (a stem's papers come in order)
            a, b = first[unit], first[unit + 1]
            counts.setdefault(group, (self.paper[a:b], self.in_title[a:b], self.in_all[a:b]))
        self.counted = []

    def _append(self, base: int, count: int, cells: np.ndarray, codes: np.ndarray, in_title: np.ndarray,
                in_all: np.ndarray) -> None:
        unit, paper = np.divmod(cells, self.size)
        new = np.arange(base + 1, base + count + 1)
        self.first = _grown(self.first, len(self.paper) + np.asarray(np.searchsorted(unit, new)))
        self.at = _grown(self.at, len(self.codes) + np.asarray(np.searchsorted(codes, new * self.size * self.stride)))
        self.codes = _grown(self.codes, codes)
        self.paper = _grown(self.paper, paper)
        self.in_title = _grown(self.in_title, in_title)
        self.in_all = _grown(self.in_all, in_all)
        self.saturated = _grown(self.saturated, self.index.saturation((paper, in_title, in_all))[1])
        if base + count > len(self.fields):
            rows = 2 * max(len(self.fields), base + count)
            self.fields, self.twice = _widened(self.fields, base, rows), _widened(self.twice, base, rows)
        self.fields[unit, paper] = TITLE * (in_title > 0) + ABSTRACT * (in_all > in_title)
        self.twice[unit, paper] = in_all >= 2
        self.idfs += map(self.index.idf, np.diff(self.first[base:]).tolist())

    def scaled(self, rows: list[int], sources: list[int], factors: list[float], size: int) -> tuple[np.ndarray, np.ndarray]:
        """Cells ``row * size + paper`` and values ``factor * saturated`` of each source, for its row."""
        sources_ = np.array(sources, dtype=np.intp)
        lengths = self.first[sources_ + 1] - self.first[sources_]
        at, which = _segments(self.first[sources_], lengths)
        values = np.array(factors, dtype=float)[which] * self.saturated[at]
        return np.array(rows, dtype=np.intp)[which] * size + self.paper[at], values

    def _positions(self, sources: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Every code of each source, and which of ``sources`` (its place there) it is for."""
        sources_ = np.array(sources, dtype=np.intp)
        at, which = _segments(self.at[sources_], self.at[sources_ + 1] - self.at[sources_])
        return self.codes[at], which

    def _moved(self, codes: np.ndarray, old: np.ndarray, new: np.ndarray, step: int) -> np.ndarray:
        """The codes of the same papers and positions moved ``step`` on, in another source."""
        return codes + (new - old) * self.size * self.stride + step

    def _search(self, codes: np.ndarray, side: Literal["left", "right"] = "left") -> np.ndarray:
        """``np.searchsorted`` of the codes, looked for in their order (many times faster than in any order)."""
        order = np.argsort(codes, kind="stable")
        found: np.ndarray = np.empty(len(codes), dtype=np.intp)
        found[order] = np.searchsorted(self.codes, codes[order], side)
        return found

    def _has(self, codes: np.ndarray) -> np.ndarray:
        found = self._search(codes)
        return self.codes[np.minimum(found, len(self.codes) - 1)] == codes if len(self.codes) else codes < 0

    def together(self, alts: list[tuple[int, list[int]]], weight: float, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Cells and values ``weight * saturated`` of the positions where each alternative's sources stand one
        after another (``scoring.phrase_starts``, ``scoring.consecutive``)."""
        if not alts:
            return np.zeros(0, dtype=np.intp), np.zeros(0)
        codes, which = self._phrases([s for _, s in alts])
        return self._runs(codes, np.array([j for j, _ in alts], dtype=np.intp)[which], weight, size)

    def phrase_counts(self, alts: list[list[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per alternative (its place in ``alts``) and paper where its sources stand one after another
        (``scoring.phrase_starts``; a source alone: wherever it stands): the place, the paper, and how many
        such starts are in the title and in all."""
        if not alts:
            nothing: np.ndarray = np.zeros(0, dtype=np.intp)
            return nothing, nothing, nothing, nothing
        codes, which = self._phrases(alts)
        cells, paper, in_title, in_all = self._counted(codes, which, self.size)
        return cells // self.size, paper, in_title, in_all

    def _phrases(self, lists: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        """The codes of the positions where each list's sources stand one after another, and which list
        (its place in ``lists``) each is for: in runs per list and paper."""
        codes, which = self._positions([s[0] for s in lists])
        keep: np.ndarray = np.ones(len(codes), dtype=bool)
        paper: np.ndarray = (codes // self.stride) % self.size
        first = np.array([s[0] for s in lists], dtype=np.intp)[which]
        for k in range(1, max(map(len, lists))):
            has = np.array([len(s) > k for s in lists])[which]
            nxt = np.array([s[k] if len(s) > k else s[0] for s in lists], dtype=np.intp)[which]
            keep &= ~has | (self.fields[nxt, paper] != 0)  # the next source in the paper at all
            test = keep & has
            keep[test] = self._has(self._moved(codes[test], first[test], nxt[test], k))
        return codes[keep], which[keep]

    def near(self, alts: list[tuple[int, list[int]]], weight: float, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Cells and proximity scores of adjacent sources of each alternative near each other (``scoring.proximity_scores``)."""
        pairs = [(j, s[k], s[k + 1], len(s) - 1) for j, s in alts for k in range(len(s) - 1)]
        if not pairs:
            return np.zeros(0, dtype=np.intp), np.zeros(0)
        codes, which = self._positions([p[1] for p in pairs])
        right = np.array([p[2] for p in pairs], dtype=np.intp)[which]
        maybe = self.fields[right, (codes // self.stride) % self.size] != 0  # the other source in the paper at all
        codes, which, right = codes[maybe], which[maybe], right[maybe]
        moved = self._moved(codes, np.array([p[1] for p in pairs])[which], right, 0)
        close = self._search(moved + PROXIMITY_WINDOW, "right") > self._search(moved - PROXIMITY_WINDOW)
        rows = np.array([p[0] for p in pairs], dtype=np.intp)
        cells, values = self._runs(codes[close], np.arange(len(pairs))[which[close]], weight, size)
        pair, paper = np.divmod(cells, size)
        values = values / np.array([p[3] for p in pairs], dtype=float)[pair]
        cells = rows[pair] * size + paper
        if all(p[3] == 1 for p in pairs):
            return cells, values
        unique, inverse = np.unique(cells, return_inverse=True)  # a paper's pairs added up from zero, in order
        return unique, np.bincount(inverse.ravel(), weights=values, minlength=len(unique)).astype(float, copy=False)

    def _runs(self, codes: np.ndarray, rows: np.ndarray, weight: float, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Cells ``row * size + paper`` and ``weight * saturated`` of the positions (codes, in runs per row and paper)."""
        cell, paper, in_title, in_all = self._counted(codes, rows, size)
        if not len(cell):
            return cell, np.zeros(0)
        return cell, weight * self.index.saturation((paper, in_title, in_all))[1]

    def _counted(self, codes: np.ndarray, rows: np.ndarray,
                 size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per run of positions (codes, in runs per row and paper): its cell ``row * size + paper``, its paper,
        and how many of its positions are in the title and in all."""
        paper: np.ndarray = (codes // self.stride) % self.size
        cell = rows * size + paper
        if not len(cell):
            return cell, cell, cell, cell
        starts = np.flatnonzero(np.r_[True, cell[1:] != cell[:-1]])
        in_all = np.diff(np.r_[starts, len(cell)])
        in_title = np.add.reduceat((codes % self.stride) < ABSTRACT_OFFSET, starts).astype(np.intp)
        return cell[starts], paper[starts], in_title, in_all


class _Pairs:
    """The stems' and the written forms' tables (``filed.Filed``) as one range of pairs (a key's paper):
    each pair's paper, first position in ``at``, number of positions, and of those in the title."""

    def __init__(self, stems: Filed, forms: Filed) -> None:
        self.stems, self.forms = stems, forms
        self.paper = np.concatenate([stems.papers, forms.papers])
        self.start = np.concatenate([stems.pairs[:-1], forms.pairs[:-1] + len(stems.at)])
        self.length = np.concatenate([np.diff(stems.pairs), np.diff(forms.pairs)])
        self.in_title = np.concatenate([stems.title_counts(), forms.title_counts()])
        self.at = np.concatenate([stems.at, forms.at])

    def spans(self, table: Filed, keys: Iterable[str]) -> list[tuple[int, int]]:
        """The pairs of each of the keys that ``table`` (``stems`` or ``forms``) holds."""
        base = 0 if table is self.stems else len(self.stems.papers)
        return [(base + a, base + b) for a, b in filter(None, map(table.span, keys))]


def _grown(array: np.ndarray, more: np.ndarray) -> np.ndarray:
    """``array`` with ``more`` after it: a view of a buffer that doubles when full, so that appending
    a little at a time costs no more than once in all."""
    size, base = len(array), array.base if array.base is not None else array
    if size + len(more) > len(base):
        base = np.zeros(max(2 * len(base), size + len(more), 1024), dtype=array.dtype)
        base[:size] = array
    base[size:size + len(more)] = more
    return base[:size + len(more)]


def _widened(array: np.ndarray, kept: int, rows: int) -> np.ndarray:
    """``rows`` rows of zeros, the first ``kept`` of ``array`` copied in. Twice the rows needed: rows never
    written cost no memory (``np.zeros``: the system hands a zero page over when it is first written)."""
    grown = np.zeros((rows, array.shape[1]), dtype=array.dtype)
    grown[:kept] = array[:kept]
    return grown
