"""The day's listing, tokenised once: postings, field lengths, and every keyword's work, cached.

Every reader of a run shares one ``Index``: a keyword two readers wrote is
scored (``scoring``), explained (``explain``) and turned into a column of the
score matrix (``columns``) once. The index holds the text statistics and the
caches; the modules beside it hold the rules.
"""

from __future__ import annotations

import copy
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from itertools import chain, compress
from typing import TYPE_CHECKING, Any

import numpy as np

from ..model import Paper, title_key
from . import explain, scoring
from .acronyms import BUILTIN_ACRONYMS, learn_acronyms
from .alternatives import Alternative, Alternatives, Group
from .build import Doc, Filed, Postings, build
from .profile import Keyword, Profile, keyword_key
from .rules import Rules
from .spelling import spelling_variants
from .tokens import ABSTRACT_OFFSET, surface_form
from .weights import Weights

if TYPE_CHECKING:
    from .explain import Match

STRONGEST = 8  # a paper is about the terms among this many of its top tf-idf terms

# the index's caches whose entries the weights do not change (``Index.reweighted``)
_UNWEIGHTED = ("merged", "idf", "surfaces", "counts")


class Index:
    """The day's listing, tokenised once and shared by every reader's profile."""

    def __init__(self, papers: Sequence[Paper], acronyms: Mapping[str, str] | None = None,
                 feedback: bool = False, embedder: Any = None, rules: Rules = Rules(),
                 weights: Weights = Weights()) -> None:
        self.papers = list(papers)
        self.feedback = feedback
        self.rules = rules
        self.weights = weights
        self.embedder = embedder  # digest.semantic.Embedder, or None (lexical only)
        self.vectors = embedder.embed_papers(self.papers) if embedder and self.papers else None
        tables = build(self.papers, rules.spelling)
        self.docs: list[Doc] = tables.docs
        self.postings: Filed = tables.postings
        self.surface: Filed = tables.surface  # the word as written, give or take a plural
        self.vocabulary: dict[str, tuple[str, ...]] = tables.vocabulary  # word -> its stems (a tuple: ``build``)
        n = max(len(self.docs), 1)
        self.avg_title = sum(d.title_len for d in self.docs) / n or 1.0
        self.avg_abstract = sum(d.abstract_len for d in self.docs) / n or 1.0
        self.acronyms = {**BUILTIN_ACRONYMS, **learn_acronyms(self.papers), **(acronyms or {})}
        self.keywords = Alternatives(self.postings, self.vocabulary, self.acronyms, rules)
        self.title_norms, self.abstract_norms = self._norms()
        self.title_keys = [title_key(p.title) for p in self.papers]
        self.tie_keys = [tie_key(p) for p in self.papers]
        self.cache: dict[str, dict[Any, Any]] = defaultdict(dict)  # per kind of work, per keyword or group

    def _norms(self) -> tuple[np.ndarray, np.ndarray]:
        """BM25's length normalisation of every title and abstract."""
        b = self.weights.b
        return (np.array([1 - b + b * d.title_len / self.avg_title for d in self.docs]),
                np.array([1 - b + b * d.abstract_len / self.avg_abstract for d in self.docs]))

    def reweighted(self, weights: Weights) -> Index:
        """The same listing, tokenised once, scored with other ``weights`` (benchmarks/tune.py's grid).

        Only the work that does not depend on the weights is shared: postings,
        statistics, each keyword's alternatives and merged postings.
        """
        other = copy.copy(self)
        other.weights = weights
        other.title_norms, other.abstract_norms = other._norms()
        other.cache = defaultdict(dict, {kind: self.cache[kind] for kind in _UNWEIGHTED if kind in self.cache})
        return other

    def _cached(self, kind: str, key: Any, make: Any) -> Any:
        table = self.cache[kind]
        found = table.get(key)
        if found is None:
            found = table[key] = make()
        return found

    # --- statistics -------------------------------------------------------

    def idf(self, docs: int) -> float:
        return bm25_idf(len(self.docs), docs)

    def stem_idf(self, st: str) -> float:
        return self.stem_idfs()[st]

    def stem_idfs(self) -> StemIdfs:
        """Every stem's idf, by stem (worked out when first looked up): read for every stem of every
        paper an exclusion looks at, so a plain lookup rather than a call."""
        table = self.cache["idf"]
        if not isinstance(table, StemIdfs):
            table = self.cache["idf"] = StemIdfs(self.postings, len(self.docs))
        return table

    def saturate(self, i: int, positions: Sequence[int]) -> float:
        """BM25F's saturated term frequency of these positions in paper ``i`` (the title weighted up)."""
        w = self.weights
        title_norms, abstract_norms = self._norm_lists()
        in_title = sum(map(_IN_TITLE, positions))
        tf = w.title * in_title / title_norms[i] + (len(positions) - in_title) / abstract_norms[i]
        return tf * (w.k1 + 1) / (tf + w.k1)

    def _norm_lists(self) -> tuple[list[float], list[float]]:
        """``title_norms`` and ``abstract_norms`` as lists: read a paper at a time, as Python floats (cached)."""
        found = self.cache["norms"].get(0)
        if found is None:
            found = self.cache["norms"][0] = (self.title_norms.tolist(), self.abstract_norms.tolist())
        return found

    def positions(self, group: Group) -> Postings:
        """Where any stem of the group stands, per paper (merged once per group)."""
        if len(group) == 1:
            return self.postings.get(next(iter(group)), {})
        return self._cached("merged", group, lambda: _merge(self.postings, group))

    def group_weights(self, group: Group) -> dict[int, float]:
        """Saturated term frequency of a stem group in every paper (cached: profiles share words)."""
        return self._cached("saturated", group,
                            lambda: {i: self.saturate(i, pos) for i, pos in self.positions(group).items()})

    def group_saturation(self, group: Group) -> tuple[np.ndarray, np.ndarray]:
        """``group_weights`` as arrays: the papers the group stands in, and its saturated term frequency
        in each (the same floats, computed at once; cached). Sparse: a dense array per group would be
        memory to fault in for every new group of a run."""
        return self._cached("arrays", group, lambda: self.saturation(self.counts(group)))

    def counts(self, group: Group) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``position_counts`` of the group's positions (cached)."""
        return self._cached("counts", group, lambda: position_counts(self.positions(group)))

    def saturation(self, counts: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """BM25F's saturated term frequency in each paper of ``position_counts``: the papers, and the values."""
        numbers, in_title, in_all = counts
        w = self.weights  # the counts are turned into floats as they are divided, exactly
        tf = w.title * in_title / self.title_norms[numbers] + (in_all - in_title) / self.abstract_norms[numbers]
        return numbers, tf * (w.k1 + 1) / (tf + w.k1)

    def surface_postings(self, word: str) -> Postings:
        """Where a query word stands as written, give or take a plural (and, with the
        spelling rule, in any of its spellings); cached."""
        if not self.rules.spelling:
            return self.surface.get(surface_form(word), {})
        return self._cached("surfaces", word, lambda: _merge(
            self.surface, frozenset(surface_form(v) for v in spelling_variants(word) | {word})))

    def surface_saturation(self, word: str) -> tuple[np.ndarray, np.ndarray]:
        """``group_saturation`` for a query word as written (``surface_postings``)."""
        return self._cached("surface", word, lambda: self.saturation(position_counts(self.surface_postings(word))))

    def term_shares(self, i: int) -> list[tuple[str, float]]:
        """A paper's stems (longer than 2 letters): share of its length times idf."""
        doc = self.docs[i]
        if doc.shares is None:
            length = doc.title_len + doc.abstract_len or 1
            idf = self.stem_idfs()
            doc.shares = [(st, count / length * idf[st]) for st, count in doc.counts.items() if len(st) > 2]
        return doc.shares

    def strongest_terms(self, i: int) -> frozenset[str]:
        """The ``STRONGEST`` stems of paper ``i`` by tf-idf: what it is about (cached).

        The first paper asked for has every paper's worked out with it (``strongest_terms``, the module's):
        the exclusions of a run look at most of the listing.
        """
        doc = self.docs[i]
        if doc.strongest is None:
            for each, found in zip(self.docs, strongest_terms(self.docs, self.stem_idfs())):
                if each.strongest is None:
                    each.strongest = found
        return doc.strongest if doc.strongest is not None else frozenset()

    # --- keywords -----------------------------------------------------------

    def alternatives(self, keyword: Keyword) -> list[Alternative]:
        """The stem groups a keyword can match: itself, and its acronym or expansion (``alternatives``)."""
        return self.keywords.of(keyword)

    def alternative_words(self, keyword: Keyword, alt: Alternative) -> tuple[str, ...]:
        """The query words an alternative stands for as written: the keyword's, or its joined form's."""
        return self.keywords.words(keyword, alt)

    def keyword_column(self, keyword: Keyword, feedback: bool | None = None, meaning: bool = True) -> np.ndarray:
        """Every paper's score for one keyword, 0 where it does not count (cached: readers share keywords).

        ``meaning=False``: its words alone (the same column when the index has no vectors).
        """
        feedback = self.feedback if feedback is None else feedback
        meaning = meaning and self.vectors is not None
        return self._cached("columns", (*keyword_key(keyword), feedback, meaning),
                            lambda: scoring.keyword_column(self, keyword, feedback, meaning))

    def keyword_scores(self, keyword: Keyword, feedback: bool | None = None) -> dict[int, float]:
        """The papers one keyword scores, and their scores (cached)."""
        feedback = self.feedback if feedback is None else feedback
        column = self.keyword_column(keyword, feedback)
        return self._cached("scores", (*keyword_key(keyword), feedback),
                            lambda: dict(zip(column.nonzero()[0].tolist(), column[column > 0].tolist())))

    def explanations(self, keyword: Keyword) -> dict[int, Match]:
        """Every paper's match for ``keyword``, worked out once for all readers who have it."""
        return self._cached("explained", (keyword.text, *keyword_key(keyword)),
                            lambda: explain.explain_all(self, keyword))

    def explain(self, i: int, keyword: Keyword) -> Match | None:
        """Where paper ``i`` matches ``keyword``: which fields, and whether all its words."""
        return self.explanations(keyword).get(i)

    def excluded(self, keyword: Keyword) -> set[int]:
        """Papers about what an exclusion names (``explain.excluded``), cached."""
        return self._cached("excluded", keyword_key(keyword), lambda: explain.excluded(self, keyword))

    def excluded_union(self, keywords: Sequence[Keyword]) -> set[int]:
        if not keywords:
            return set()
        return set().union(*(self.excluded(k) for k in keywords))

    def embed_keywords(self, profiles: Iterable[Profile]) -> None:
        """Embed every distinct keyword of ``profiles`` in one batch (the embedder keeps them)."""
        if self.vectors is not None:
            self.embedder.embed_keywords([" ".join(k.words) for p in profiles for k in p.wanted if not k.exact])


class StemIdfs(dict[str, float]):
    """Each stem's BM25 idf in a listing, by stem: the listing's stems' worked out at once (one logarithm
    per distinct count of papers), any other's the first time it is looked up."""

    def __init__(self, postings: Filed, papers: int) -> None:
        super().__init__()
        self.postings, self.papers = postings, papers
        docs = postings.sizes()
        idf = {n: bm25_idf(papers, n) for n in set(docs)}
        self.update(zip(postings, map(idf.__getitem__, docs)))

    def __missing__(self, st: str) -> float:
        found = self[st] = bm25_idf(self.papers, len(self.postings.get(st, ())))
        return found


def strongest_terms(docs: Sequence[Doc], idf: Mapping[str, float]) -> list[frozenset[str]]:
    """Every paper's ``Index.strongest_terms``: its ``term_shares`` sorted by share, the first of equal
    shares first (as ``sorted(..., reverse=True)`` leaves them), the first ``STRONGEST`` kept.

    The shares are the same floats, worked out for every stem of every paper at
    once (a count over a length, times an idf); each paper's are sorted in a row
    of their own (papers x stems, the rows padded past their end).
    """
    every = list(chain.from_iterable(d.counts for d in docs))  # each paper's stems, in its order
    long = np.fromiter(map(len, every), np.intp, len(every)) > 2
    stems = list(compress(every, long.tolist()))
    counts = np.fromiter(chain.from_iterable(d.counts.values() for d in docs), np.intp, len(every))[long]
    paper = np.repeat(np.arange(len(docs)), [len(d.counts) for d in docs])[long]
    lengths = np.array([d.title_len + d.abstract_len or 1 for d in docs], dtype=np.intp)
    shares = counts / lengths[paper] * np.fromiter(map(idf.__getitem__, stems), float, len(stems))
    sizes = np.bincount(paper, minlength=len(docs))
    starts = np.cumsum(sizes) - sizes
    rows = np.full((len(docs), int(sizes.max(initial=0))), np.inf)
    rows[paper, np.arange(len(paper)) - starts[paper]] = -shares
    top = np.argsort(rows, axis=1, kind="stable")[:, :STRONGEST]  # the largest shares first
    at = (top + starts[:, None]).tolist()
    return [frozenset([stems[j] for j in mine[:size]]) for mine, size in zip(at, np.minimum(sizes, STRONGEST).tolist())]


_IN_TITLE = ABSTRACT_OFFSET.__gt__  # position -> whether it is in the title


def title_count(positions: Iterable[int]) -> int:
    """How many of the positions are in the title (counted in C: a few per paper, for every paper)."""
    return sum(map(_IN_TITLE, positions))


def position_counts(postings: Mapping[int, Sequence[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The papers of ``postings`` by number, how many of their positions are in the title, and how many in all."""
    size = len(postings)
    return (np.fromiter(postings.keys(), np.intp, size), np.fromiter(map(title_count, postings.values()), np.intp, size),
            np.fromiter(map(len, postings.values()), np.intp, size))


def bm25_idf(papers: int, docs: int) -> float:
    """BM25's inverse document frequency of a term found in ``docs`` of ``papers`` papers."""
    return math.log(1 + (papers - docs + 0.5) / (docs + 0.5))


def _merge(postings: Mapping[str, Postings], group: Group) -> Postings:
    found = [p for p in (postings.get(st) for st in group) if p]
    if len(found) < 2:  # one stem of the group in the listing: its postings as they are
        return found[0] if found else {}
    merged = dict(found[0])  # tuples (see ``Index._add``): a paper with one stem of the group keeps its own
    get = merged.get
    for one in found[1:]:
        for i, pos in one.items():
            before = get(i)
            merged[i] = pos if before is None else before + pos
    return merged


def tie_key(paper: Paper) -> tuple[int, int, str]:
    published = paper.published.toordinal() if isinstance(paper.published, date) else 0
    return (-(paper.upvotes or 0), -published, paper.title)
