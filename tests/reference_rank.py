"""FROZEN ORACLE: the ranker as it was before vectorisation (digest/rank.py at 4b72202), kept only here.

Do not edit, do not import from the product. tests/test_rank_oracle.py compares
the vectorised ``digest.ranking`` against it on random profiles and listings:
the same picks, scores and explanations. Only its imports were changed, to the
modules that moved into ``digest.ranking`` unchanged (keyword syntax, tokens,
the reader model).
"""
# ruff: noqa
# mypy: ignore-errors
from __future__ import annotations

import gc
import heapq
import multiprocessing
import os
import threading
from functools import lru_cache
import math
from bisect import bisect_left, bisect_right
from operator import itemgetter
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from digest.model import Paper, title_key
from digest.ranking import reader as learn
from digest.ranking.profile import Keyword, Profile
from digest.ranking.reader import Examples, ReaderModel, model_for
from digest.ranking.tokens import STOPWORDS, hyphen_joins, stem, words

K1 = 1.2
B = 0.75
TITLE_WEIGHT = 2.5
PHRASE_WEIGHT = 0.5
FEEDBACK_DOCS = 8
FEEDBACK_TERMS = 12
FEEDBACK_WEIGHT = 0.6
PROXIMITY_WEIGHT = 0.5
TIE = 1e-6  # scores closer than this are equal; upvotes and recency decide
DUPLICATE_MARGIN = 5  # papers a reader may skip as duplicates of a better-ranked one
MIN_CONTRIBUTION = 0.05  # per keyword; smaller scores are dropped (see keyword_scores)
SURFACE_WEIGHT = 2.0  # the keyword's own word forms beat inflected ones
PROXIMITY_WINDOW = 5
ABSTRACT_OFFSET = 10_000  # positions at or above this are in the abstract
STRONGEST = 8  # an exclusion found only in the abstract counts when among this many top terms

BUILTIN_ACRONYMS = {
    "llm": "large language model", "lm": "language model", "rl": "reinforcement learning",
    "rlhf": "reinforcement learning from human feedback", "nlp": "natural language processing",
    "cv": "computer vision", "gnn": "graph neural network", "vlm": "vision language model",
    "moe": "mixture of experts", "rag": "retrieval augmented generation",
    "cnn": "convolutional neural network", "rnn": "recurrent neural network",
    "gan": "generative adversarial network", "vae": "variational autoencoder",
    "asr": "automatic speech recognition", "mt": "machine translation",
}

Group = frozenset[str]  # stems that count as one query word (a prefix expands to many)
Alternative = tuple[Group, ...]


@dataclass(frozen=True, slots=True)
class Match:
    keyword: str
    fields: tuple[str, ...]  # "title", "abstract"
    partial: bool = False

    def __str__(self) -> str:
        return f"{self.keyword} (partly)" if self.partial else self.keyword


@dataclass(slots=True)
class Pick:
    paper: Paper
    score: float
    matched: tuple[Match, ...]
    rank: int = 0
    because: str = ""  # a pick the reader's votes or library lifted: "like 'Title'"

    @property
    def matched_text(self) -> str:
        text = ", ".join(str(m) for m in self.matched)
        return f"{text}; {self.because}" if text and self.because else text or self.because


@dataclass(slots=True)
class _Doc:
    title_len: int
    abstract_len: int
    raw: dict[int, str]
    counts: Counter[str] = field(default_factory=Counter)
    shares: list[tuple[str, float]] | None = None
    strongest: frozenset[str] | None = None


