"""A down-vote demotes the voted paper's close relatives, not every paper of its topic."""

from __future__ import annotations

from digest.ranking import reader as learn
from digest.ranking.profile import parse_profile
from digest.ranking.reader import Examples
from digest.model import make_paper
from digest.ranking.index import Index
from digest.ranking.select import Selection, rank

from .test_learn import LIKED_PROTEIN, LISTING, PROTEIN

EVERYTHING = Selection(max_items=None, min_score=0.0)

# shares the voted paper's topic (protein structure prediction) and some of its words, not its content
MEMBRANE = make_paper("Benchmark for protein structure prediction of membrane proteins",
                      "We release a benchmark of membrane proteins, lipid environments"
                      " and structure prediction targets.",
                      id="2603.00020")
PAPERS = [*LISTING, MEMBRANE]


def _scores(examples: Examples | None) -> dict[str, float]:
    return {p.paper.id: p.score for p in rank(Index(PAPERS), parse_profile("benchmark"), selection=EVERYTHING,
                                               examples=examples)}


def test_the_topical_neighbour_is_between_the_floors_and_the_near_duplicate_above_both() -> None:
    vectors = learn.term_vectors(Index(PAPERS))
    similar = vectors.similar(LIKED_PROTEIN)
    assert learn.LIKE_FLOOR < similar[vectors.ids[MEMBRANE.id]] < learn.DISLIKE_FLOOR < similar[vectors.ids[PROTEIN.id]]


def test_a_down_vote_leaves_a_paper_that_only_shares_the_voted_papers_topic_where_it_was() -> None:
    plain = _scores(None)
    voted = _scores(Examples(disliked=(LIKED_PROTEIN,)))
    assert voted[MEMBRANE.id] == plain[MEMBRANE.id]


def test_a_down_vote_still_demotes_the_near_duplicate_below_the_topical_neighbour() -> None:
    plain = _scores(None)
    voted = _scores(Examples(disliked=(LIKED_PROTEIN,)))
    assert plain[PROTEIN.id] >= plain[MEMBRANE.id] - 1.0
    assert voted.get(PROTEIN.id, 0.0) < plain[PROTEIN.id] - 1.0
    assert voted.get(PROTEIN.id, 0.0) < voted[MEMBRANE.id]
