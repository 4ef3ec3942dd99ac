"""The ranker: score papers against readers' keywords and explain each pick.

Pure: papers, a profile and the ids already sent go in; scored, explained picks
come out. No database, network or clock.

Model: BM25F over title and abstract (the title weighted up), per keyword
normalised by the keyword's total IDF so that its words found once in an average
abstract score about 1 whatever the day's listing; plus a phrase score for the
words standing together, a larger one when they stand in the keyword's own form
(not just the same stems), and a proximity score for words near each other. A
keyword found once, as written, in an average abstract scores about 3.5; its words
scattered about 1; words shared with its best matches (feedback) at most 1.3. That
is what makes ``DIGEST_MIN_SCORE`` (default 2) a threshold that means the same from
day to day. Pseudo-relevance feedback adds words from each keyword's best
matches with a small weight; acronyms are learned from the listing ("large
language models (LLMs)") and from a short built-in table.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from .keywords import Keyword, Profile
from .model import Paper, title_key
from .text import STOPWORDS, hyphen_joins, stem, words

K1 = 1.2
B = 0.75
TITLE_WEIGHT = 2.5
PHRASE_WEIGHT = 0.5
FEEDBACK_DOCS = 8
FEEDBACK_TERMS = 12
FEEDBACK_WEIGHT = 0.6
PROXIMITY_WEIGHT = 0.5
SURFACE_WEIGHT = 2.0  # the keyword's own word forms beat inflected ones
PROXIMITY_WINDOW = 5
ABSTRACT_OFFSET = 10_000  # positions at or above this are in the abstract

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


@dataclass(frozen=True, slots=True)
class Pick:
    paper: Paper
    score: float
    matched: tuple[Match, ...]
    rank: int = 0

    @property
    def matched_text(self) -> str:
        return ", ".join(str(m) for m in self.matched)


@dataclass(slots=True)
class _Doc:
    title_len: int
    abstract_len: int
    raw: dict[int, str]
    counts: Counter[str] = field(default_factory=Counter)


class Index:
    """The day's listing, tokenised once and shared by every reader's profile."""

    def __init__(self, papers: Sequence[Paper], acronyms: Mapping[str, str] | None = None) -> None:
        self.papers = list(papers)
        self.postings: dict[str, dict[int, list[int]]] = defaultdict(dict)
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

    def _add(self, i: int, paper: Paper) -> _Doc:
        doc = _Doc(0, 0, {})
        for offset, text, attr in ((0, paper.title, "title_len"), (ABSTRACT_OFFSET, paper.abstract, "abstract_len")):
            kept = 0
            positions: list[int] = []
            for raw, st in words(text):
                if raw in STOPWORDS:
                    positions.append(-1)
                    continue
                pos = offset + kept
                self.postings[st].setdefault(i, []).append(pos)
                doc.raw[pos] = raw
                doc.counts[st] += 1
                positions.append(pos)
                kept += 1
            for at, joined in hyphen_joins(text):
                if at < len(positions) and positions[at] >= 0:
                    self.postings[joined].setdefault(i, []).append(positions[at])
            setattr(doc, attr, kept)
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
        """The stem groups a keyword can match: itself, and its acronym or expansion."""
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
            groups[-1] = frozenset(s for raw, stems in self.vocabulary.items() if raw.startswith(last) for s in stems)
        return tuple(g for g in groups if g)

    def keyword_scores(self, keyword: Keyword, feedback: bool = True) -> dict[int, float]:
        """Score every paper for one keyword (cached: readers share keywords)."""
        key = (keyword.words, keyword.exact, keyword.prefix, feedback)
        if key not in self._cache:
            scores: dict[int, float] = {}
            for alt in self.alternatives(keyword):
                for i, s in self._alternative_scores(alt, keyword.exact, keyword.words).items():
                    scores[i] = max(scores.get(i, 0.0), s)
            if feedback and not keyword.exact and scores:
                for i, s in self._feedback_scores(scores, keyword).items():
                    scores[i] = scores.get(i, 0.0) + s
            self._cache[key] = scores
        return self._cache[key]

    def _positions(self, group: Group) -> dict[int, list[int]]:
        if len(group) == 1:
            return self.postings.get(next(iter(group)), {})
        merged: dict[int, list[int]] = defaultdict(list)
        for st in group:
            for i, pos in self.postings.get(st, {}).items():
                merged[i].extend(pos)
        return merged

    def _alternative_scores(self, alt: Alternative, exact: bool, raw_words: tuple[str, ...]) -> dict[int, float]:
        postings = [self._positions(g) for g in alt]
        idfs = [self.idf(len(p)) for p in postings]
        total_idf = sum(idfs) or 1.0
        scores: dict[int, float] = defaultdict(float)
        if not exact:
            for p, idf in zip(postings, idfs):
                for i, positions in p.items():
                    scores[i] += idf * self._saturate(i, positions) / total_idf
        for i, starts in self._phrase_starts(postings, exact, raw_words).items():
            scores[i] += (PHRASE_WEIGHT + (1.0 if exact else 0.0)) * self._saturate(i, starts)
        if not exact and len([w for w in raw_words if w not in STOPWORDS] or raw_words) == len(alt):
            for i, starts in self._phrase_starts(postings, True, raw_words, singular).items():
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

    def _feedback_scores(self, scores: dict[int, float], keyword: Keyword) -> dict[int, float]:
        """Pseudo-relevance feedback: words common in the keyword's best matches."""
        top = sorted(scores, key=scores.__getitem__, reverse=True)[:FEEDBACK_DOCS]
        own = {s for alt in self.alternatives(keyword) for g in alt for s in g}
        weights: Counter[str] = Counter()
        best = scores[top[0]]
        for i in top:
            doc = self.docs[i]
            length = doc.title_len + doc.abstract_len or 1
            for st, count in doc.counts.items():
                if st not in own and len(st) > 2:
                    weights[st] += (scores[i] / best) * count / length
        for st in weights:
            weights[st] *= self.idf(len(self.postings[st]))
        chosen = weights.most_common(FEEDBACK_TERMS)
        total = sum(w for _, w in chosen) or 1.0
        extra: dict[int, float] = defaultdict(float)
        for st, w in chosen:
            for i, positions in self.postings[st].items():
                extra[i] += FEEDBACK_WEIGHT * (w / total) * self._saturate(i, positions)
        return extra

    # --- explanations -------------------------------------------------------

    def explain(self, i: int, keyword: Keyword) -> Match | None:
        best: Match | None = None
        for alt in self.alternatives(keyword):
            fields, full = self._where(i, alt, keyword)
            if fields and (best is None or (best.partial and full)):
                best = Match(keyword.text, fields, partial=not full)
        return best

    def _where(self, i: int, alt: Alternative, keyword: Keyword) -> tuple[tuple[str, ...], bool]:
        postings = [self._positions(g).get(i, []) for g in alt]
        present = [p for p in postings if p]
        if not present:
            return (), False
        full = len(present) == len(postings)
        if keyword.exact:
            if i not in self._phrase_starts([self._positions(g) for g in alt], True, keyword.words):
                return (), False
        fields = []
        if any(p < ABSTRACT_OFFSET for pos in present for p in pos) and (not full or all(any(p < ABSTRACT_OFFSET for p in pos) for pos in postings)):
            fields.append("title")
        if any(p >= ABSTRACT_OFFSET for pos in present for p in pos):
            fields.append("abstract")
        return tuple(fields), full

    def excluded(self, keyword: Keyword) -> set[int]:
        """Papers an exclusion keyword matches: all its words together, anywhere."""
        hit: set[int] = set()
        for alt in self.alternatives(keyword):
            postings = [self._positions(g) for g in alt]
            hit |= set(self._phrase_starts(postings, keyword.exact, keyword.words))
        return hit


