"""The index's tables, built from the listing: each text split once, each distinct word worked out once.

A listing of 1,000 papers holds about 130,000 words but only 13,000 distinct
ones. What a word costs (whether it is a stopword, its stem, its form as
written) is found once per distinct word and mapped back onto the text in C
(``map`` over a dict); what is left per paper is grouping its positions by stem
and by written form (``grouped``), and filing the groups in the postings.
"""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain, compress

from ..model import Paper
from .collector import collector_paused
from .tokens import ABSTRACT_OFFSET, STOPWORDS, as_word, parts, singular, stem, stems

Postings = dict[int, tuple[int, ...]]  # paper number -> positions
Word = tuple[str, str, str]  # a word that is not a stopword, its stem and its surface form


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
    postings: dict[str, Postings]  # stem -> where it stands in each paper
    surface: dict[str, Postings]  # the word as written, give or take a plural -> where
    vocabulary: dict[str, tuple[str, ...]]  # word -> its stems, in the order the listing first has them


def build(papers: Sequence[Paper], spelling: bool) -> Tables:
    """Every paper's positions, gathered per stem and per written form, kept as tuples.

    Positions count the words that are not stopwords, the title's from 0 and the
    abstract's from ``ABSTRACT_OFFSET``. A hyphenated word (``multi-modal``) is
    also its joined form, at its first part's position (unless that part is a
    stopword), after the field's own words; with the ``spelling`` rule the joined
    form is also a form as written.

    Tuples of ints, unlike lists, are left alone by Python's cycle collector once
    it has seen them: the postings are most of the objects a run keeps, and a
    collector walking them again at every full collection cost a fifth of the
    ranking's time.
    """
    with collector_paused():  # the positions form no cycles (``collector``)
        fields = [parts(text) for paper in papers for text in (paper.title, paper.abstract)]
        words = _Words()
        filer = _Filer(words, spelling)
        docs = [filer.add(i, *fields[2 * i], *fields[2 * i + 1]) for i in range(len(papers))]
        first = dict.fromkeys(chain.from_iterable(d.words for d in docs))
        vocabulary: dict[str, tuple[str, ...]] = {word: (words.stem[word],) for word in first}
    return Tables(docs, filer.postings, filer.surface, vocabulary)


class _Words(dict[str, "Word | None"]):
    """Part of a word as found -> the word, its stem and surface form (``None`` for a stopword), each
    part worked out the first time it is looked up.

    Equal strings are made one object (``same``): the dicts keyed by them then
    find a key by its identity, without reading the string again.
    """

    def __init__(self) -> None:
        super().__init__()
        self.same: dict[str, str] = {}
        self.stem: dict[str, str] = {}  # word -> stem

    def __missing__(self, part: str) -> Word | None:
        same = self.same
        word = same.setdefault(lowered := as_word(part), lowered)
        if word in STOPWORDS:
            found = self[part] = None
            return found
        st = self.stem.get(word)
        if st is None:
            st = self.stem[word] = same.setdefault(fresh := stem(word), fresh)
        form = same.setdefault(plain := singular(word) or word, plain)
        found = self[part] = (word, st, form)
        return found


class _Filer:
    """Files each paper's positions in the postings."""

    def __init__(self, words: _Words, spelling: bool) -> None:
        self.words = words
        self.spelling = spelling
        self.postings: defaultdict[str, Postings] = defaultdict(dict)
        self.surface: defaultdict[str, Postings] = defaultdict(dict)
        self.title, self.abstract = _Positions(0), _Positions(ABSTRACT_OFFSET)

    def add(self, i: int, title_found: list[str], title_joins: list[tuple[int, str]],
            abstract_found: list[str], abstract_joins: list[tuple[int, str]]) -> Doc:
        of = self.words.__getitem__
        title_words, abstract_words = list(map(of, title_found)), list(map(of, abstract_found))
        title, abstract = list(filter(None, title_words)), list(filter(None, abstract_words))
        kept, stems_, forms = zip(*title, *abstract) if title or abstract else ((), (), ())
        (at, ones), (abstract_at, abstract_ones) = self.title.first(len(title)), self.abstract.first(len(abstract))
        positions = at + abstract_at
        counts = Counter(stems_)
        if title_joins or abstract_joins:
            joined = (self._joins(title_joins, title_words, 0), self._joins(abstract_joins, abstract_words, ABSTRACT_OFFSET))
            cut = len(title)
            where = [*at, *joined[0][0], *abstract_at, *joined[1][0]]
            here = grouped([*stems_[:cut], *joined[0][1], *stems_[cut:], *joined[1][1]], where)
            if self.spelling:
                written = grouped([*forms[:cut], *joined[0][2], *forms[cut:], *joined[1][2]], where)
            else:
                written = grouped(forms, positions, ones + abstract_ones)
        else:
            ones += abstract_ones
            here = grouped(stems_, positions, ones, counts)
            written = grouped(forms, positions, ones)
        for table, found in ((self.postings, here), (self.surface, written)):
            for key, positions_ in found.items():
                table[key][i] = positions_
        return Doc(len(title), len(abstract), kept, counts)

    def _joins(self, joins: list[tuple[int, str]], words: list[Word | None],
               offset: int) -> tuple[list[int], list[str], list[str]]:
        """The positions, stems and surface forms of a field's joined hyphenated words."""
        at = [offset + start - words[:start].count(None) for start, _ in joins if words[start]]
        joined = [word for start, word in joins if words[start]]
        return at, stems(joined), [singular(word) or word for word in joined]


class _Positions:
    """A field's position numbers and their 1-tuples, made once and shared by every paper."""

    def __init__(self, offset: int) -> None:
        self.numbers: list[int] = []
        self.ones: list[tuple[int]] = []
        self.offset = offset

    def first(self, n: int) -> tuple[list[int], list[tuple[int]]]:
        """The first ``n`` positions, and each alone in a tuple."""
        if n > len(self.numbers):
            more = range(self.offset + len(self.numbers), self.offset + n)
            self.numbers += more
            self.ones += zip(more)
        return self.numbers[:n], self.ones[:n]


def grouped(keys: Sequence[str], positions: list[int], ones: list[tuple[int]] | None = None,
            counts: Counter[str] | None = None) -> dict[str, tuple[int, ...]]:
    """Each key's positions, in order, the keys in the order they first come.

    ``ones``: each position alone in a tuple (shared by every paper, they cost
    nothing to keep); ``counts``: of ``keys``, if known. Most keys come once
    in a paper: they get their position's 1-tuple; the keys that come again
    are gathered apart. All of it in C (``map``), without a loop per word.
    """
    out: dict[str, tuple[int, ...]] = dict(zip(keys, ones if ones is not None else zip(positions)))
    if len(out) < len(keys):
        counts = counts if counts is not None else Counter(keys)
        again = set(compress(counts, map((1).__lt__, counts.values())))
        marks = list(map(again.__contains__, keys))
        many: defaultdict[str, list[int]] = defaultdict(list)
        deque(map(list.append, map(many.__getitem__, compress(keys, marks)), compress(positions, marks)), maxlen=0)
        out.update(zip(many, map(tuple, many.values())))
    return out
