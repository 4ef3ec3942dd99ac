"""The held-out agreement behind benchmarks/trust_votes.py: does a reader's model predict their own votes?"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from digest.model import Paper
from digest.ranking.reader import Example, Examples, ReaderModel

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "trust_votes.py"
_SPEC = importlib.util.spec_from_file_location("bench_trust_votes", _PATH)
assert _SPEC and _SPEC.loader
tv = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = tv
_SPEC.loader.exec_module(tv)


class Listing:
    """An index's vector side: its papers and their unit vectors, one row each."""

    embedder = None

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.papers = [Paper(key, key, "") for key in vectors]
        rows = np.array(list(vectors.values()), dtype=float)
        self.vectors = rows / np.linalg.norm(rows, axis=1, keepdims=True)


def votes(liked: list[str], disliked: list[str]) -> Examples:
    return Examples(tuple(Example(k, k, "") for k in liked), tuple(Example(k, k, "") for k in disliked))


def test_up_votes_that_vouch_for_each_other_against_scattered_down_votes_agree_fully() -> None:
    listing = Listing({"a1": [1, 0.1, 0, 0], "a2": [1, 0, 0.1, 0], "a3": [1, 0.1, 0.1, 0],
                       "d1": [0, 1, 0, 0], "d2": [0, 0, 0, 1]})
    agreement = tv.held_out_agreement(listing, votes(["a1", "a2", "a3"], ["d1", "d2"]), ReaderModel({}, {}))
    assert agreement == 1.0


def test_up_votes_unrelated_to_each_other_give_no_better_than_chance() -> None:
    listing = Listing({"a1": [1, 0, 0, 0], "a2": [0, 1, 0, 0], "d1": [0, 0, 1, 0], "d2": [0, 0, 0, 1]})
    agreement = tv.held_out_agreement(listing, votes(["a1", "a2"], ["d1", "d2"]), ReaderModel({}, {}))
    assert agreement == 0.5


def test_without_down_votes_the_up_votes_are_judged_against_the_listings_papers() -> None:
    listing = Listing({"a1": [1, 0.1, 0], "a2": [1, 0, 0.1], "p": [0, 1, 0], "q": [0, 0, 1]})
    model = ReaderModel({0: 1.0, 1: 1.0}, {})  # the listing's own scores: only a1 and a2 lifted
    agreement = tv.held_out_agreement(listing, votes(["a1", "a2"], []), model)
    # held out, each up-vote scores 1 (the other vouches for it): above p and q, tied with a1 and a2
    assert agreement == pytest.approx((2 * 2 + 0.5 * 2 * 2) / 8)


def test_scaling_the_model_shrinks_its_lifts_and_keeps_its_penalties() -> None:
    model = ReaderModel({0: 1.0, 1: -0.5}, {0: "like 'a'"})
    half = tv.scaled(model, 0.25)
    assert half.adjust == {0: 0.25, 1: -0.5}
    assert half.reasons == {}  # a lift below EXPLAIN_MIN is not named