class Index:
    """The day's listing, tokenised once and shared by every reader's profile."""

    def __init__(self, papers: Sequence[Paper], acronyms: Mapping[str, str] | None = None,
                 feedback: bool = False, embedder: Any = None) -> None:
        self.papers = list(papers)
        self.feedback = feedback
        self.embedder = embedder  # digest.semantic.Embedder, or None (lexical only)
        self._vectors = embedder.embed_papers(self.papers) if embedder and self.papers else None
        self.postings: dict[str, dict[int, list[int]]] = defaultdict(dict)
        self.surface: dict[str, dict[int, list[int]]] = defaultdict(dict)  # the word as written, give or take a plural
        self.docs: list[_Doc] = [self._add(i, p) for i, p in enumerate(self.papers)]
        n = max(len(self.docs), 1)
        self.avg_title = sum(d.title_len for d in self.docs) / n or 1.0
        self.avg_abstract = sum(d.abstract_len for d in self.docs) / n or 1.0
        self.vocabulary: dict[str, set[str]] = defaultdict(set)  # raw word -> stems
        for doc in self.docs:
            for pos, raw in doc.raw.items():
                self.vocabulary[raw].add(stem(raw))
        self.acronyms = {**BUILTIN_ACRONYMS, **learn_acronyms(self.papers), **(acronyms or {})}
        self._expansions = {_stems(v): k for k, v in self.acronyms.items()}
        self._cache: dict[tuple[object, ...], dict[int, float]] = {}
        self._alternatives: dict[tuple[object, ...], list[Alternative]] = {}
        self._merged: dict[Group, dict[int, list[int]]] = {}
        self._saturated: dict[Group, dict[int, float]] = {}
        self._idfs: dict[str, float] = {}
        self._excluded: dict[tuple[object, ...], set[int]] = {}
        self._sorted_vocabulary = sorted(self.vocabulary)
        self._ranked: dict[tuple[object, ...], tuple[list[int], list[float]]] = {}
        self._fields: dict[Group, dict[int, tuple[bool, bool]]] = {}
        self._explained: dict[tuple[object, ...], dict[int, Match]] = {}
        self.title_keys = [title_key(p.title) for p in self.papers]
        self.tie_keys = [_tie_key(p) for p in self.papers]

    def _add(self, i: int, paper: Paper) -> _Doc:
        doc = _Doc(0, 0, {})
        postings, surface, raw_at = self.postings, self.surface, doc.raw
        stems: list[str] = []
        for offset, text, attr in ((0, paper.title, "title_len"), (ABSTRACT_OFFSET, paper.abstract, "abstract_len")):
            kept = 0
            positions: list[int] = []
            for raw, st in words(text):
                if raw in STOPWORDS:
                    positions.append(-1)
                    continue
                pos = offset + kept
                postings[st].setdefault(i, []).append(pos)
                surface[surface_form(raw)].setdefault(i, []).append(pos)
                raw_at[pos] = raw
                stems.append(st)
                positions.append(pos)
                kept += 1
            for at, joined in hyphen_joins(text):
                if at < len(positions) and positions[at] >= 0:
                    postings[joined].setdefault(i, []).append(positions[at])
            setattr(doc, attr, kept)
        doc.counts = Counter(stems)
        return doc

    # --- statistics -------------------------------------------------------

    def idf(self, docs: int) -> float:
        n = len(self.docs)
        return math.log(1 + (n - docs + 0.5) / (docs + 0.5))

    def _norm(self, i: int) -> tuple[float, float]:
        doc = self.docs[i]
        return (
            1 - B + B * doc.title_len / self.avg_title,
            1 - B + B * doc.abstract_len / self.avg_abstract,
        )

    def _saturate(self, i: int, positions: Iterable[int]) -> float:
        title_norm, abstract_norm = self._norm(i)
        in_title = sum(1 for p in positions if p < ABSTRACT_OFFSET)
        in_abstract = sum(1 for p in positions if p >= ABSTRACT_OFFSET)
        tf = TITLE_WEIGHT * in_title / title_norm + in_abstract / abstract_norm
        return tf * (K1 + 1) / (tf + K1)

    # --- keywords -----------------------------------------------------------

    def alternatives(self, keyword: Keyword) -> list[Alternative]:
        """The stem groups a keyword can match: itself, and its acronym or expansion (cached)."""
        key = (keyword.words, keyword.exact, keyword.prefix)
        if key not in self._alternatives:
            self._alternatives[key] = self._find_alternatives(keyword)
        return self._alternatives[key]

    def _find_alternatives(self, keyword: Keyword) -> list[Alternative]:
        main = self._groups(keyword)
        alts = [main] if main else []
        if keyword.exact or keyword.prefix:
            return alts
        joined = " ".join(keyword.words)
        joined = joined if joined in self.acronyms else (singular(joined) or joined)
        if joined in self.acronyms:
            alts.append(tuple(frozenset([s]) for s in _stems(self.acronyms[joined]).split()))
        acronym = self._expansions.get(_stems(joined))
        if acronym:
            alts.append((frozenset([stem(acronym)]),))
        return [a for a in alts if a]

    def _groups(self, keyword: Keyword) -> Alternative:
        kept = [w for w in keyword.words if w not in STOPWORDS] or list(keyword.words)
        groups = [frozenset({stem(w), stem(singular(w) or w)}) for w in kept]
        if keyword.prefix:
            last = kept[-1]
            groups[-1] = frozenset(s for raw in self._words_starting(last) for s in self.vocabulary[raw])
        return tuple(g for g in groups if g)

    def prepare(self, profiles: Iterable[Profile]) -> None:
        """Score, sort and explain every keyword of ``profiles`` now (before forking workers)."""
        for profile in profiles:
            for keyword in profile.wanted:
                self.ranked(keyword)
                self.explanations(keyword)
            for keyword in profile.excluded:
                self.excluded(keyword)

    def ranked(self, keyword: Keyword) -> tuple[list[int], list[float]]:
        """Papers by descending score for ``keyword``, and their negated scores (for bisect)."""
        key = (keyword.words, keyword.exact, keyword.prefix)
        ranked = self._ranked.get(key)
        if ranked is None:
            table = self.keyword_scores(keyword)
            order = sorted(table, key=table.__getitem__, reverse=True)
            ranked = self._ranked[key] = (order, [-table[i] for i in order])
        return ranked

    def _words_starting(self, prefix: str) -> list[str]:
        words_ = self._sorted_vocabulary
        start = bisect_left(words_, prefix)
        end = start
        while end < len(words_) and words_[end].startswith(prefix):
            end += 1
        return words_[start:end]

    def keyword_scores(self, keyword: Keyword, feedback: bool | None = None) -> dict[int, float]:
        """Score every paper for one keyword (cached: readers share keywords)."""
        feedback = self.feedback if feedback is None else feedback
        key = (keyword.words, keyword.exact, keyword.prefix, feedback)
        if key not in self._cache:
            scores: dict[int, float] = {}
            for alt in self.alternatives(keyword):
                for i, s in self._alternative_scores(alt, keyword.exact, keyword.words).items():
                    scores[i] = max(scores.get(i, 0.0), s)
            if feedback and not keyword.exact and scores:
                for i, s in self._feedback_scores(scores, keyword).items():
                    scores[i] = scores.get(i, 0.0) + s
            if self._vectors is not None and not keyword.exact:
                for i, s in self._semantic_scores(keyword).items():
                    scores[i] = scores.get(i, 0.0) + s
            # traces this faint (a common word once in a long abstract) cannot lift a paper
            # over any useful threshold, but summing them costs time with thousands of readers
            self._cache[key] = {i: s for i, s in scores.items() if s >= MIN_CONTRIBUTION}
        return self._cache[key]

    def _positions(self, group: Group) -> dict[int, list[int]]:
        if len(group) == 1:
            return self.postings.get(next(iter(group)), {})
        if group not in self._merged:
            merged: dict[int, list[int]] = defaultdict(list)
            for st in group:
                for i, pos in self.postings.get(st, {}).items():
                    merged[i].extend(pos)
            self._merged[group] = dict(merged)
        return self._merged[group]

    def _group_weights(self, group: Group) -> dict[int, float]:
        """Saturated term frequency of a stem group in every paper (cached: profiles share words)."""
        if group not in self._saturated:
            self._saturated[group] = {i: self._saturate(i, pos) for i, pos in self._positions(group).items()}
        return self._saturated[group]

    def _alternative_scores(self, alt: Alternative, exact: bool, raw_words: tuple[str, ...]) -> dict[int, float]:
        postings = [self._positions(g) for g in alt]
        idfs = [self.idf(len(p)) for p in postings]
        total_idf = sum(idfs) or 1.0
        scores: dict[int, float] = defaultdict(float)
        if not exact:
            for group, idf in zip(alt, idfs):
                share = idf / total_idf
                for i, weight in self._group_weights(group).items():
                    scores[i] += share * weight
        if len(alt) == 1 and not exact:  # one word: it is its own phrase
            for i, weight in self._group_weights(alt[0]).items():
                scores[i] += PHRASE_WEIGHT * weight
        else:
            for i, starts in self._phrase_starts(postings, exact, raw_words).items():
                scores[i] += (PHRASE_WEIGHT + (1.0 if exact else 0.0)) * self._saturate(i, starts)
        raw = [w for w in raw_words if w not in STOPWORDS] or list(raw_words)
        if not exact and len(raw) == len(alt):
            surface = [self.surface.get(surface_form(w), {}) for w in raw]
            for i, starts in _consecutive(surface).items():
                scores[i] += SURFACE_WEIGHT * self._saturate(i, starts)
        if not exact and len(postings) > 1:
            for i, s in self._proximity_scores(postings).items():
                scores[i] += s
        return dict(scores)

    def _proximity_scores(self, postings: list[dict[int, list[int]]]) -> dict[int, float]:
        """Adjacent query words standing near each other, in either order."""
        pairs = list(zip(postings, postings[1:]))
        scores: dict[int, float] = defaultdict(float)
        for left, right in pairs:
            for i in set(left).intersection(right):
                near = [p for p in left[i] if any(abs(p - q) <= PROXIMITY_WINDOW for q in right[i])]
                if near:
                    scores[i] += PROXIMITY_WEIGHT * self._saturate(i, near) / len(pairs)
        return scores

    def _phrase_starts(
        self, postings: list[dict[int, list[int]]], exact: bool, raw_words: tuple[str, ...],
        form: Callable[[str | None], str | None] = lambda w: w,
    ) -> dict[int, list[int]]:
        if not postings:
            return {}
        common = set(postings[0]).intersection(*postings[1:])
        raw = [w for w in raw_words if w not in STOPWORDS] or list(raw_words)
        found: dict[int, list[int]] = {}
        for i in common:
            following = [set(p[i]) for p in postings[1:]]
            starts = [s for s in postings[0][i] if all(s + k + 1 in f for k, f in enumerate(following))]
            if exact:
                raws = self.docs[i].raw
                starts = [s for s in starts if all(form(raws.get(s + k)) == form(w) for k, w in enumerate(raw))]
            if starts:
                found[i] = starts
        return found

    def _semantic_scores(self, keyword: Keyword) -> dict[int, float]:
        """Meaning, not words: the embedder's capped bonus for papers close to the keyword."""
        query = self.embedder.embed_keywords([" ".join(keyword.words)])[0]
        bonus = self.embedder.bonus(self._vectors @ query)
        return dict(zip(bonus.nonzero()[0].tolist(), bonus[bonus > 0].tolist()))

    def embed_keywords(self, profiles: Iterable[Profile]) -> None:
        """Embed every distinct keyword of ``profiles`` in one batch (the embedder keeps them)."""
        if self._vectors is not None:
            self.embedder.embed_keywords([" ".join(k.words) for p in profiles for k in p.wanted if not k.exact])

    def _term_shares(self, i: int) -> list[tuple[str, float]]:
        """A paper's stems (longer than 2 letters): share of its length times idf."""
        doc = self.docs[i]
        if doc.shares is None:
            length = doc.title_len + doc.abstract_len or 1
            idf = self._stem_idf
            doc.shares = [(st, count / length * idf(st)) for st, count in doc.counts.items() if len(st) > 2]
        return doc.shares

    def _stem_idf(self, st: str) -> float:
        value = self._idfs.get(st)
        if value is None:
            value = self._idfs[st] = self.idf(len(self.postings[st]))
        return value

    def _feedback_scores(self, scores: dict[int, float], keyword: Keyword) -> dict[int, float]:
        """Pseudo-relevance feedback: words common in the keyword's best matches."""
        top = sorted(scores, key=scores.__getitem__, reverse=True)[:FEEDBACK_DOCS]
        own = {s for alt in self.alternatives(keyword) for g in alt for s in g}
        weights: dict[str, float] = defaultdict(float)
        best = scores[top[0]]
        for i in top:
            factor = scores[i] / best
            for st, share in self._term_shares(i):
                if st not in own:
                    weights[st] += factor * share
        chosen = heapq.nlargest(FEEDBACK_TERMS, weights.items(), key=itemgetter(1))
        total = sum(w for _, w in chosen) or 1.0
        extra: dict[int, float] = defaultdict(float)
        for st, w in chosen:
            share = FEEDBACK_WEIGHT * w / total
            for i, weight in self._group_weights(frozenset((st,))).items():
                extra[i] += share * weight
        return extra

    # --- explanations -------------------------------------------------------

    def explain(self, i: int, keyword: Keyword) -> Match | None:
        """Where paper ``i`` matches ``keyword``: which fields, and whether all its words.

        Only papers the keyword scores are explained: a trace too faint to score
        (below ``MIN_CONTRIBUTION``) is not named as a match.
        """
        return self.explanations(keyword).get(i)

    def explanations(self, keyword: Keyword) -> dict[int, Match]:
        """Every paper's match for ``keyword``, worked out once for all readers who have it."""
        key = (keyword.text, keyword.words, keyword.exact, keyword.prefix)
        table = self._explained.get(key)
        if table is None:
            table = self._explained[key] = self._explain_all(keyword)
        return table

    def _explain_all(self, keyword: Keyword) -> dict[int, Match]:
        """Matches for the papers the keyword scores, set-wise.

        Per alternative (the keyword, its acronym or expansion): papers with all its
        words match fully, in the title when every word is there, and in the abstract
        when any word is; papers with some of its words match partly. The first
        alternative that matches wins, unless a later one matches fully.
        """
        domain = set(self.keyword_scores(keyword))
        made: dict[tuple[tuple[str, ...], bool], Match] = {}

        def match(title: bool, abstract: bool, full: bool) -> Match:
            fields = ("title",) * title + ("abstract",) * abstract
            found = made.get((fields, full))
            if found is None:
                found = made[(fields, full)] = Match(keyword.text, fields, partial=not full)
            return found

        best: dict[int, Match] = {}
        for alt in self.alternatives(keyword):
            tables = [self._group_fields(g) for g in alt]
            everywhere = domain.intersection(*tables)
            if keyword.exact:
                everywhere &= set(self._phrase_starts([self._positions(g) for g in alt], True, keyword.words))
            for i in everywhere:
                if i not in best or best[i].partial:
                    flags = [t[i] for t in tables]
                    best[i] = match(all(f[0] for f in flags), any(f[1] for f in flags), True)
            if keyword.exact or len(tables) == 1:
                continue
            for i in domain.intersection(set().union(*tables)) - everywhere - best.keys():
                flags = [t[i] for t in tables if i in t]
                best[i] = match(any(f[0] for f in flags), any(f[1] for f in flags), False)
        return {i: m for i, m in best.items() if m.fields}

    def _group_fields(self, group: Group) -> dict[int, tuple[bool, bool]]:
        """For each paper with the group: (in the title, in the abstract). Cached."""
        if group not in self._fields:
            self._fields[group] = {
                i: (any(p < ABSTRACT_OFFSET for p in pos), any(p >= ABSTRACT_OFFSET for p in pos))
                for i, pos in self._positions(group).items()
            }
        return self._fields[group]

    def excluded_union(self, keywords: Sequence[Keyword]) -> set[int]:
        if not keywords:
            return set()
        return set().union(*(self.excluded(k) for k in keywords))

    def excluded(self, keyword: Keyword) -> set[int]:
        """Papers about what an exclusion names, not those that mention it in passing (cached).

        The words, together, in the title; or in the abstract when they come back
        (twice or more) and each of them is among the paper's ``STRONGEST`` terms
        (tf-idf), as for a paper that keeps coming back to it. "We survey the methods..." once in an abstract is not a survey.
        """
        key = (keyword.words, keyword.exact, keyword.prefix)
        if key not in self._excluded:
            hit: set[int] = set()
            for alt in self.alternatives(keyword):
                postings = [self._positions(g) for g in alt]
                for i, starts in self._phrase_starts(postings, keyword.exact, keyword.words).items():
                    if min(starts) < ABSTRACT_OFFSET or (len(starts) > 1 and self._about(i, alt)):
                        hit.add(i)
            self._excluded[key] = hit
        return self._excluded[key]

    def _about(self, i: int, alt: Alternative) -> bool:
        doc = self.docs[i]
        if doc.strongest is None:
            top = heapq.nlargest(STRONGEST, self._term_shares(i), key=itemgetter(1))
            doc.strongest = frozenset(st for st, _ in top)
        return all(group & doc.strongest for group in alt)


