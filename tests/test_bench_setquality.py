"""The arithmetic behind the ranking benchmarks' set-quality figures (benchmarks/setquality.py)."""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "setquality.py"
_SPEC = importlib.util.spec_from_file_location("bench_setquality", _PATH)
assert _SPEC and _SPEC.loader
sq = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = sq  # dataclasses look their module up while the class is built
_SPEC.loader.exec_module(sq)

# Four readers' digests on one day:
# A sent a, b, c; a and d were relevant.  B sent nothing; x was relevant (silently empty).
# C sent y; nothing was relevant.         D sent nothing; nothing was relevant.
DAYS = [sq.judge(["a", "b", "c"], {"a", "d"}), sq.judge([], {"x"}), sq.judge(["y"], set()), sq.judge([], set())]


def test_a_digest_is_judged_by_its_picks_hits_and_the_days_relevant_papers() -> None:
    assert DAYS[0] == sq.Sent(picks=3, hits=1, relevant=2)


def test_precision_is_averaged_over_the_digests_that_were_sent() -> None:
    assert sq.summarise(DAYS).precision == pytest.approx((1 / 3 + 0) / 2)


def test_recall_is_averaged_over_the_days_that_held_something_relevant() -> None:
    assert sq.summarise(DAYS).recall == pytest.approx((1 / 2 + 0) / 2)


def test_f1_leaves_out_only_the_days_with_nothing_sent_and_nothing_to_send() -> None:
    assert sq.summarise(DAYS).f1 == pytest.approx((2 / 5 + 0 + 0) / 3)


def test_pooled_figures_are_ratios_of_the_summed_counts() -> None:
    quality = sq.summarise(DAYS)
    assert (quality.micro_precision, quality.micro_recall, quality.micro_f1) == pytest.approx((1 / 4, 1 / 3, 2 / 7))


def test_picks_and_empty_digests_count_every_digest_and_silent_ones_only_days_with_something_relevant() -> None:
    quality = sq.summarise(DAYS)
    assert (quality.picks, quality.empty, quality.silent, quality.digests) == (1.0, 0.5, 0.5, 4)


def test_nothing_at_all_summarises_to_zeros_rather_than_failing() -> None:
    assert sq.summarise([]).f1 == 0.0


def test_ndcg_discounts_a_relevant_paper_by_its_place() -> None:
    assert sq.ndcg(["x", "a"], {"a"}) == pytest.approx(0.6309, abs=1e-4)


SCORED = sq.Cutoffs([[(3.0, True), (1.0, False)], [(2.0, False)], []], relevant=[1, 0, 1])


def test_the_best_threshold_sends_only_what_scores_above_it() -> None:
    threshold, quality = sq.best_threshold(SCORED, max_items=None)
    assert threshold == 3.0
    assert quality.f1 == pytest.approx((1 + 0) / 2)  # the second reader sent nothing and needed nothing


def test_the_best_length_is_the_same_for_every_digest() -> None:
    k, quality = sq.best_top_k(SCORED, most=5)
    assert k == 1
    assert quality.f1 == pytest.approx((1 + 0 + 0) / 3)


def test_a_threshold_never_sends_more_than_max_items() -> None:
    assert [s.picks for s in SCORED.at_score(0.0, max_items=1)] == [1, 1, 0]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("max_items", [None, 2])
def test_the_sweep_finds_the_best_f1_of_every_score_tried_one_by_one(seed: int, max_items: int | None) -> None:
    rng = random.Random(seed)
    days = [sorted(((float(rng.randint(1, 9)), rng.random() < 0.3) for _ in range(rng.randint(0, 6))), reverse=True)
            for _ in range(40)]
    cutoffs = sq.Cutoffs(days, [sum(rel for _, rel in day) + rng.randint(0, 2) for day in days])
    tried = max(sq.mean_f1(cutoffs.at_score(score, max_items)) for day in days for score, _ in day)
    assert sq.best_threshold(cutoffs, max_items)[1].f1 == pytest.approx(tried)
