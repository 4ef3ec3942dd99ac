"""One keyword's score for every paper of the index.

Model: BM25F over title and abstract (the title weighted up), per keyword
normalised by the keyword's total IDF so that its words found once in an average
abstract score about 1 whatever the day's listing; plus a phrase score for the
words standing together, a larger one when they stand in the keyword's own form
(not just the same stems), and a proximity score for words near each other. A
keyword found once, as written, in an average abstract scores about 3.5; its words
scattered about 1. That is what makes ``DIGEST_MIN_SCORE`` (default 2) a
threshold that means the same from day to day. Acronyms are learned from the
listing ("large language models (LLMs)") and from a short built-in table.

Pseudo-relevance feedback (words common in a keyword's best matches, at most 1.3)
is available with ``Index(..., feedback=True)`` but off: on the labelled set it
lifts Recall@50 (0.595 -> 0.615) and not nDCG@10 (0.494 -> 0.495), it halves the
speed with many readers, and a pick made for words the reader never wrote cannot
be explained to them.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING

import numpy as np

from .profile import Keyword
from .tokens import STOPWORDS

if TYPE_CHECKING:
    from .index import Alternative, Index, Postings

FEEDBACK_DOCS = 8
FEEDBACK_TERMS = 12
FEEDBACK_WEIGHT = 0.6
MIN_CONTRIBUTION = 0.05  # per keyword; smaller scores are dropped (see keyword_column)
PROXIMITY_WINDOW = 5
FEW = 8  # positions looked through as they are, rather than put in a set first


def keyword_column(index: Index, keyword: Keyword, feedback: bool, meaning: bool = True) -> np.ndarray:
    """Every paper's score for one keyword (the best of its alternatives); 0 for traces and misses.

    ``meaning=False``: the words alone, without the semantic bonus (``select``'s word bar).
    """
    alts = index.alternatives(keyword)
    if len(alts) == 1:  # most keywords: the scores are the column (the best of them and zeros, as they are >= 0)
        column = alternative_scores(index, alts[0], keyword.exact, index.alternative_words(keyword, alts[0]))
    else:
        column = np.zeros(len(index.papers))
        for alt in alts:
            np.maximum(column, alternative_scores(index, alt, keyword.exact, index.alternative_words(keyword, alt)),
                       out=column)
    if feedback and not keyword.exact and column.any():
        scored = column.nonzero()[0].tolist()
        for i, s in feedback_scores(index, dict(zip(scored, column[scored].tolist())), keyword).items():
            column[i] += s
    if meaning and index.vectors is not None and not keyword.exact:
        for i, s in semantic_scores(index, keyword).items():
            column[i] += s
    # traces this faint (a common word once in a long abstract) cannot lift a paper
    # over any useful threshold, but summing them costs time with thousands of readers
    column[column < MIN_CONTRIBUTION] = 0.0
    return column


def alternative_scores(index: Index, alt: Alternative, exact: bool, raw_words: tuple[str, ...]) -> np.ndarray:
    """One alternative's score in every paper: each component added for all papers in turn.

    A component found in some papers only is added to those (the others' would be 0.0, which leaves a score as it is).
    """
    weights = index.weights
    postings = [index.positions(g) for g in alt]
    idfs = [index.idf(len(p)) for p in postings]
    total_idf = sum(idfs) or 1.0
    scores: np.ndarray = np.zeros(len(index.papers))
    if not exact:
        for group, idf in zip(alt, idfs):
            numbers, saturated = index.group_saturation(group)
            scores[numbers] += (idf / total_idf) * saturated
    if len(alt) == 1 and not exact:  # one word: it is its own phrase
        numbers, saturated = index.group_saturation(alt[0])
        scores[numbers] += weights.phrase * saturated
    else:
        phrase = weights.phrase + (1.0 if exact else 0.0)
        for i, starts in phrase_starts(index, postings, exact, raw_words).items():
            scores[i] += phrase * index.saturate(i, starts)
    raw = [w for w in raw_words if w not in STOPWORDS] or list(raw_words)
    if not exact and len(raw) == len(alt):
        if len(raw) == 1:
            numbers, saturated = index.surface_saturation(raw[0])
            scores[numbers] += weights.surface * saturated
        else:
            for i, together in consecutive([index.surface_postings(w) for w in raw]).items():
                scores[i] += weights.surface * index.saturate(i, together)
    if not exact and len(postings) > 1:
        for i, s in proximity_scores(index, postings).items():
            scores[i] += s
    return scores


def proximity_scores(index: Index, postings: list[Postings]) -> dict[int, float]:
    """Adjacent query words standing near each other, in either order."""
    pairs = len(postings) - 1
    proximity = index.weights.proximity
    scores: dict[int, float] = defaultdict(float)
    for left, right in zip(postings, postings[1:]):
        for i in left.keys() & right.keys():
            there = right[i]
            if len(there) == 1:  # most papers: the right word once
                q = there[0]
                near = [p for p in left[i] if -PROXIMITY_WINDOW <= p - q <= PROXIMITY_WINDOW]
            elif len(there) * len(left[i]) <= _PAIRS_AT_ONCE:  # some position of ``there`` within the window of p
                near = [p for p in left[i] if any(map(_WITHIN, map(abs, map(p.__sub__, there))))]  # in C
            else:  # a paper saying the words hundreds of times: every pair would take seconds
                near = near_positions(left[i], there)
            if near:
                scores[i] += proximity * index.saturate(i, near) / pairs
    return scores


_WITHIN = PROXIMITY_WINDOW.__ge__  # a distance -> whether it is within the window
_PAIRS_AT_ONCE = 256  # up to this many (left, right) pairs, comparing each is quicker than the walk


def near_positions(left: Sequence[int], right: Sequence[int]) -> list[int]:
    """The positions of ``left`` with one of ``right`` within the window, both sorted: one walk over each."""
    near, j, last = [], 0, len(right) - 1
    for p in left:
        while j < last and right[j] < p - PROXIMITY_WINDOW:
            j += 1
        if abs(right[j] - p) <= PROXIMITY_WINDOW:
            near.append(p)
    return near


def phrase_starts(index: Index, postings: list[Postings], exact: bool, raw_words: tuple[str, ...],
                  form: Callable[[str | None], str | None] = lambda w: w) -> dict[int, list[int]]:
    """Where the groups stand one after another; with ``exact``, as the words are written."""
    if not postings:
        return {}
    if len(postings) == 1:
        found = {i: list(starts) for i, starts in postings[0].items()}
    elif len(postings) == 2:
        found = _two_starts(postings[0], postings[1])
    else:
        found = {}
        for i in set(postings[0]).intersection(*postings[1:]):
            starts = _starts(postings, i)
            if starts:
                found[i] = starts
    if exact:
        raw = [w for w in raw_words if w not in STOPWORDS] or list(raw_words)
        docs = index.docs
        for i, starts in list(found.items()):
            raws = docs[i].raw
            starts = [s for s in starts if all(form(raws.get(s + k)) == form(w) for k, w in enumerate(raw))]
            if starts:
                found[i] = starts
            else:
                del found[i]
    return found


def consecutive(postings: list[Postings]) -> Mapping[int, Sequence[int]]:
    """Where the words stand one after another: paper -> positions of the first word."""
    if len(postings) == 1:
        return postings[0]
    if len(postings) == 2:
        return _two_starts(postings[0], postings[1])
    found: dict[int, list[int]] = {}
    for i in set(postings[0]).intersection(*postings[1:]):
        starts = _starts(postings, i)
        if starts:
            found[i] = starts
    return found


def _two_starts(first: Postings, second: Postings) -> dict[int, list[int]]:
    """``consecutive`` for two groups (most phrases), each a few times in a paper (a set for more)."""
    found: dict[int, list[int]] = {}
    for i in first.keys() & second.keys():
        following: Collection[int] = second[i]
        if len(following) > FEW:
            following = set(following)
        starts = [s for s in first[i] if s + 1 in following]
        if starts:
            found[i] = starts
    return found


def _starts(postings: list[Postings], i: int) -> list[int]:
    """The positions in paper ``i`` where the first group stands and each next one right after it (three or more)."""
    rest = [set(p[i]) for p in postings[1:]]
    return [s for s in postings[0][i] if all(s + k + 1 in f for k, f in enumerate(rest))]


def semantic_scores(index: Index, keyword: Keyword) -> dict[int, float]:
    """Meaning, not words: the embedder's capped bonus for papers close to the keyword."""
    bonus = index.embedder.bonus(closeness(index, keyword))
    return dict(zip(bonus.nonzero()[0].tolist(), bonus[bonus > 0].tolist()))


def closeness(index: Index, keyword: Keyword) -> np.ndarray:
    """Every paper's cosine to the keyword's meaning (0 for all without vectors, or for an exact phrase)."""
    if index.vectors is None or keyword.exact:
        return np.zeros(len(index.papers))
    query = index.embedder.embed_keywords([" ".join(keyword.words)])[0]
    return np.asarray(index.vectors @ query, dtype=float)


def feedback_scores(index: Index, scores: dict[int, float], keyword: Keyword) -> dict[int, float]:
    """Pseudo-relevance feedback: words common in the keyword's best matches."""
    top = sorted(scores, key=scores.__getitem__, reverse=True)[:FEEDBACK_DOCS]
    own = {s for alt in index.alternatives(keyword) for g in alt for s in g}
    weights: dict[str, float] = defaultdict(float)
    best = scores[top[0]]
    for i in top:
        factor = scores[i] / best
        for st, share in index.term_shares(i):
            if st not in own:
                weights[st] += factor * share
    chosen = heapq.nlargest(FEEDBACK_TERMS, weights.items(), key=itemgetter(1))
    total = sum(w for _, w in chosen) or 1.0
    extra: dict[int, float] = defaultdict(float)
    for st, w in chosen:
        share = FEEDBACK_WEIGHT * w / total
        for i, weight in index.group_weights(frozenset((st,))).items():
            extra[i] += share * weight
    return extra


def passing_mentions(index: Index, keyword: Keyword, words: np.ndarray) -> np.ndarray:
    """The papers that mention a one-word keyword only in passing: once, in the abstract.

    A keyword of two words or more found once as written is specific enough to
    count (on the development set such picks are relevant more often than the
    rest); a single word (``planning``, ``agents``) is not.
    A paper its words score (``words``) mentions it in passing when no word of the
    keyword (nor of its acronym or expansion) stands in the title and no
    alternative has every word twice or more: "we also use planning" once is a
    mention; "planning" in the title, or planning discussed through the abstract,
    is not.
    """
    known = index.cache["passing"].get((keyword.words, keyword.exact, keyword.prefix))
    if known is not None and known[0] is words:  # worked out with others (``bulk``) from these scores
        return known[1]
    if len([w for w in keyword.words if w not in STOPWORDS] or keyword.words) > 1:
        return np.zeros(0, dtype=np.intp)
    title: np.ndarray = np.zeros(len(index.papers), dtype=bool)
    repeated: np.ndarray = np.zeros(len(index.papers), dtype=bool)
    for alt in index.alternatives(keyword):
        every = None  # the papers where each group of the alternative so far stands twice or more
        for group in alt:
            numbers, in_title, in_all = index.counts(group)
            title[numbers[in_title > 0]] = True
            twice: np.ndarray = np.zeros(len(index.papers), dtype=bool)
            twice[numbers[in_all >= 2]] = True
            every = twice if every is None else every & twice
        if every is not None:
            repeated |= every
    return np.flatnonzero((words > 0) & ~title & ~repeated)
