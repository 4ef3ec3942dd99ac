"""Selection: a reader's picks from the index, best first, explained, never a paper sent before.

Pure: papers, a profile and the ids already sent go in; scored, explained picks
come out. No database, network or clock.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from operator import itemgetter

from ..model import Paper
from .explain import Match
from .index import Index, keyword_key
from .profile import Keyword, Profile
from .reader import UNMATCHED_CAP, Examples, ReaderModel, model_for
from .scoring import MIN_CONTRIBUTION

TIE = 1e-6  # scores closer than this are equal; upvotes and recency decide
DUPLICATE_MARGIN = 5  # papers a reader may skip as duplicates of a better-ranked one


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



@dataclass(frozen=True, slots=True)
class Selection:
    max_items: int | None = 20
    min_score: float = 0.0




def ranked(index: Index, keyword: Keyword) -> tuple[list[int], list[float]]:
    """Papers by descending score for ``keyword``, and their negated scores (for bisect)."""
    key = keyword_key(keyword)
    found = index.cache["ranked"].get(key)
    if found is None:
        table = index.keyword_scores(keyword)
        order = sorted(table, key=table.__getitem__, reverse=True)
        found = index.cache["ranked"][key] = (order, [-table[i] for i in order])
    return found


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
    heads = [ranked(index, k) for k in wanted]
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

    ``examples`` (the reader's votes and library, ``reader.examples_for``) nudge the
    keyword scores within the bounds ``digest.ranking.reader`` documents; without them the
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
            keyword, points = 0.0, min(points, UNMATCHED_CAP)
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