def _consecutive(postings: list[dict[int, list[int]]]) -> dict[int, list[int]]:
    """Where the words stand one after another: paper -> positions of the first word."""
    if len(postings) == 1:
        return postings[0]
    found: dict[int, list[int]] = {}
    for i in set(postings[0]).intersection(*postings[1:]):
        following = [set(p[i]) for p in postings[1:]]
        starts = [s for s in postings[0][i] if all(s + k + 1 in f for k, f in enumerate(following))]
        if starts:
            found[i] = starts
    return found


@lru_cache(maxsize=200_000)
def surface_form(word: str) -> str:
    """The key of the surface index: the word as written, give or take a plural."""
    return singular(word) or word


def singular(word: str | None) -> str | None:
    """The word without a plural ending: a reader's own form, give or take number."""
    if word is None or len(word) < 4 or not word.endswith("s") or word.endswith("ss"):
        return word
    return word[:-3] + "y" if word.endswith("ies") else word[:-1]


def _stems(text: str) -> str:
    return " ".join(st for raw, st in words(text) if raw not in STOPWORDS)


_ACRONYM = re.compile(r"\(([A-Z][A-Za-z0-9]{1,9}?)s?\)")
_WORDS_BEFORE = re.compile(r"((?:[\w-]+\s+){1,6})$")


