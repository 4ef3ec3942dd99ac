"""What the words decide: passing mentions, a broad keyword's share, spelling variants.

Issue #18, item 2. Each listing here is made of abstracts of about the same
length, so "once in an abstract" means once in an average abstract.
"""

from __future__ import annotations

import numpy as np
import pytest

from digest.model import Paper, make_paper
from digest.ranking import select
from digest.ranking.index import Index
from digest.ranking.profile import parse_profile
from digest.ranking.reader import Examples
from digest.ranking.rules import Rules
from digest.ranking.select import Selection, rank
from digest.ranking.shares import shares

SENT = Selection(max_items=20, min_score=2.0)  # what a digest sends by default (DIGEST_MIN_SCORE=2)
EVERYTHING = Selection(max_items=None, min_score=0.0)
FILLER = ("We report experiments on several benchmarks with careful ablations, compare against strong "
          "baselines and release code and data for others to build on.")


def paper(pid: str, title: str, sentence: str = "") -> Paper:
    return make_paper(title, f"{sentence} {FILLER}".strip(), id=pid)


def sent_ids(papers: list[Paper], keywords: str, selection: Selection = SENT) -> list[str]:
    return [p.paper.id for p in rank(Index(papers), parse_profile(keywords), selection=selection)]


# --- a passing mention ---------------------------------------------------------------------

MENTIONS = [
    paper("1", "Robots that tidy kitchens", "Our robots also use planning for a few steps."),  # in passing
    paper("2", "Planning for household robots", "Robots tidy kitchens."),  # in the title
    paper("3", "Robots that tidy rooms", "Planning matters here: planning decides each step."),  # repeated
    paper("4", "Grasping cups", "Robots grasp cups."),
    paper("5", "Speech models", "Speech recognition at scale."),
]


def test_a_keyword_mentioned_once_in_passing_in_an_abstract_does_not_send_the_paper() -> None:
    assert "1" not in sent_ids(MENTIONS, "planning")


@pytest.mark.parametrize("pid", ["2", "3"], ids=["in the title", "repeated in the abstract"])
def test_a_keyword_in_the_title_or_repeated_in_the_abstract_sends_the_paper(pid: str) -> None:
    assert pid in sent_ids(MENTIONS, "planning")


def test_a_word_split_by_an_invisible_break_in_the_listing_still_matches() -> None:
    papers = [paper("1", "Re\u200bward models for long tasks", "A re\u00adward model scores each step."),
              *MENTIONS[3:]]

    assert sent_ids(papers, "reward model") == ["1"]


def test_a_phrase_found_once_as_written_is_specific_enough_to_send_the_paper() -> None:
    papers = [paper("1", "Robots that tidy kitchens", "A reward model scores a few of the steps."), *MENTIONS[1:]]

    assert "1" in sent_ids(papers, "reward model")


def test_a_passing_mention_keeps_its_place_and_score_in_the_order() -> None:
    picks = rank(Index(MENTIONS), parse_profile("planning"), selection=EVERYTHING)

    assert [p.paper.id for p in picks] == ["2", "3", "1"]
    assert picks[-1].score > SENT.min_score  # it ranks where its words put it; it only does not count as sent


def test_two_keywords_mentioned_in_passing_together_send_the_paper() -> None:
    papers = [paper("1", "Robots that tidy kitchens", "Our robots use planning and grasping in a few steps."),
              *MENTIONS[1:]]

    assert "1" in sent_ids(papers, "planning, grasping")


# --- a broad keyword's share ------------------------------------------------------------------

def _crowded() -> list[Paper]:
    """Twelve papers on planning (in their titles) and three each on two specific phrases."""
    broad = [paper(f"p{n}", f"Planning with learned models, part {n}", "Planning and planning again.")
             for n in range(12)]
    mcts = [paper(f"m{n}", f"Game playing agents {n}", "Monte Carlo tree search guides the agent; "
                  "Monte Carlo tree search scales.") for n in range(3)]
    shaping = [paper(f"s{n}", f"Sparse rewards {n}", "Reward shaping helps; reward shaping is cheap.")
               for n in range(3)]
    return broad + mcts + shaping


def test_a_broad_keyword_takes_no_more_than_its_share_when_specific_phrases_match() -> None:
    picked = sent_ids(_crowded(), "planning, monte carlo tree search, reward shaping",
                      Selection(max_items=10, min_score=2.0))

    assert len(picked) == 10
    assert {"m0", "m1", "m2", "s0", "s1", "s2"} <= set(picked)  # every specific match is sent
    assert sum(i.startswith("p") for i in picked) == 4  # the broad keyword: the rest


def test_a_broad_keyword_keeps_every_place_the_others_cannot_fill() -> None:
    picked = sent_ids(_crowded()[:12], "planning, monte carlo tree search, reward shaping",
                      Selection(max_items=10, min_score=2.0))

    assert len(picked) == 10 and all(i.startswith("p") for i in picked)


def test_a_weighted_keyword_gets_a_larger_share() -> None:
    assert shares({0: 12, 1: 12}, [3.0, 1.0], 8) == {0: 6, 1: 2}
    assert shares({0: 12, 1: 1, 2: 12}, [1.0, 1.0, 1.0], 10) == {0: 5, 1: 1, 2: 5}