def singular(word: str | None) -> str | None:
    """The word without a plural ending: a reader's own form, give or take number."""
    if word is None or len(word) < 4 or not word.endswith("s") or word.endswith("ss"):
        return word
    return word[:-3] + "y" if word.endswith("ies") else word[:-1]


def _stems(text: str) -> str:
    return " ".join(st for raw, st in words(text) if raw not in STOPWORDS)


_ACRONYM_DEF = re.compile(r"((?:[\w-]+\s+){1,6})\(([A-Z][A-Za-z0-9]{1,9}?)s?\)")


def learn_acronyms(papers: Iterable[Paper]) -> dict[str, str]:
    """``large language models (LLMs)`` -> ``{"llm": "large language models"}``."""
    found: dict[str, str] = {}
    for paper in papers:
        for match in _ACRONYM_DEF.finditer(paper.abstract):
            acronym = match.group(2)
            letters = [c.lower() for c in acronym if c.isupper()]
            if len(letters) < 2:
                continue
            phrase = re.split(r"[\s-]+", match.group(1).strip())
            tail = phrase[-len(letters):]
            if len(tail) == len(letters) and all(w[:1].lower() == c for w, c in zip(tail, letters)):
                found.setdefault(acronym.lower(), " ".join(tail).lower())
    return found


@dataclass(frozen=True, slots=True)
class Selection:
    max_items: int | None = 20
    min_score: float = 0.0


def score_profile(index: Index, profile: Profile) -> dict[int, float]:
    """Weighted sum of keyword scores, excluded papers removed."""
    totals: dict[int, float] = defaultdict(float)
    for keyword in profile.wanted:
        for i, s in index.keyword_scores(keyword).items():
            totals[i] += keyword.weight * s
    for keyword in profile.excluded:
        for i in index.excluded(keyword):
            totals.pop(i, None)
    return totals


def rank(
    index: Index,
    profile: Profile,
    *,
    sent: frozenset[str] | set[str] = frozenset(),
    selection: Selection = Selection(),
) -> list[Pick]:
    """The reader's picks: best first, above the threshold, never a sent paper."""
    scores = score_profile(index, profile)
    order = sorted(
        (i for i, s in scores.items() if s >= selection.min_score and s > 0),
        key=lambda i: _sort_key(scores[i], index.papers[i]),
    )
    picks: list[Pick] = []
    seen_titles: set[str] = set()
    for i in order:
        paper = index.papers[i]
        key = title_key(paper.title)
        if paper.id in sent or key in seen_titles:
            continue
        seen_titles.add(key)
        matched = tuple(m for k in profile.wanted if (m := index.explain(i, k)))
        if any(not m.partial for m in matched):
            matched = tuple(m for m in matched if not m.partial)
        picks.append(Pick(paper, round(scores[i], 3), matched, rank=len(picks) + 1))
        if selection.max_items and len(picks) >= selection.max_items:
            break
    return picks


def _sort_key(score: float, paper: Paper) -> tuple[float, int, int, str]:
    published = paper.published.toordinal() if isinstance(paper.published, date) else 0
    return (-round(score, 6), -(paper.upvotes or 0), -published, paper.title)