def learn_acronyms(papers: Iterable[Paper]) -> dict[str, str]:
    """``large language models (LLMs)`` -> ``{"llm": "large language models"}``."""
    found: dict[str, str] = {}
    for paper in papers:
        text = paper.abstract
        for match in _ACRONYM.finditer(text):
            acronym = match.group(1)
            letters = [c.lower() for c in acronym if c.isupper()]
            if len(letters) < 2:
                continue
            before = _WORDS_BEFORE.search(text, max(0, match.start() - 120), match.start())
            if not before:
                continue
            phrase = re.split(r"[\s-]+", before.group(1).strip())
            tail = phrase[-len(letters):]
            if len(tail) == len(letters) and all(w[:1].lower() == c for w, c in zip(tail, letters)):
                found.setdefault(acronym.lower(), " ".join(tail).lower())
    return found


@dataclass(frozen=True, slots=True)
class Selection:
    max_items: int | None = 20
    min_score: float = 0.0


def score_profile(index: Index, profile: Profile) -> dict[int, float]:
    """Weighted sum of keyword scores over every paper, excluded papers removed."""
    totals: dict[int, float] = {}
    get = totals.get
    for keyword in profile.wanted:
        weight = keyword.weight
        for i, s in index.keyword_scores(keyword).items():
            totals[i] = get(i, 0.0) + weight * s
    for i in index.excluded_union(profile.excluded):
        totals.pop(i, None)
    return totals


