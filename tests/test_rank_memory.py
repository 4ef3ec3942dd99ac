"""A day's index is freed once the run that ranked with it lets it go (the daemon ranks every day)."""

from __future__ import annotations

import gc
import weakref

from digest.model import make_paper
from digest.ranking.index import Index
from digest.ranking.profile import parse_profile
from digest.ranking.reader import Example, Examples
from digest.ranking.select import rank


def test_an_index_ranked_with_is_freed_when_dropped() -> None:
    index = Index([make_paper("Planning with language models", "We plan.", id="2601.00001")])
    assert [p.paper.id for p in rank(index, parse_profile(["planning"]))] == ["2601.00001"]
    liked = Examples(liked=(Example("2512.00001", "Planning agents", "Language models that plan."),))
    assert [p.paper.id for p in rank(index, parse_profile(["planning"]), examples=liked)] == ["2601.00001"]
    gone = weakref.ref(index)
    del index
    gc.collect()
    assert gone() is None


def test_a_reweighted_index_scores_as_one_built_with_those_weights() -> None:
    from digest.ranking.weights import Weights

    papers = [make_paper("Planning agents", "Agents that plan with planning.", id="2601.00001"),
              make_paper("Robots", "A robot that plans its planning agents.", id="2601.00002")]
    other = Weights(k1=2.0, b=0.3, title=5.0, phrase=1.0, surface=0.5, proximity=2.0)
    base = Index(papers)
    rank(base, parse_profile(["planning agents"]))  # the base's caches warm
    reweighted = [(p.paper.id, p.score) for p in rank(base.reweighted(other), parse_profile(["planning agents"]))]
    assert reweighted == [(p.paper.id, p.score) for p in rank(Index(papers, weights=other),
                                                              parse_profile(["planning agents"]))]
    assert reweighted != [(p.paper.id, p.score) for p in rank(base, parse_profile(["planning agents"]))]
