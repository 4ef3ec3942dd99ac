"""The index's tables, built from the listing: each text split once, each distinct word worked out once.

A listing of 1,000 papers holds about 130,000 words but only 13,000 distinct
ones. What a word costs (whether it is a stopword, its stem, its form as
written) is found once per distinct word and mapped back onto the text in C
(``map`` over a dict); what is left per paper is grouping its positions by stem
and by written form (``grouped``), and filing the groups in the postings.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain, compress

from ..model import Paper
from .collector import collector_paused
from .tokens import ABSTRACT_OFFSET, STOPWORDS, as_word, parts, singular, stems

Postings = dict[int, tuple[int, ...]]  # paper number -> positions


@dataclass(slots=True)
class Doc:
    title_len: int
    abstract_len: int
    raw: dict[int, str]  # position -> the word there
    counts: Counter[str] = field(default_factory=Counter)  # stem -> how often (a joined hyphenated word not counted)
    shares: list[tuple[str, float]] | None = None
    strongest: frozenset[str] | None = None


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
    fields = [parts(text) for paper in papers for text in (paper.title, paper.abstract)]
    words = _Words(chain.from_iterable(found for found, _ in fields))
    filer = _Filer(words, spelling)
    with collector_paused():  # the positions form no cycles (``collector``)
        docs = [filer.add(i, *fields[2 * i], *fields[2 * i + 1]) for i in range(len(papers))]
        first = dict.fromkeys(chain.from_iterable(d.raw.values() for d in docs))  # in order: title, abstract
        vocabulary = {word: (words.stem[word],) for word in first}
    return Tables(docs, filer.postings, filer.surface, vocabulary)


class _Words:
    """What every distinct part of the listing's words maps to."""

    def __init__(self, found: Iterable[str]) -> None:
        self.word: dict[str, str] = {}  # part as found -> the word ("" for a stopword)
        for part in set(found):
            word = as_word(part)
            self.word[part] = "" if word in STOPWORDS else word
        distinct = list(set(self.word.values()) - {""})
        self.stem = dict(zip(distinct, stems(distinct)))  # word -> stem
        self.form = {word: singular(word) or word for word in distinct}  # word -> surface form

    def of(self, found: list[str]) -> list[str]:
        return list(map(self.word.__getitem__, found))


class _Filer:
    """Files each paper's positions in the postings."""

    def __init__(self, words: _Words, spelling: bool) -> None:
        self.words = words
        self.spelling = spelling
        self.postings: defaultdict[str, Postings] = defaultdict(dict)
        self.surface: defaultdict[str, Postings] = defaultdict(dict)

    def add(self, i: int, title_found: list[str], title_joins: list[tuple[int, str]],
            abstract_found: list[str], abstract_joins: list[tuple[int, str]]) -> Doc:
        words = self.words
        title_words, abstract_words = words.of(title_found), words.of(abstract_found)
        title, abstract = list(filter(None, title_words)), list(filter(None, abstract_words))
        kept = title + abstract
        positions = [*range(len(title)), *range(ABSTRACT_OFFSET, ABSTRACT_OFFSET + len(abstract))]
        stems = list(map(words.stem.__getitem__, kept))
        forms = list(map(words.form.__getitem__, kept))
        counts = Counter(stems)
        if title_joins or abstract_joins:
            joins = (self._joins(title_joins, title_words, 0), self._joins(abstract_joins, abstract_words, ABSTRACT_OFFSET))
            cut = len(title)
            order = [*positions[:cut], *joins[0][0], *positions[cut:], *joins[1][0]]
            here = grouped([*stems[:cut], *joins[0][1], *stems[cut:], *joins[1][1]], order)
            if self.spelling:
                written = grouped([*forms[:cut], *joins[0][2], *forms[cut:], *joins[1][2]], order)
            else:
                written = grouped(forms, positions)
        else:
            here = grouped(stems, positions, counts)
            written = grouped(forms, positions)
        for table, found in ((self.postings, here), (self.surface, written)):
            for key, where in found.items():
                table[key][i] = where
        return Doc(len(title), len(abstract), dict(zip(positions, kept)), counts)

    def _joins(self, joins: list[tuple[int, str]], words: list[str],
               offset: int) -> tuple[list[int], list[str], list[str]]:
        """The positions, stems and surface forms of a field's joined hyphenated words."""
        at = [offset + start - words[:start].count("") for start, _ in joins if words[start]]
        joined = [word for start, word in joins if words[start]]
        return at, stems(joined), [singular(word) or word for word in joined]


def grouped(keys: list[str], positions: list[int], counts: Counter[str] | None = None) -> dict[str, tuple[int, ...]]:
    """Each key's positions, in order, the keys in the order they first come (``counts``: of ``keys``, if known).

    Most keys come once: their 1-tuples are made in C, and only the keys that
    come again are gathered in Python.
    """
    out = dict(zip(keys, zip(positions)))
    if len(out) < len(keys):
        counts = counts if counts is not None else Counter(keys)
        again = set(compress(counts, map((1).__lt__, counts.values())))
        many: defaultdict[str, list[int]] = defaultdict(list)
        for key, pos in compress(zip(keys, positions), map(again.__contains__, keys)):
            many[key].append(pos)
        for key, where in many.items():
            out[key] = tuple(where)
    return out