def top_scores(index: Index, profile: Profile, floor: float, needed: int) -> tuple[dict[int, float], bool]:
    """Exact totals of every paper that can be among the ``needed`` best at or above ``floor``.

    Weights are positive, so a total of at least t over n keywords needs one
    keyword worth t / n: candidates come from the head of each keyword's sorted
    scores. t starts at ``floor`` and rises to the ``needed``-th best of the sums
    over the keywords' own top papers, which are lower bounds of real totals, so
    nothing that could rank in the top ``needed`` is left out. This is what makes
    ten thousand readers against one listing cheap. The flag says whether every
    paper at or above ``floor`` is in.
    """
    wanted = profile.wanted
    heads = [index.ranked(k) for k in wanted]
    excluded = index.excluded_union(profile.excluded)
    partial: dict[int, float] = {}
    get = partial.get
    for (order, negatives), keyword in zip(heads, wanted):
        weight = keyword.weight
        for i, negative in zip(order[:needed], negatives[:needed]):
            partial[i] = get(i, 0.0) - weight * negative
    for i in excluded.intersection(partial):
        del partial[i]
    theta = floor
    if len(partial) >= needed:
        theta = max(floor, heapq.nlargest(needed, partial.values())[-1])
    share = -theta / len(wanted)
    candidates: set[int] = set()
    for (order, negatives), keyword in zip(heads, wanted):
        candidates.update(order[: bisect_right(negatives, share / keyword.weight)])
    if excluded:
        candidates -= excluded
    totals = dict.fromkeys(candidates, 0.0)
    for keyword in wanted:
        table = index.keyword_scores(keyword)
        weight = keyword.weight
        for i in candidates.intersection(table):
            totals[i] += weight * table[i]
    return {i: s for i, s in totals.items() if s >= floor}, theta <= floor


