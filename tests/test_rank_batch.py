"""Readers ranked together (``digest.ranking.batch``) get what each gets ranked alone.

Random profiles over the oracle's listings (the bundled sample, a synthetic listing
with many equal scores, real listings when ``../shared`` is beside the project),
with and without the word rules and shares, random selections and papers sent
before: ``rank_many`` (which scores and walks readers a chunk at a time), and
``rank_counted`` and ``rank_whole`` handed a batch's scores, must give what
``rank``, ``rank_counted`` and ``rank_whole`` give one reader at a time: the
same picks, order, scores (exactly), explanations and counts.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from digest.model import Paper, make_paper
from digest.ranking.batch import Ahead, Batch
from digest.ranking.batch_explain import rounded
from digest.ranking.batch_shares import quotas
from digest.ranking.batch_walk import NO_LIMIT
from digest.ranking.index import Index
from digest.ranking.many import rank_many
from digest.ranking.profile import parse_profile
from digest.ranking.rules import Rules
from digest.ranking.select import Pick, Selection, rank, rank_counted, rank_whole
from digest.ranking.shares import places_of

from .test_rank_oracle import LISTINGS, SELECTIONS, _profiles

RULES = [Rules(), Rules.none()]
CASES = [(name, papers) for name, papers in LISTINGS[:2] + LISTINGS[-1:]]


def _seen(picks: list[Pick]) -> list[tuple]:
    return [(p.paper.id, p.score, p.rank, p.because, p.followed, tuple(p.matched)) for p in picks]


def _readers(papers: list[Paper], seed: str, count: int = 120) -> tuple[list, list[Selection], list[set[str]]]:
    rng = random.Random(seed)
    ids = [p.id for p in papers]
    profiles = _profiles(papers, rng, count)
    selections = [rng.choice(SELECTIONS) for _ in profiles]
    sent = [set(rng.sample(ids, rng.randint(0, min(6, len(ids))))) if rng.random() < 0.5 else set()
            for _ in profiles]
    return profiles, selections, sent


@pytest.mark.parametrize("rules", RULES, ids=["word rules and shares", "no rules"])
@pytest.mark.parametrize("name,papers", CASES, ids=[name for name, _ in CASES])
def test_readers_ranked_together_get_their_picks_ranked_alone(name: str, papers: list[Paper], rules: Rules) -> None:
    profiles, selections, sent = _readers(papers, f"batch-{name}")
    together = rank_many(Index(papers, rules=rules), profiles, sent, selections, workers=1)
    index = Index(papers, rules=rules)
    alone = [rank(index, p, sent=s, selection=sel) for p, s, sel in zip(profiles, sent, selections)]
    assert [_seen(picks) for picks in together] == [_seen(picks) for picks in alone]


@pytest.mark.parametrize("rules", RULES, ids=["word rules and shares", "no rules"])
@pytest.mark.parametrize("name,papers", CASES, ids=[name for name, _ in CASES])
def test_the_producers_rankings_from_a_batch_are_those_scored_alone(name: str, papers: list[Paper],
                                                                   rules: Rules) -> None:
    profiles, selections, sent = _readers(papers, f"producer-{name}")
    index = Index(papers, rules=rules)
    firsts = Batch(index).scores(profiles, selections, sent)
    for profile, selection, s, first in zip(profiles, selections, sent, firsts):
        picks, count = rank_counted(index, profile, sent=s, selection=selection, first=first)
        alone, alone_count = rank_counted(index, profile, sent=s, selection=selection)
        assert (_seen(picks), count) == (_seen(alone), alone_count)
        whole = rank_whole(index, profile, sent=s, selection=selection, first=first)
        assert [_seen(part) for part in whole] == [_seen(part) for part in rank_whole(index, profile, sent=s,
                                                                                      selection=selection)]


def test_most_readers_of_a_listing_are_walked_in_the_batch() -> None:
    """Equal totals are ordered by upvotes, recency and title in the batch as in the walk: only totals
    closer than ``TIE`` but not equal, or repeated titles, send a reader to the step-by-step walk."""
    papers = LISTINGS[1][1]
    profiles, selections, sent = _readers(papers, "walked")
    firsts = Batch(Index(papers)).scores(profiles, selections, sent)
    walked = [f for f, sel, s in zip(firsts, selections, sent) if f is not None and f.walk(sel.max_items, s) is not None]
    assert len(walked) >= 0.9 * len(profiles)


def test_papers_with_equal_totals_come_in_the_walks_order_upvotes_first() -> None:
    papers = [make_paper(f"Curiosity driven exploration, take {n}", "We study curiosity driven exploration.",
                         id=f"2603.{n:05d}", upvotes=upvotes) for n, upvotes in enumerate([3, 30, 10])]
    index = Index(papers)
    profile = parse_profile("curiosity driven exploration")
    first = Batch(index).scores([profile], [Selection(2, 0.5)], [set()])[0]
    assert first is not None and first.walk(2, set()) is not None
    assert len(set(first.totals[first.candidates].tolist())) == 1  # one total for all three
    assert _seen(rank(index, profile, selection=Selection(2, 0.5), first=first)) == \
        _seen(rank(index, profile, selection=Selection(2, 0.5)))
    assert [p.paper.upvotes for p in rank(index, profile, selection=Selection(2, 0.5), first=first)] == [30, 10]


def test_a_reader_with_votes_or_a_library_is_left_to_be_ranked_alone() -> None:
    papers = LISTINGS[1][1]
    profile = parse_profile("language model*, agents")
    batch = Batch(Index(papers))
    assert batch.scores([None, profile], [Selection()] * 2, [set()] * 2)[0] is None
    assert isinstance(batch.scores([profile], [Selection()], [set()])[0].totals, np.ndarray)  # type: ignore[union-attr]


def test_readers_asked_for_in_order_or_not_get_the_scores_of_their_own_chunk() -> None:
    """The send's producer asks ``Ahead`` reader by reader; a reader skipped (unsubscribed meanwhile) or asked
    for out of order gets what it gets ranked alone, and a reader with votes or a library is ranked alone."""
    papers = LISTINGS[1][1]
    profiles, selections, sent = _readers(papers, "ahead", count=40)
    index = Index(papers)
    ahead = Ahead(Batch(index), len(profiles), lambda n: (profiles[n], n % 5 != 0, selections[n], sent[n]))
    for number in [0, 1, 3, 2, 39, 7, 8]:
        profile, first = ahead.get(number)
        assert profile is profiles[number]
        assert (first is None) == (number % 5 == 0)
        assert _seen(rank(index, profile, sent=sent[number], selection=selections[number], first=first)) == \
            _seen(rank(index, profile, sent=sent[number], selection=selections[number]))


def test_scores_rounded_a_chunk_at_a_time_are_those_round_gives() -> None:
    """``rounded`` uses numpy where it cannot differ from ``round(score, 3)``: at halves, and a float either
    side of them, it is ``round`` all the same."""
    rng = np.random.default_rng(3)
    halves = (np.arange(0, 200_000) + 0.5) / 1000.0
    scores = np.concatenate([rng.uniform(0, 60, 200_000), rng.integers(0, 60_000, 1_000) / 1000.0, halves,
                             np.nextafter(halves, 0.0), np.nextafter(halves, np.inf), [0.0, 1e12, 0.0625, 2.675]])
    assert rounded(scores) == [round(s, 3) for s in scores.tolist()]


def test_a_chunks_places_are_each_readers_places_of() -> None:
    """``quotas`` water-fills every reader at once: the places ``places_of`` gives each, weights and
    limits drawn at random (weights outside a profile's range too, which it leaves to ``places_of``)."""
    rng = random.Random("quotas")
    readers, width = 400, 6
    counts = np.zeros((readers, width), dtype=np.intp)
    weights = np.ones((readers, width))
    keywords = np.zeros(readers, dtype=np.intp)
    limits = np.zeros(readers, dtype=np.intp)
    for r in range(readers):
        keywords[r] = n = rng.randint(0, width)
        counts[r, :n] = [rng.choice([0, 1, 2, 3, 5, 8, 20, 60]) for _ in range(n)]
        weights[r, :n] = [rng.choice([1.0, 1.0, 2.0, 0.5, 3.7, 100.0, 0.1, 250.0 if r % 50 == 0 else 1.0])
                          for _ in range(n)]
        limits[r] = rng.choice([0, 1, 3, 5, 10, 20])
    found = quotas(counts, weights, keywords, limits)
    for r in range(readers):
        n = int(keywords[r])
        places = places_of(counts[r, :n].tolist(), weights[r, :n].tolist(), int(limits[r])) \
            if limits[r] and n >= 2 and counts[r].sum() > limits[r] else None
        expected = [NO_LIMIT] * n if places is None else [places.get(k, 0) for k in range(n)]
        assert found[r, :n].tolist() == expected
    assert (found != NO_LIMIT).any(axis=1).sum() > readers // 4  # many readers' keywords were given places
