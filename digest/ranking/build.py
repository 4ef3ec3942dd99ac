"""The index's tables, built from the listing: each text split once, each distinct word worked out once.

A listing of 1,000 papers holds about 130,000 words but only 13,000 distinct
ones. What a word costs (whether it is a stopword, its stem, its form as
written) is found once per distinct word (``_Lexicon``); every word of the
listing is then a number, and the positions are gathered per stem and per form
by sorting arrays of numbers (``_filed``), not word by word in Python. The
tables keep those arrays (``filed.Filed``): a key's dict is made when it is read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain, compress, count, filterfalse, repeat

import numpy as np

from ..model import Paper
from .collector import collector_paused
from .filed import Filed, Postings
from .tokens import ABSTRACT_OFFSET, STOPWORDS, as_word, parts, singular, stems

__all__ = ["Doc", "Filed", "Postings", "Tables", "build"]
Fields = list[tuple[list[str], list[tuple[int, str]]]]  # each field's parts and joined hyphenated words (``parts``)


@dataclass(slots=True)
class Doc:
    title_len: int
    abstract_len: int
    words: Sequence[str]  # the words that are not stopwords, the title's then the abstract's
    counts: Counter[str] = field(default_factory=Counter)  # stem -> how often (a joined hyphenated word not counted)
    shares: list[tuple[str, float]] | None = None
    strongest: frozenset[str] | None = None
    _raw: dict[int, str] | None = field(default=None, repr=False)

    @property
    def raw(self) -> dict[int, str]:
        """Position -> the word there (made on first need: only exact phrases look)."""
        if self._raw is None:
            abstract = range(ABSTRACT_OFFSET, ABSTRACT_OFFSET + self.abstract_len)
            self._raw = dict(zip(chain(range(self.title_len), abstract), self.words))
        return self._raw


@dataclass(slots=True)
class Tables:
    docs: list[Doc]
    postings: Filed  # stem -> where it stands in each paper
    surface: Filed  # the word as written, give or take a plural -> where
    vocabulary: dict[str, tuple[str, ...]]  # word -> its stems, in the order the listing first has them


def build(papers: Sequence[Paper], spelling: bool) -> Tables:
    """Every paper's positions, gathered per stem and per written form, kept as tuples.

    Positions count the words that are not stopwords, the title's from 0 and the
    abstract's from ``ABSTRACT_OFFSET``. A hyphenated word (``multi-modal``) is
    also its joined form, at its first part's position (unless that part is a
    stopword), after the field's own words; with the ``spelling`` rule the joined
    form is also a form as written. Each table's keys come in the order the
    listing first has them, each key's papers in order.

    Tuples of ints, unlike lists, are left alone by Python's cycle collector once
    it has seen them: the postings are most of the objects a run keeps, and a
    collector walking them again at every full collection cost a fifth of the
    ranking's time.
    """
    with collector_paused():  # the positions form no cycles (``collector``)
        fields = [parts(text) for paper in papers for text in (paper.title, paper.abstract)]
        lexicon = _Lexicon()
        words = _Words(fields, lexicon)
        joined = words.joined(fields, lexicon)
        postings = _filed(*_in_filing_order(words.found, joined, "stem"), lexicon.stems.names)
        written = _in_filing_order(words.found, joined if spelling else None, "form")
        surface = _filed(*written, lexicon.forms.names)
        vocabulary: dict[str, tuple[str, ...]] = dict(zip(lexicon.words, zip(lexicon.word_stems)))
        return Tables(words.docs(lexicon), postings, surface, vocabulary)


class _Numbers(dict[str, int]):
    """Strings -> numbers 0, 1, ... in the order first given; ``names`` the strings by number."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def add(self, strings: list[str]) -> list[int]:
        """The strings' numbers, new strings numbered after the others."""
        fresh = list(filterfalse(self.__contains__, dict.fromkeys(strings)))
        self.update(zip(fresh, count(len(self.names))))
        self.names += fresh
        return list(map(self.__getitem__, strings))