def rank(
    index: Index,
    profile: Profile,
    *,
    sent: Collection[str] = frozenset(),
    selection: Selection = Selection(),
    examples: Examples | None = None,
) -> list[Pick]:
    """The reader's picks: best first, above the threshold, never a sent paper.

    ``examples`` (the reader's votes and library, ``learn.examples_for``) nudge the
    keyword scores within the bounds ``digest.learn`` documents; without them the
    ranking is the keyword ranking, exactly.
    """
    model = model_for(index, examples)
    if model is not None:
        return _rank_with_model(index, profile, sent, selection, model)
    floor = selection.min_score
    if selection.max_items and floor > 0 and profile.wanted:
        scores, complete = top_scores(index, profile, floor, selection.max_items + len(sent) + DUPLICATE_MARGIN)
        picks = _select(index, profile, scores, sent, selection)
        if complete or len(picks) == selection.max_items:
            return picks
    return _select(index, profile, score_profile(index, profile), sent, selection)


def _rank_with_model(index: Index, profile: Profile, sent: Collection[str], selection: Selection,
                     model: ReaderModel) -> list[Pick]:
    """``rank`` for a reader with a model: the papers it moves are scored exactly, the rest as usual.

    Only the papers in ``model.adjust`` change score, and they are scored exactly.
    Of the others, the keyword shortcut finds the best ``needed``; asked for as many
    more as there are demoted papers, it still finds them when all of those fall.
    """
    floor = selection.min_score
    if selection.max_items and floor > 0 and profile.wanted:
        demoted = sum(1 for points in model.adjust.values() if points < 0)
        needed = selection.max_items + len(sent) + DUPLICATE_MARGIN + demoted
        scores, complete = top_scores(index, profile, floor, needed)
        scores = _adjusted(index, profile, scores, model, exact=False)
        picks = _select(index, profile, scores, sent, selection, model.reasons, model.lifted)
        if complete or len(picks) == selection.max_items:
            return picks
    scores = _adjusted(index, profile, score_profile(index, profile), model, exact=True)
    return _select(index, profile, scores, sent, selection, model.reasons, model.lifted)


