"""A full digest shared among the keywords: cutting each keyword's head picks what sorting them all does.

``Places.head`` is only tried past ``shares.SORT_ALL`` candidates (fewer cost less to
sort whole); here it is tried for every full digest, and must agree with the full walk.
"""

from __future__ import annotations

import random

import pytest

from digest.ranking import select, shares
from digest.ranking.index import Index
from digest.ranking.profile import parse_profile
from digest.ranking.select import Selection, rank
from digest.ranking.shares import Places

from .test_rank import _listing


def _readers(count: int, seed: int) -> list[tuple]:
    rng = random.Random(seed)
    papers = _listing(150)
    vocabulary = sorted({w for p in papers for w in p.title.lower().split() if len(w) > 3})
    readers = []
    for _ in range(count):
        keywords = [f"{w}^2" if rng.random() < 0.2 else w for w in rng.sample(vocabulary, rng.randint(2, 5))]
        sent = {p.id for p in rng.sample(papers, rng.randint(0, 4))}
        readers.append((parse_profile(", ".join(keywords)), sent,
                        Selection(max_items=rng.randint(1, 8), min_score=rng.choice([0.5, 2.0]))))
    return [Index(papers), readers]


def _picks(index: Index, readers: list[tuple]) -> list[list[tuple[str, float, str]]]:
    return [[(p.paper.id, p.score, p.matched_text) for p in rank(index, profile, sent=sent, selection=selection)]
            for profile, sent, selection in readers]


def test_each_keywords_head_picks_what_sorting_every_candidate_picks(monkeypatch: pytest.MonkeyPatch) -> None:
    index, readers = _readers(80, seed=19)
    monkeypatch.setattr(shares, "SORT_ALL", 0)  # cut per keyword whenever it can
    cut = []
    original = Places.head

    def counted_head(self: Places, *args: object) -> object:
        head, found = original(self, *args)  # type: ignore[arg-type]
        cut.append(found is not None)
        return head, found

    monkeypatch.setattr(Places, "head", counted_head)
    fast = _picks(index, readers)
    monkeypatch.setattr(Places, "head", lambda self, totals, candidates, room, tie: (candidates, None))
    monkeypatch.setattr(select, "_head", lambda totals, candidates, needed: (candidates, None))
    full = _picks(index, readers)

    assert fast == full
    assert any(cut)  # some digests were walked over a cut head


def test_few_candidates_are_sorted_whole() -> None:
    index, readers = _readers(40, seed=5)
    calls = []
    for profile, sent, selection in readers:
        scored = select.Scored(index, profile, None, selection.min_score)
        places = scored.places(selection.max_items)
        if places is not None and len(scored.candidates) <= shares.SORT_ALL:
            calls.append(places.head(scored.totals, scored.candidates, 5, select.TIE))

    assert calls and all(cut is None for _, cut in calls)
