"""Selection: a reader's picks from the index, best first, explained, never a paper sent before.

Pure: papers, a profile and the ids already sent go in; scored, explained picks
come out. No database, network or clock.

A reader's scores are a sum of the index's keyword columns (``columns``), the
exclusions a mask, the reader's model (``reader``) a few adjusted entries. Of the
papers at or above ``min_score``, only the head a digest can use is sorted: the
``max_items`` best plus room for the ones skipped (sent before, duplicate titles,
no keyword named), with every paper tied to the last of them; should the skips
eat the head, the rest is sorted too. Matches are worked out for the picks only.

A reader who follows authors or labs (``authors``) gets the papers by them first,
whatever their keyword score (below ``min_score``, or matching no keyword at all),
best keyword score first; then the keyword picks not already there; ``max_items``
in all. Exclusions, papers sent before and repeated titles still apply. A reader
who follows nobody costs nothing more: the keyword ranking, exactly.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..model import Paper, title_key
from .authors import Follows, followed_papers
from .chunk import Scores
from .columns import Columns, columns
from .explain import Match, matches_by_code
from .index import Index
from .profile import Keyword, Profile
from .reader import UNMATCHED_CAP, Examples, ReaderModel, model_for
from .scoring import MIN_CONTRIBUTION
from .shares import Places, places

TIE = 1e-6  # scores closer than this are equal; upvotes and recency decide
DUPLICATE_MARGIN = 5  # papers a reader may skip as duplicates of a better-ranked one
WORD_SHARE = 0.75  # with meaning on, the share of min_score a paper must reach on words alone (qualified_mask)
RECALL_WORDS = 0.5  # or: close in meaning to a keyword (the embedder's ``Bonus.recall``) whose words reach this share
PASSING_SHARE = 0.9  # the most of min_score a keyword mentioned once, only in an abstract, counts for


@dataclass(slots=True)
class Pick:
    paper: Paper
    score: float
    matched: tuple[Match, ...]
    rank: int = 0
    because: str = ""  # a pick the reader's votes or library lifted: "like 'Title'"
    followed: str = ""  # a pick by an author or lab the reader follows: "by Yann LeCun", "from Meta AI"

    @property
    def matched_text(self) -> str:
        return "; ".join(text for text in (", ".join(str(m) for m in self.matched), self.because, self.followed)
                         if text)


@dataclass(frozen=True, slots=True)
class Selection:
    max_items: int | None = 20
    min_score: float = 0.0


def rank(
    index: Index,
    profile: Profile,
    *,
    sent: Collection[str] = frozenset(),
    selection: Selection = Selection(),
    examples: Examples | None = None,
    follows: Follows | None = None,
    first: Scores | None = None,
) -> list[Pick]:
    """The reader's picks: best first, above the threshold, never a sent paper.

    ``examples`` (the reader's votes and library, ``reader.examples_for``) nudge the
    keyword scores within the bounds ``digest.ranking.reader`` documents; without
    them the ranking is the keyword ranking, exactly. ``follows`` (``authors.follows_of``):
    the papers by the authors and labs the reader follows come first (module docstring).
    ``first``: the reader's scores as a batch of readers worked them out (``batch``).
    """
    most = selection.max_items
    made = first.picks(most, sent, index.papers, Pick) if first is not None and not examples and not follows else None
    if made is not None:
        return made[0]
    return Scored(index, profile, examples, selection.min_score, first).picks(sent, selection.max_items, follows)


def rank_whole(
    index: Index,
    profile: Profile,
    *,
    sent: Collection[str] = frozenset(),
    selection: Selection = Selection(),
    examples: Examples | None = None,
    follows: Follows | None = None,
    first: Scores | None = None,
) -> tuple[list[Pick], list[Pick]]:
    """``rank``'s picks and the reader's whole list (``rank`` without ``max_items``), scored once.

    Picks that do not fill ``max_items`` are the whole list (the walk saw every
    candidate), and a walk without the maximum is made only for picks that do. Unless
    the digest is shared among the keywords (``shares``), the picks are then its head.
    ``first``: as for ``rank``.
    """
    scored = Scored(index, profile, examples, selection.min_score, first)
    most = selection.max_items
    if most and scored.places(most) is None:
        every = scored.picks(sent, None, follows)
        return every[:most], every
    picks = scored.picks(sent, most, follows)
    if not most or len(picks) < most:
        return picks, picks
    return picks, scored.picks(sent, None, follows)


def rank_counted(
    index: Index,
    profile: Profile,
    *,
    sent: Collection[str] = frozenset(),
    selection: Selection = Selection(),
    examples: Examples | None = None,
    follows: Follows | None = None,
    first: Scores | None = None,
) -> tuple[list[Pick], int | None]:
    """``rank``'s picks and, when they fill ``max_items``, ``count_matches`` (None otherwise), scored once.

    The send's producer without the archive: "20 of 30". The count reuses the
    reader's keyword scores unless the reader's model changed them. ``first``: as for ``rank``.
    """
    most = selection.max_items
    made = first.picks(most, sent, index.papers, Pick) if first is not None and not examples and not follows else None
    if made is not None:
        picks, count = made
        return picks, count if most is not None and len(picks) >= most else None
    scored = Scored(index, profile, examples, selection.min_score, first)
    picks = scored.picks(sent, most, follows)
    if most is None or len(picks) < most:
        return picks, None
    if scored.adjusted:
        return picks, count_matches(index, profile, sent=sent, min_score=selection.min_score, follows=follows)
    if not follows and columns(index).explained_mask(profile.wanted) is None:  # the candidates, as they are
        return picks, _titles(index, scored.candidates, sent)
    passing: np.ndarray = np.zeros(len(index.papers), dtype=bool)
    passing[scored.candidates] = True
    return picks, _count(index, profile, passing, scored.removed, sent, follows)


class Scored:
    """One reader's scores and the papers that pass their ``min_score``, for one or more walks."""

    def __init__(self, index: Index, profile: Profile, examples: Examples | None, floor: float,
                 first: Scores | None = None) -> None:
        self.index, self.profile, self.floor = index, profile, floor
        self.table = columns(index)
        self._places: dict[int | None, Places | None] = {}
        self.first = first = first if not examples else None
        self.reasons: Mapping[int, str] = {}
        self.lifted: Collection[int] = set()
        if first is not None:  # worked out with other readers: a reader without votes or library
            self.totals, self.removed, self.candidates = first.totals, first.removed, first.candidates
            self.adjusted = False
            self._owners: np.ndarray | None = first.owners
            return
        self._owners = None
        self._alone(profile, examples, floor)

    def _alone(self, profile: Profile, examples: Examples | None, floor: float) -> None:
        table = self.table
        totals = table.totals(profile.wanted)
        self.removed = removed = _without_owned(self.index, table.removed(profile.excluded), examples)
        model = model_for(self.index, examples)
        self.adjusted = model is not None  # the reader's model changed the keyword scores
        if model is not None:
            totals = adjusted(totals, model, removed)
        if removed is not None:
            totals[removed] = 0.0
        self.totals = totals
        self.candidates = np.flatnonzero(qualified_mask(table, profile, totals, floor))
        self.reasons, self.lifted = (model.reasons, model.lifted) if model is not None else ({}, set())

    def places(self, most: int | None) -> Places | None:
        """Each keyword's places in a digest of ``most`` (None: no share applies); worked out once."""
        if not self.index.rules.shares:
            return None
        if most not in self._places:
            self._places[most] = places(self.table, self.profile.wanted, self.candidates, most, self._owners)
        return self._places[most]

    def picks(self, sent: Collection[str], most: int | None, follows: Follows | None) -> list[Pick]:
        made = self.first.picks(most, sent, self.index.papers, Pick) if self.first is not None and not follows else None
        if made is not None:
            return made[0]
        selection = Selection(most, self.floor)
        walk = Walk(self.index, self.table, self.profile, sent, selection, self.reasons, self.lifted,
                    self.places(most))
        picks = _keyword_picks(walk, self.totals, self.candidates, most, len(sent))
        if follows:
            picks = followed_first(walk.followed(self.totals, followed_papers(self.index, follows), self.removed),
                                   picks, most)
        return picks


def _without_owned(index: Index, removed: np.ndarray | None, examples: Examples | None) -> np.ndarray | None:
    """``removed`` and the papers already in the reader's library: they have them, so they are not news (and
    would be lifted by their own likeness, "like" themselves)."""
    owned = {e.paper_id for e in examples.liked if e.source == "library" and e.paper_id} if examples else set()
    numbers = [n for n, paper in enumerate(index.papers) if paper.id in owned] if owned else []
    if not numbers:
        return removed
    return np.array(sorted(set(numbers).union(removed.tolist() if removed is not None else ())), dtype=np.intp)


def _keyword_picks(walk: Walk, totals: np.ndarray, candidates: np.ndarray, most: int | None,
                   sent: int) -> list[Pick]:
    """The walk down the head of the candidates (each keyword's head, with shares), or all of them
    when the head runs out."""
    if most:
        room = DUPLICATE_MARGIN + sent
        if walk.shared is not None:  # each keyword's own head: its places and the room for skips
            head, cut = walk.shared.head(totals, candidates, room, TIE)
        else:
            head, cut = _head(totals, candidates, most + room)
        if cut is not None:
            picks = walk.picks(totals, head, cut)
            if picks is not None:
                return picks
    picks = walk.picks(totals, candidates, None)
    assert picks is not None
    return picks


def followed_first(followed: list[Pick], picks: list[Pick], most: int | None) -> list[Pick]:
    """The followed picks, then the keyword picks that are not among them (nor repeat their titles), renumbered."""
    ids = {p.paper.id for p in followed}
    titles = {title_key(p.paper.title) for p in followed}
    rest = [p for p in picks if p.paper.id not in ids and title_key(p.paper.title) not in titles]
    merged = (followed + rest)[:most] if most else followed + rest
    return [replace(p, rank=n) for n, p in enumerate(merged, 1)]


def qualified_mask(table: Columns, profile: Profile, totals: np.ndarray, floor: float) -> np.ndarray:
    """The papers that pass the reader's ``min_score``: words decide, meaning confirms.

    A keyword mentioned once, only in an abstract (``Columns.passing``), counts
    toward the floor for at most ``PASSING_SHARE`` of it: a mention in passing
    alone does not send a paper; with a second keyword, or (with vectors) when the
    paper is close in meaning, it does. It keeps its full score in the order.
    Without vectors, a paper passes when its total reaches the floor. With them
    (``DIGEST_SEMANTIC``), meaning reorders but cannot carry a paper on its own:
    its words must reach ``WORD_SHARE`` of the floor, and words plus meaning (plus
    the reader's votes) the embedder's ``Bonus.confirmed`` times the floor (MiniLM
    1.75, WordLlama 1.25); or, the bounded recall rule, it is very close in meaning
    to one keyword (cosine at least the embedder's ``Bonus.recall``: MiniLM 0.35,
    none for WordLlama) whose own words score ``RECALL_WORDS`` of the floor or more. One that passes on scattered words far from the keyword's
    meaning does not pass; one under ``RECALL_WORDS`` on words never does. The
    constants were chosen by 5-fold cross-validation over the development set's
    queries (benchmarks/tune_meaning.py: F1 of what is sent on one-day slices,
    among the rules that send no more than words alone on the training folds),
    never per query: held out, F1 0.243 against 0.242 for the rule before (words
    at 0.75 and words plus meaning at 1.25 of the floor, no recall) and 0.220 for
    words alone, with 0.55 picks per digest against 0.60 and 0.57.
    """
    if floor <= 0:
        return totals > 0
    words = totals if table.index.vectors is None else table.word_totals(profile.wanted)
    if table.index.rules.passing:
        over = table.passing_excess(profile.wanted, PASSING_SHARE * floor)
        if over is not None:
            same = words is totals  # without vectors: one subtraction
            totals = totals - over
            words = totals if same else words - over
    if table.index.vectors is None:
        return words >= floor
    bonus = table.index.embedder.bonus
    confirmed = (words >= WORD_SHARE * floor) & (totals >= bonus.confirmed * floor)
    recall = bonus.recall
    if recall is None:
        return confirmed
    return confirmed | (table.recalled(profile.wanted, recall, RECALL_WORDS * floor) & (totals > 0))


def adjusted(totals: np.ndarray, model: ReaderModel, removed: np.ndarray | None) -> np.ndarray:
    """Keyword scores plus the model's points; at most ``UNMATCHED_CAP`` for a paper no keyword matches."""
    numbers = np.fromiter(model.adjust.keys(), np.intp, len(model.adjust))
    points = np.fromiter(model.adjust.values(), float, len(model.adjust))
    if removed is not None:
        keep = ~np.isin(numbers, removed)
        numbers, points = numbers[keep], points[keep]
    keyword = totals[numbers]
    unmatched = keyword < MIN_CONTRIBUTION  # matches no keyword: the model alone may not pick it
    keyword[unmatched] = 0.0
    points[unmatched] = np.minimum(points[unmatched], UNMATCHED_CAP)
    out = totals.copy()
    total = keyword + points
    out[numbers] = np.where(total > 0, total, 0.0)
    return out


def _head(totals: np.ndarray, candidates: np.ndarray, needed: int) -> tuple[np.ndarray, float | None]:
    """The ``needed`` best candidates and every one tied to them, and the score of the ``needed``-th.

    None for the score when the head would be most of the candidates: then all are sorted.
    """
    if len(candidates) <= 2 * needed:
        return candidates, None
    scores = totals[candidates]
    cut = float(np.partition(scores, len(scores) - needed)[len(scores) - needed])
    return candidates[scores > cut - TIE], cut


class Walk:
    """One reader's walk down the sorted candidates, skipping what a digest must not hold."""

    def __init__(self, index: Index, table: Columns, profile: Profile, sent: Collection[str],
                 selection: Selection, reasons: Mapping[int, str], lifted: Collection[int],
                 shared: Places | None = None) -> None:
        self.index, self.table, self.wanted = index, table, profile.wanted
        self.sent, self.selection, self.reasons, self.lifted = sent, selection, reasons, lifted
        self.shared = shared

    def followed(self, totals: np.ndarray, found: Mapping[int, str], removed: np.ndarray | None) -> list[Pick]:
        """The papers by followed authors and labs (``found``: why each), best keyword score first.

        Never a paper sent before, one an exclusion removes, or a title already picked;
        at most ``max_items``. Their keyword matches are named as for any pick.
        """
        papers, keys, ties = self.index.papers, self.index.title_keys, self.index.tie_keys
        gone = set(removed.tolist()) if removed is not None else set()
        numbers = sorted((i for i in found if i not in gone and papers[i].id not in self.sent),
                         key=lambda i: (-round(float(totals[i]), 6), ties[i], i))
        codes = _codes(self.table, self.wanted)
        picks: list[Pick] = []
        seen_titles: set[str] = set()
        for i in numbers:
            if keys[i] in seen_titles:
                continue
            seen_titles.add(keys[i])
            matched = _matched(codes, i)
            picks.append(Pick(papers[i], round(float(totals[i]), 3), matched, because=self.reasons.get(i, ""),
                              followed=found[i]))
            if self.selection.max_items and len(picks) >= self.selection.max_items:
                break
        return picks

    def picks(self, totals: np.ndarray, candidates: np.ndarray, cut: float | None) -> list[Pick] | None:
        """The picks from ``candidates``; None when they ran out below ``cut`` (more are needed)."""
        papers, keys, sent, most = self.index.papers, self.index.title_keys, self.sent, self.selection.max_items
        scores = totals[candidates]
        ordered = candidates[np.lexsort((candidates, -scores))]  # by score, then paper number
        numbers, values = ordered.tolist(), totals[ordered].tolist()
        codes = _codes(self.table, self.wanted)
        shared = self.shared
        owners = shared.owner_of[ordered].tolist() if shared is not None else [-1] * len(numbers)
        quota = [shared.quota.get(k, 0) for k in range(len(self.wanted))] if shared is not None else []
        used = [0] * len(quota)
        per_keyword = shared is not None and cut is not None  # the head is cut per keyword (``Places.head``)
        danger = shared.danger(used) if per_keyword and shared is not None else -np.inf
        taken: list[tuple[int, int, tuple[Match, ...]]] = []  # (place in the walk, candidate, matches)
        waiting: list[tuple[int, int]] = []  # their keyword's places were all used
        seen_titles: set[str] = set()
        full = most or len(numbers) + 1  # as many picks as fill the digest
        for step, n in enumerate(_best_first(self.index, numbers, values, None if per_keyword else cut)):
            if n < 0 or values[n] < danger:
                return None
            i = numbers[n]
            title = keys[i]
            if (sent and papers[i].id in sent) or title in seen_titles:
                continue
            k = owners[n]
            if k >= 0 and used[k] >= quota[k]:
                waiting.append((step, n))
                continue
            matched = _matched(codes, i)
            if not matched and i not in self.lifted:
                continue  # meaning alone (no keyword's words, no liked paper) never picks a paper
            seen_titles.add(title)
            taken.append((step, n, matched))
            if k >= 0:
                used[k] += 1
                if per_keyword and used[k] == quota[k] and shared is not None:
                    danger = shared.danger(used)
            if len(taken) >= full:
                return self._picks(taken, numbers, values)
        if cut is not None:
            return None
        for step, n in waiting:  # room left when every paper has been seen: the best of those that waited
            if most and len(taken) >= most:
                break
            i = numbers[n]
            matched = _matched(codes, i)
            if keys[i] in seen_titles or (not matched and i not in self.lifted):
                continue
            seen_titles.add(keys[i])
            taken.append((step, n, matched))
        return self._picks(sorted(taken), numbers, values)

    def _picks(self, chosen: list[tuple[int, int, tuple[Match, ...]]], numbers: list[int],
               values: list[float]) -> list[Pick]:
        papers = self.index.papers
        reasons = self.reasons
        if not reasons:
            return [Pick(papers[numbers[n]], round(values[n], 3), matched, r) for r, (_, n, matched) in enumerate(chosen, 1)]
        return [Pick(papers[numbers[n]], round(values[n], 3), matched, r, reasons.get(numbers[n], ""))
                for r, (_, n, matched) in enumerate(chosen, 1)]


def _codes(table: Columns, wanted: Sequence[Keyword]) -> list[tuple[tuple[Match | None, ...], bytes]]:
    """Each keyword's matches by code (``explain.matches_by_code``) and its codes (``Columns.code_bytes``)."""
    return [(matches_by_code(k.text), table.code_bytes(k)) for k in wanted]


def _matched(codes: list[tuple[tuple[Match | None, ...], bytes]], i: int) -> tuple[Match, ...]:
    """The keywords paper ``i`` matches (``codes``: ``_codes``); those it matches fully, when there are any."""
    found: list[Match] | None = None  # a loop, not a comprehension: one call fewer, for every pick of every reader
    for by_code, column in codes:
        code = column[i]
        if code:
            if found is None:
                found = [by_code[code]]  # type: ignore[list-item]
            else:
                found.append(by_code[code])  # type: ignore[arg-type]
    if found is None:
        return ()
    if len(found) > 1:
        found = [m for m in found if not m.partial] or found
    return tuple(found)


def _best_first(index: Index, numbers: list[int], values: list[float], cut: float | None) -> Iterator[int]:
    """Positions in the candidates (sorted by score): by score, then upvotes, then recency, then title.

    The sort by the bare score ran in C; the rare runs of equal scores (within
    ``TIE``) are ordered here by the tie-break key, lazily, as far as the reader
    needs. Below ``cut`` the candidates are not all there: -1 says so.
    """
    keys = index.tie_keys
    count = len(numbers)
    j = 0
    while j < count:
        if cut is not None and values[j] < cut:
            yield -1
            return
        level = values[j] - TIE
        k = j + 1
        while k < count and values[k] > level:
            k += 1
        if k - j == 1:
            yield j
        else:
            yield from sorted(range(j, k), key=lambda n: keys[numbers[n]])
        j = k


def score_profile(index: Index, profile: Profile) -> dict[int, float]:
    """Weighted sum of keyword scores over every paper a keyword scores, excluded papers removed."""
    table = columns(index)
    totals = table.totals(profile.wanted)
    removed = table.removed(profile.excluded)
    if removed is not None:
        totals[removed] = 0.0
    scored = np.flatnonzero(totals > 0)
    return dict(zip(scored.tolist(), totals[scored].tolist()))


def count_matches(index: Index, profile: Profile, *, sent: Collection[str] = frozenset(),
                  min_score: float = 0.0, follows: Follows | None = None) -> int:
    """How many picks ``rank`` would give without ``max_items``: the 30 in "20 of 30".

    Call it only when the picks came back full.
    """
    table = columns(index)
    totals = table.totals(profile.wanted)
    removed = table.removed(profile.excluded)
    if removed is not None:
        totals[removed] = 0.0
    return _count(index, profile, qualified_mask(table, profile, totals, min_score), removed, sent, follows)


def _count(index: Index, profile: Profile, passing: np.ndarray, removed: np.ndarray | None,
           sent: Collection[str], follows: Follows | None) -> int:
    """``count_matches`` from the papers that pass ``min_score`` (``qualified_mask``), exclusions applied."""
    named = columns(index).explained_mask(profile.wanted)
    if named is not None:
        passing &= named
    if follows:
        passing[list(followed_papers(index, follows))] = True
        if removed is not None:
            passing[removed] = False
    return _titles(index, np.flatnonzero(passing), sent)


def _titles(index: Index, numbers: np.ndarray, sent: Collection[str]) -> int:
    """How many distinct titles these papers have, leaving out those sent before."""
    keys = index.title_keys
    if not sent:
        return len(set(map(keys.__getitem__, numbers.tolist())))
    papers = index.papers
    return len({keys[i] for i in numbers.tolist() if papers[i].id not in sent})