def _adjusted(index: Index, profile: Profile, scores: dict[int, float], model: ReaderModel,
              exact: bool) -> dict[int, float]:
    """Keyword scores plus the model's points; at most ``UNMATCHED_CAP`` for a paper no keyword matches."""
    excluded = index.excluded_union(profile.excluded)
    tables = [(k.weight, index.keyword_scores(k)) for k in profile.wanted]
    out = dict(scores)
    for i, points in model.adjust.items():
        if i in excluded:
            continue
        keyword = scores.get(i, 0.0) if exact or i in scores else sum(w * t.get(i, 0.0) for w, t in tables)
        if keyword < MIN_CONTRIBUTION:  # matches no keyword: the model alone may not pick it
            keyword, points = 0.0, min(points, learn.UNMATCHED_CAP)
        total = keyword + points
        if total > 0:
            out[i] = total
        else:
            out.pop(i, None)
    return out


def _select(index: Index, profile: Profile, scores: dict[int, float], sent: Collection[str],
            selection: Selection, reasons: Mapping[int, str] | None = None,
            lifted: Collection[int] = ()) -> list[Pick]:
    """The picks, best first: each matches a keyword in words or resembles a paper the reader liked."""
    qualified = [(i, s) for i, s in scores.items() if s >= selection.min_score and s > 0]
    picks: list[Pick] = []
    seen_titles: set[str] = set()
    explanations = [index.explanations(k) for k in profile.wanted]
    reasons = reasons or {}
    for i in _best_first(index, qualified):
        paper = index.papers[i]
        key = index.title_keys[i]
        if paper.id in sent or key in seen_titles:
            continue
        matched = [m for table in explanations if (m := table.get(i)) is not None]
        if not matched and i not in lifted:
            continue  # meaning alone (no keyword's words, no liked paper) never picks a paper
        seen_titles.add(key)
        if len(matched) > 1:  # name the keywords it matches fully, when there are any
            matched = [m for m in matched if not m.partial] or matched
        picks.append(Pick(paper, round(scores[i], 3), tuple(matched), rank=len(picks) + 1, because=reasons.get(i, "")))
        if selection.max_items and len(picks) >= selection.max_items:
            break
    return picks