class _Lexicon:
    """The listing's distinct words, each worked out once: its stem and written form, as numbers.

    Equal strings are made one object (``same``): the dicts keyed by them then
    find a key by its identity, without reading the string again.
    """

    def __init__(self) -> None:
        self.same: dict[str, str] = {}
        self.words: list[str] = []  # the words that are not stopwords, in the order the listing first has them
        self.word_stems: list[str] = []  # their stems
        self.stem_of: dict[str, str] = {}  # word -> stem, of every word stemmed so far
        self.stems, self.forms = _Numbers(), _Numbers()

    def of_parts(self, found: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For each part as found (distinct), its word's number in ``words`` (-1 for a stopword); for each
        word of ``words``, the numbers of its stem and its form."""
        lowered = list(map(str.lower, found))  # ``as_word``, which differs only on parts that end in ``s``
        for n in compress(range(len(found)), map(str.endswith, found, repeat("s"))):
            lowered[n] = as_word(found[n])
        same = self.same
        words = list(map(same.setdefault, lowered, lowered))
        self.words = list(dict.fromkeys(filterfalse(STOPWORDS.__contains__, words)))
        number = dict(zip(self.words, count()))
        self.word_stems = self.stemmed(self.words)
        word_ids = np.fromiter(map(number.get, words, repeat(-1)), np.intp, len(words))
        stem_ids = np.array(self.stems.add(self.word_stems), np.intp)
        form_ids = np.array(self.forms.add(self.written(self.words)), np.intp)
        return word_ids, stem_ids, form_ids

    def stemmed(self, words: list[str]) -> list[str]:
        """Each word's stem, the words not yet stemmed stemmed in one call."""
        stem_of = self.stem_of
        fresh = list(filterfalse(stem_of.__contains__, dict.fromkeys(words)))
        found = stems(fresh)
        stem_of.update(zip(fresh, map(self.same.setdefault, found, found)))
        return list(map(stem_of.__getitem__, words))

    def written(self, words: list[str]) -> list[str]:
        """Each word's key in the surface table: as written, give or take a plural."""
        forms = list(words)  # ``singular``, which changes only words that end in ``s``
        for n in compress(range(len(words)), map(str.endswith, words, repeat("s"))):
            forms[n] = singular(words[n]) or words[n]
        return list(map(self.same.setdefault, forms, forms))


@dataclass(slots=True)
class _Found:
    """Words of the listing in the order filed, as numbers: their field (paper ``n``'s title is
    ``2 * n``, its abstract ``2 * n + 1``), position, stem and written form."""

    field: np.ndarray
    at: np.ndarray
    stem: np.ndarray
    form: np.ndarray


class _Words:
    """Every field's words that are not stopwords, and their positions."""

    def __init__(self, fields: Fields, lexicon: _Lexicon) -> None:
        lengths = np.fromiter(map(len, (f[0] for f in fields)), np.intp, len(fields))
        size = int(lengths.sum())
        first: dict[str, int] = {}  # each distinct part -> where it first comes: its number
        codes = np.fromiter(map(first.setdefault, chain.from_iterable(f[0] for f in fields), count()), np.intp, size)
        word_ids: np.ndarray = np.full(size, -1, np.intp)  # by a part's number
        word_ids[np.fromiter(first.values(), np.intp, len(first))], stem_ids, form_ids = lexicon.of_parts(list(first))
        self.starts = np.cumsum(lengths) - lengths  # each field's first part, among all
        words = word_ids[codes]
        self.kept = words >= 0
        field_of: np.ndarray = np.repeat(np.arange(len(fields)), lengths)
        kept_so_far = np.concatenate([[0], np.cumsum(self.kept)])  # kept words before each part
        self.lengths = kept_so_far[self.starts + lengths] - kept_so_far[self.starts]  # each field's kept words
        offsets = np.where(np.arange(len(fields)) % 2, ABSTRACT_OFFSET, 0) - kept_so_far[self.starts]
        self.at = kept_so_far[1:] - 1 + offsets[field_of]  # a kept part's position (meaningless for a stopword)
        self.words = words[self.kept]
        self.found = _Found(field_of[self.kept], self.at[self.kept], stem_ids[self.words], form_ids[self.words])

    def joined(self, fields: Fields, lexicon: _Lexicon) -> _Found:
        """The joined forms of the hyphenated words whose first part is kept, at that part's position."""
        joins = [(n, at, word) for n, (_, field_joins) in enumerate(fields) for at, word in field_joins]
        numbers, at, all_words = zip(*joins) if joins else ((), (), ())
        field_of: np.ndarray = np.array(numbers, np.intp)
        first = self.starts[field_of] + np.array(at, np.intp)  # the first part's number, among all
        kept = self.kept[first]
        words = list(compress(all_words, kept.tolist()))
        stem_ids = np.array(lexicon.stems.add(lexicon.stemmed(words)), np.intp)
        form_ids = np.array(lexicon.forms.add(lexicon.written(words)), np.intp)
        return _Found(field_of[kept], self.at[first[kept]], stem_ids, form_ids)

    def docs(self, lexicon: _Lexicon) -> list[Doc]:
        """Each paper's field lengths, words and stem counts."""
        title, abstract = self.lengths[0::2].tolist(), self.lengths[1::2].tolist()
        ends = np.cumsum(self.lengths[0::2] + self.lengths[1::2])
        spans = list(map(slice, (ends - self.lengths[0::2] - self.lengths[1::2]).tolist(), ends.tolist()))
        words = _objects(lexicon.words)[self.words].tolist()
        stems_ = _objects(lexicon.stems.names)[self.found.stem].tolist()
        kept = map(tuple, map(words.__getitem__, spans))
        counts: map[Counter[str]] = map(Counter, map(stems_.__getitem__, spans))
        return list(map(Doc, title, abstract, kept, counts))


def _objects(strings: list[str]) -> np.ndarray:
    """The strings as a numpy array of them: picked out by an array of numbers, in C."""
    return np.fromiter(strings, object, len(strings))


def _in_filing_order(words: _Found, joined: _Found | None, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The keys (``stem`` or ``form``), papers and positions: each field's words, then its joined words."""
    if joined is None:
        return getattr(words, key), words.field // 2, words.at
    order = _stable_order(np.concatenate([words.field * 2, joined.field * 2 + 1]))
    keys, fields, at = (np.concatenate([getattr(words, name), getattr(joined, name)])[order]
                        for name in (key, "field", "at"))
    return keys, fields // 2, at


def _filed(keys: np.ndarray, papers: np.ndarray, at: np.ndarray, names: list[str]) -> Filed:
    """Each key's positions per paper: the keys in the order they first come, the papers in order,
    each paper's positions in the order given."""
    if not len(keys):
        return Filed.empty()
    numbers = _first_come(keys, len(names))
    rank: np.ndarray = np.empty(len(names), np.intp)
    rank[numbers] = np.arange(len(numbers))
    ranks = rank[keys]
    order = _stable_order(ranks)
    ranks, papers, at = ranks[order], papers[order], at[order]
    pairs = np.flatnonzero(np.concatenate([[True], (ranks[1:] != ranks[:-1]) | (papers[1:] != papers[:-1])]))
    runs = np.flatnonzero(np.concatenate([[True], ranks[pairs[1:]] != ranks[pairs[:-1]]]))  # each key's first pair
    return Filed(list(map(names.__getitem__, numbers.tolist())), np.append(runs, len(pairs)),
                 np.append(pairs, len(keys)), papers[pairs], at)


def _first_come(keys: np.ndarray, size: int) -> np.ndarray:
    """The keys (numbers below ``size``) in the order they first come in ``keys``, each once."""
    first: np.ndarray = np.full(size, len(keys), np.intp)
    np.minimum.at(first, keys, np.arange(len(keys)))
    present = np.flatnonzero(first < len(keys))
    return present[np.argsort(first[present])]


def _stable_order(values: np.ndarray) -> np.ndarray:
    """``argsort(values, kind="stable")`` of values from 0: a radix sort, ten times as fast as a merge
    sort, when they fit in 16 bits."""
    small = int(values.max(initial=0)) < 1 << 16
    return np.argsort(values.astype(np.uint16) if small else values, kind="stable")
