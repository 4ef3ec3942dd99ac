"""The batch walk (``batch_walk.walk_many``) picks what a reader's walk, step by step, picks: candidates best
first (equal totals by their place in the tie order), each keyword no more than its places, the papers that
waited filling the room left; and it sends to the step-by-step walk every reader with near ties or twins.
Held to a plain walk written here, on candidates Hypothesis varies freely."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from digest.ranking.batch import Batch
from digest.ranking.batch_walk import NO_LIMIT, Candidates, walk_many
from digest.ranking.index import Index
from digest.ranking.select import TIE, Pick, rank

from .test_rank_batch import _readers
from .test_rank_oracle import LISTINGS

_TOTALS = st.sampled_from([0.5, 1.0, 2.0, 2.0 + TIE / 2, 3.25, 7.0, 1e6, 1e20])
_CANDIDATE = st.tuples(st.integers(0, 11), _TOTALS, st.integers(0, 2), st.booleans(), st.booleans())


def _walk_one(entries: list[tuple[int, float, int, bool]], quota: list[int], most: int) -> list[int]:
    """One reader's walk as ``select.Walk`` takes it: (tie place, total, owner, eligible) in, picks' places out."""
    order = sorted(range(len(entries)), key=lambda n: (-entries[n][1], entries[n][0]))
    used, taken, waiting = [0] * len(quota), [], []
    for n in order:
        _, _, owner, eligible = entries[n]
        if not eligible:
            continue
        if used[owner] < quota[owner]:
            used[owner] += 1
            if len(taken) < most:
                taken.append(n)
        else:
            waiting.append(n)
    room = most - sum(used)
    taken += waiting[:max(room, 0)]
    return sorted(taken, key=order.index)


@settings(max_examples=300)
@given(st.lists(st.lists(_CANDIDATE, max_size=12, unique_by=lambda c: c[0]), min_size=1, max_size=5),
       st.lists(st.lists(st.integers(0, 4), min_size=3, max_size=3), min_size=5, max_size=5),
       st.lists(st.sampled_from([None, 1, 2, 5]), min_size=5, max_size=5))
def test_the_batch_walk_picks_what_each_readers_walk_picks(readers: list[list[tuple[int, float, int, bool, bool]]],
                                                           quota: list[list[int]], most: list[int | None]) -> None:
    readers = [sorted(r) for r in readers]  # each reader's candidates by paper number
    count = len(readers)
    flat = [(r, *c) for r, candidates in enumerate(readers) for c in candidates]
    found = Candidates(np.array([f[0] for f in flat], dtype=np.intp), np.array([f[1] for f in flat], dtype=np.intp),
                       np.array([f[2] for f in flat], dtype=float), np.array([f[3] for f in flat], dtype=np.intp),
                       np.array([f[1] for f in flat], dtype=np.intp), np.array([f[4] for f in flat], dtype=bool),
                       np.array([f[5] for f in flat], dtype=bool))
    picked, ends, slow = walk_many(found, np.array(quota[:count], dtype=np.intp), most[:count])
    for r, candidates in enumerate(readers):
        totals = sorted((c[1] for c in candidates), reverse=True)
        near = any(a != b and b > a - TIE for a, b in zip(totals, totals[1:]))
        if near or any(c[4] for c in candidates):
            assert slow[r]
        if slow[r]:  # also when totals too far apart to order within ``TIE`` (``_best_first_by_floats``)
            continue
        start = sum(map(len, readers[:r]))
        mine = [int(p) - start for p in picked[ends[r]:ends[r + 1]]]
        entries = [(c[0], c[1], c[2], c[3]) for c in candidates]
        assert mine == _walk_one(entries, quota[r], most[r] or NO_LIMIT)


def test_a_readers_picks_made_for_the_whole_chunk_are_its_walk_ranked_from_one() -> None:
    """``Scores.picks`` makes every reader's picks in one pass at the first ask: each reader's are its walk's,
    ranked 1, 2, ... and a reader asking again gets equal picks of its own (no pick in two lists)."""
    papers = LISTINGS[1][1]
    profiles, selections, sent = _readers(papers, "chunk-picks", count=60)
    index = Index(papers)
    firsts = Batch(index).scores(profiles, selections, sent)
    walked = 0
    for profile, selection, s, first in zip(profiles, selections, sent, firsts):
        assert first is not None
        made = first.picks(selection.max_items, s, index.papers, Pick)
        walk = first.walk(selection.max_items, s)
        assert (made is None) == (walk is None)
        if made is None or walk is None:
            continue
        walked += 1
        picks, count = made
        assert [(p.paper, p.score, p.matched) for p in picks] == \
            [(index.papers[n], score, matched) for n, score, matched in zip(*walk[:3])]
        assert [p.rank for p in picks] == list(range(1, len(picks) + 1)) and count == walk[3]
        again = rank(index, profile, sent=s, selection=selection, first=first)
        assert again == picks and not any(a is b for a, b in zip(again, picks))
        assert first.picks(None if selection.max_items else 5, s, index.papers, Pick) is None  # walked for another
    assert walked >= 40