def _best_first(index: Index, qualified: list[tuple[int, float]]) -> Iterator[int]:
    """Paper numbers by score, then upvotes, then recency, then title.

    Sorting by the bare score runs in C; the rare runs of equal scores (within
    ``TIE``) are then ordered by the tie-break key, lazily, as far as the reader
    needs.
    """
    keys = index.tie_keys
    qualified.sort(key=itemgetter(1), reverse=True)
    count = len(qualified)
    j = 0
    while j < count:
        level = qualified[j][1] - TIE
        k = j + 1
        while k < count and qualified[k][1] > level:
            k += 1
        if k - j == 1:
            yield qualified[j][0]
        else:
            yield from sorted((i for i, _ in qualified[j:k]), key=keys.__getitem__)
        j = k


def _tie_key(paper: Paper) -> tuple[int, int, str]:
    published = paper.published.toordinal() if isinstance(paper.published, date) else 0
    return (-(paper.upvotes or 0), -published, paper.title)




# --- many readers -----------------------------------------------------------------

PARALLEL_MIN = 2_000  # below this, forking costs more than it saves

_SHARED: tuple[Index, Sequence[Profile], Sequence[Collection[str]], Sequence[Selection],
               Sequence[Examples | None]] | None = None


def rank_many(
    index: Index,
    profiles: Sequence[Profile],
    sent: Sequence[Collection[str]] | None = None,
    selections: Sequence[Selection] | None = None,
    examples: Sequence[Examples | None] | None = None,
    *,
    workers: int | None = None,
    parallel_min: int = PARALLEL_MIN,
) -> list[list[Pick]]:
    """``rank`` for every reader, sharing the keyword work; same results as one by one.

    Every distinct keyword is scored and explained once on the index. With many
    readers, several cores, and a single-threaded process (forking a threaded one
    is unsafe: the daemon ranks serially), the readers are then split across
    forked workers that inherit the warm index; they send back paper numbers and
    matches, never papers.
    """
    sent = sent if sent is not None else [frozenset()] * len(profiles)
    selections = selections if selections is not None else [Selection()] * len(profiles)
    examples = examples if examples is not None else [None] * len(profiles)
    workers = min(workers or os.cpu_count() or 1, max(len(profiles) // max(parallel_min // 2, 1), 1))
    index.embed_keywords(profiles)
    if workers < 2 or len(profiles) < parallel_min or not fork_is_safe():
        return [rank(index, p, sent=s, selection=sel, examples=e)
                for p, s, sel, e in zip(profiles, sent, selections, examples)]
    index.prepare(profiles)
    learn.prepare(index, examples)
    global _SHARED
    _SHARED = (index, profiles, sent, selections, examples)
    try:
        bounds = [len(profiles) * n // workers for n in range(workers + 1)]
        context = multiprocessing.get_context("fork")
        gc.freeze()  # the workers' collector would otherwise touch, and so copy, every inherited object
        try:
            with context.Pool(workers) as pool:
                parts = pool.map(_rank_slice, list(zip(bounds, bounds[1:])))
        finally:
            gc.unfreeze()
    finally:
        _SHARED = None
    papers = index.papers
    return [
        [Pick(papers[i], score, matched, rank=number, because=because)
         for number, (i, score, matched, because) in enumerate(picks, 1)]
        for part in parts for picks in part
    ]


def _rank_slice(bounds: tuple[int, int]) -> list[list[tuple[int, float, tuple[Match, ...], str]]]:
    assert _SHARED is not None
    index, profiles, sent, selections, examples = _SHARED
    numbers = {id(paper): n for n, paper in enumerate(index.papers)}
    return [
        [(numbers[id(p.paper)], p.score, p.matched, p.because)
         for p in rank(index, profiles[n], sent=sent[n], selection=selections[n], examples=examples[n])]
        for n in range(*bounds)
    ]


def fork_is_safe() -> bool:
    return threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods()


def count_matches(index: Index, profile: Profile, *, sent: Collection[str] = frozenset(),
                  min_score: float = 0.0) -> int:
    """How many picks ``rank`` would give without ``max_items``: the 30 in "20 of 30".

    Scores every paper for the profile (about 0.1 ms for 1,000 papers), so call it
    only when the picks came back full.
    """
    scores = score_profile(index, profile)
    papers, keys = index.papers, index.title_keys
    named = set().union(*(index.explanations(k) for k in profile.wanted)) if profile.wanted else set()
    return len({keys[i] for i, s in scores.items()
                if s >= min_score and s > 0 and papers[i].id not in sent and i in named})