@pytest.mark.parametrize("max_items", [3, 6, 10])
def test_the_shortcut_and_the_full_walk_agree_on_a_crowded_listing(max_items: int, monkeypatch: pytest.MonkeyPatch) -> None:
    index = Index(_crowded())
    profile = parse_profile("planning, monte carlo tree search, reward shaping")
    selection = Selection(max_items=max_items, min_score=2.0)

    fast = rank(index, profile, sent={"p1"}, selection=selection)
    monkeypatch.setattr(select, "_head", lambda totals, candidates, needed: (candidates, None))  # sort them all
    full = rank(index, profile, sent={"p1"}, selection=selection)

    assert [(p.paper.id, p.score) for p in fast] == [(p.paper.id, p.score) for p in full]
    assert len(fast) == max_items


def test_without_the_rules_the_ranking_is_the_one_before_them() -> None:
    picked = [p.paper.id for p in rank(Index(MENTIONS, rules=Rules.none()), parse_profile("planning"), selection=SENT)]

    assert "1" in picked  # the passing mention, sent as before


# --- spelling variants ------------------------------------------------------------------------

@pytest.mark.parametrize("keyword, title", [
    ("dialog", "Dialogue agents that listen"),
    ("dialogue systems", "Dialog systems that listen"),
    ("colour", "Color constancy in photos"),
    ("color", "Colours of galaxies"),
    ("pre-training", "Pretraining at scale"),
    ("pretraining", "Better pre-training recipes"),
    ("optimise", "Optimization of schedules"),
    ("behavior cloning", "Behavioural cloning for robots"),
    ("centre", "Data center cooling"),
    ("analyse", "We analyze logs"),
])
def test_a_spelling_variant_matches_as_if_written_the_same(keyword: str, title: str) -> None:
    papers = [paper("1", title), *MENTIONS[3:]]

    picks = rank(Index(papers), parse_profile(keyword), selection=SENT)

    assert [p.paper.id for p in picks] == ["1"]
    assert picks[0].matched[0].keyword == keyword and not picks[0].matched[0].partial


def test_an_exact_keyword_keeps_its_own_spelling() -> None:
    papers = [paper("1", "Color constancy in photos"), paper("2", "Colour constancy in photos")]

    assert sent_ids(papers, '"colour"') == ["2"]


def test_a_reader_without_votes_or_library_gets_exactly_the_keyword_ranking() -> None:
    index = Index(_crowded())
    profile = parse_profile("planning, monte carlo tree search, reward shaping")

    plain = rank(index, profile, selection=SENT)
    empty = rank(index, profile, selection=SENT, examples=Examples())

    assert [(p.paper.id, p.score, p.because) for p in empty] == [(p.paper.id, p.score, "") for p in plain]


def test_a_prefix_that_no_word_of_the_listing_starts_with_matches_nothing() -> None:
    papers = [paper("1", "Multi-modal pre-training at scale"), *MENTIONS[3:]]

    assert sent_ids(papers, "multi-xyz*", EVERYTHING) == []
    assert sent_ids(papers, "multi-mod*", EVERYTHING)[0] == "1"


def test_with_shares_the_shortcut_and_the_full_walk_agree_for_random_readers(monkeypatch: pytest.MonkeyPatch) -> None:
    import random

    from .test_rank import _listing

    papers = _listing(150)
    rng = random.Random(7)
    vocabulary = sorted({w for p in papers for w in p.title.lower().split() if len(w) > 3})
    index = Index(papers)
    readers = []
    for _ in range(60):
        keywords = ", ".join(rng.sample(vocabulary, rng.randint(2, 5)))
        sent = {p.id for p in rng.sample(papers, rng.randint(0, 4))}
        readers.append((parse_profile(keywords), sent, Selection(max_items=rng.randint(1, 8), min_score=rng.choice([0.5, 2.0]))))
    fast = [rank(index, profile, sent=sent, selection=selection) for profile, sent, selection in readers]
    monkeypatch.setattr(select, "_head", lambda totals, candidates, needed: (candidates, None))
    monkeypatch.setattr(select.Places, "head", lambda self, totals, candidates, room, tie: (candidates, None))
    full = [rank(index, profile, sent=sent, selection=selection) for profile, sent, selection in readers]

    assert [[(p.paper.id, p.score) for p in picks] for picks in fast] == \
        [[(p.paper.id, p.score) for p in picks] for picks in full]
    assert any(len(picks) == selection.max_items for picks, (_, _, selection) in zip(fast, readers))


def test_each_paper_belongs_to_the_keyword_that_gives_it_most_of_its_score() -> None:
    """``shares.owners`` against the rule itself, paper by paper: the largest weighted score, the first
    keyword on a tie; on random readers with weights."""
    import random

    from digest.ranking.columns import columns
    from digest.ranking.shares import owners

    from .test_rank import _listing

    papers = _listing(150)
    rng = random.Random(11)
    vocabulary = sorted({w for p in papers for w in p.title.lower().split() if len(w) > 3})
    index = Index(papers)
    table = columns(index)
    compared = 0
    for _ in range(40):
        keywords = [f"{w}^{rng.choice([1, 2, 0.5])}" for w in rng.sample(vocabulary, rng.randint(2, 5))]
        wanted = parse_profile(", ".join(keywords)).wanted
        candidates = np.flatnonzero(table.totals(wanted) > 0)
        expected = [max(range(len(wanted)), key=lambda k: (float(table.scores(wanted[k])[i]) * wanted[k].weight, -k))
                    for i in candidates.tolist()]
        assert owners(table, wanted, candidates).tolist() == expected
        compared += len(candidates)
    assert compared
