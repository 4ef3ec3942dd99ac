"""Keyword syntax and the ranker, specified one behaviour at a time."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.errors import KeywordError
from digest.ranking.profile import parse_keyword, parse_profile, split_keywords
from digest.model import make_paper
from digest.ranking.index import Index
from digest.ranking.rules import Rules
from digest.ranking.select import Selection, rank
from digest.ranking.acronyms import learn_acronyms

PAPERS = [
    make_paper("Reward Modeling with Uncertainty", "We train reward models on human preferences.", id="2601.00001", upvotes=5),
    make_paper("Exploration via Intrinsic Motivation", "Curiosity drives exploration in sparse-reward games.", id="2601.00002", upvotes=9),
    make_paper("A Survey of Exploration Methods", "This survey covers exploration in reinforcement learning.", id="2601.00003", upvotes=50),
    make_paper("Scaling Large Language Models", "Large language models (LLMs) improve with scale and data.", id="2601.00004"),
    make_paper("Learning to Reinforce Words", "Word learning with reinforcement from teachers in a classroom setting.", id="2601.00005"),
    make_paper("Reinforcement Learning for Robots", "We apply reinforcement learning to robot arms.", id="2601.00006"),
    make_paper("Reward Modeling with Uncertainty", "We train reward models on human preferences (v2 listing).", id="2601.00007"),
]
EVERYTHING = Selection(max_items=None, min_score=0.0)


def ids(keywords: str | list[str], sent: set[str] | None = None, selection: Selection = EVERYTHING) -> list[str]:
    picks = rank(Index(PAPERS), parse_profile(keywords), sent=sent or set(), selection=selection)
    return [p.paper.id for p in picks]


def test_keyword_syntax_is_parsed() -> None:
    k = parse_keyword('-"reward model"^2')
    assert (k.words, k.exact, k.exclude, k.weight) == (("reward", "model"), True, True, 2.0)
    p = parse_keyword("reward model*")
    assert p.prefix and p.words == ("reward", "model")


@pytest.mark.parametrize("spec, items", [
    ("a, b; ,c ;", ["a", "b", "c"]),
    ('"a, b"; c, -"d; e"', ['"a, b"', "c", '-"d; e"']),
    ("  ", []),
])
def test_keywords_are_split_at_commas_and_semicolons_outside_quotes(spec: str, items: list[str]) -> None:
    assert split_keywords(spec) == items


@pytest.mark.parametrize("spec, message", [
    ("", "no keywords"), ("  , ,", "no keywords"), ("-survey", "only exclusions"),
    ("*", "no words"), ("x^y", "must be a number"), ('"open', "unbalanced quote"), ("a*b", "only allowed at the end"),
    ("x^0", r"more than 0 and at most 100 \(e\.g\. \^2\)"),  # 0 is refused: "between 0 and 100" misled
    ("-", r"^keyword '-' has no words to match; write a word"),  # no word to exclude: nothing about a lone *
    ("*", r"no words to match \(a lone \* would match everything\)"),
])
def test_invalid_keywords_are_clear_errors(spec: str, message: str) -> None:
    with pytest.raises(KeywordError, match=message):
        parse_profile(spec)


def test_exclusion_drops_matching_papers() -> None:
    assert "2601.00003" in ids("exploration")
    assert "2601.00003" not in ids("exploration, -survey")


MENTIONS = [
    make_paper("Offline exploration benchmarks", "We survey the methods briefly, then test exploration offline on "
               "robot benchmarks with sparse rewards and long horizons.", id="2601.00011"),
    make_paper("Exploration methods reviewed", "This survey of exploration compares survey findings and "
               "organises surveyed exploration work into a survey taxonomy.", id="2601.00012"),
    *PAPERS,
]


def test_an_exclusion_in_the_title_drops_the_paper() -> None:
    picked = [p.paper.id for p in rank(Index(MENTIONS), parse_profile("exploration, -survey"), selection=EVERYTHING)]
    assert "2601.00003" not in picked  # "A Survey of Exploration Methods"


def test_an_exclusion_mentioned_in_passing_in_the_abstract_keeps_the_paper() -> None:
    picked = [p.paper.id for p in rank(Index(MENTIONS), parse_profile("exploration, -survey"), selection=EVERYTHING)]
    assert "2601.00011" in picked  # "We survey the methods briefly, then ..."


def test_an_exclusion_the_abstract_is_about_drops_the_paper() -> None:
    picked = [p.paper.id for p in rank(Index(MENTIONS), parse_profile("exploration, -survey"), selection=EVERYTHING)]
    assert "2601.00012" in [p.paper.id for p in rank(Index(MENTIONS), parse_profile("exploration"), selection=EVERYTHING)]
    assert "2601.00012" not in picked  # the abstract keeps coming back to surveys


def test_plural_and_inflected_forms_match() -> None:
    assert ids("reward models")[0] == "2601.00001"


def test_prefix_matches_word_starts() -> None:
    assert "2601.00001" in ids("reward model*") and "2601.00001" in ids("reward mod*")


def test_weight_lifts_a_keyword() -> None:
    assert ids("robot, curiosity^3")[0] == "2601.00002"
    assert ids("robot^3, curiosity")[0] == "2601.00006"


def test_phrase_beats_scattered_words() -> None:
    order = ids("reinforcement learning")
    assert order.index("2601.00006") < order.index("2601.00005")


def test_exact_phrase_needs_the_exact_words() -> None:
    assert "2601.00001" not in ids('"reward modeled"')
    assert ids('"reward modeling"')[0] == "2601.00001"


@pytest.mark.parametrize("keyword", ["LLM", "llms", "large language models"])
def test_acronym_and_expansion_find_each_other(keyword: str) -> None:
    assert ids(keyword)[0] == "2601.00004"


def test_acronyms_are_learned_from_the_listing() -> None:
    paper = make_paper("T", "We use proximal policy optimization (PPO) for tuning.")
    assert learn_acronyms([paper])["ppo"] == "proximal policy optimization"


def test_sent_papers_are_never_picked_again() -> None:
    first = ids("exploration", selection=Selection(max_items=1))
    second = ids("exploration", sent=set(first), selection=Selection(max_items=1))
    assert first and second and first != second


def test_near_duplicates_are_picked_once() -> None:
    assert sum(i in ("2601.00001", "2601.00007") for i in ids("reward model")) == 1


def test_threshold_and_max_items() -> None:
    assert len(ids("exploration", selection=Selection(max_items=1))) == 1
    assert ids("exploration", selection=Selection(max_items=None, min_score=1000.0)) == []


def test_ties_are_broken_by_upvotes() -> None:
    papers = [make_paper("Same Words", "alpha", id="1", upvotes=1), make_paper("Same Words", "alpha", id="2", upvotes=9)]
    picks = rank(Index(papers), parse_profile("alpha"), selection=EVERYTHING)
    assert picks[0].paper.id == "2"


def test_picks_explain_where_they_matched() -> None:
    pick = rank(Index(PAPERS), parse_profile("exploration, curiosity"), selection=EVERYTHING)[0]
    assert pick.paper.id == "2601.00002"
    where = {m.keyword: m.fields for m in pick.matched}
    assert where == {"exploration": ("title", "abstract"), "curiosity": ("abstract",)}


# --- many readers: the fast paths give the same picks as the plain one ----------------

def _listing(count: int = 120) -> list:
    import random

    rng = random.Random(3)
    topics = ["reward model", "exploration", "language model", "graph neural network", "diffusion",
              "robot arm", "survey", "curiosity", "speech", "retrieval", "agents", "vision"]
    papers = []
    for n in range(count):
        words = rng.sample(topics, 3)
        title = f"{words[0].title()} and {words[1]} number {n}"
        abstract = f"We study {words[0]} with {words[1]}. " + " ".join(rng.sample(topics, 4)) + f" {words[2]}."
        papers.append(make_paper(title, abstract, id=f"2602.{n:05d}", upvotes=rng.randint(0, 30)))
    return papers


PROFILES = ["exploration, curiosity", "language model*, -survey", "reward model^2, agents, retrieval",
            "diffusion, vision, speech, robot arm", '"graph neural network", agents', "survey"]


@pytest.mark.parametrize("spec", PROFILES)
@pytest.mark.parametrize("max_items,min_score", [(3, 2.0), (10, 1.0), (5, 4.0)])
def test_the_top_k_shortcut_picks_exactly_what_full_scoring_picks(spec: str, max_items: int, min_score: float) -> None:
    from . import reference_rank as oracle  # the ranker before vectorisation, scoring every paper

    papers = _listing()
    profile = parse_profile(spec)
    selection = Selection(max_items=max_items, min_score=min_score)

    fast = rank(Index(papers, rules=Rules.none()), profile, sent={"2602.00004"}, selection=selection)
    reference = oracle.Index(papers)
    full = oracle._select(reference, profile, oracle.score_profile(reference, profile), {"2602.00004"},
                          oracle.Selection(max_items, min_score))

    assert [(p.paper.id, p.score) for p in fast] == [(p.paper.id, p.score) for p in full]
    assert len(fast) <= max_items and all(p.score >= min_score for p in fast)


def test_rank_many_in_two_workers_equals_one_by_one() -> None:
    from digest.ranking.many import rank_many

    papers = _listing()
    profiles = [parse_profile(PROFILES[n % len(PROFILES)]) for n in range(60)]
    selections = [Selection(max_items=1 + n % 7, min_score=1.0) for n in range(60)]
    sent = [{f"2602.{n:05d}"} for n in range(60)]

    together = rank_many(Index(papers), profiles, sent, selections, workers=2, parallel_min=10)
    alone = [rank(Index(papers), p, sent=s, selection=sel) for p, s, sel in zip(profiles, sent, selections)]

    assert [[(p.paper.id, p.score, p.matched, p.rank) for p in r] for r in together] == \
        [[(p.paper.id, p.score, p.matched, p.rank) for p in r] for r in alone]


@pytest.mark.parametrize("enabled", [True, False])
def test_rank_many_leaves_the_cycle_collector_as_it_found_it(enabled: bool) -> None:
    import gc

    from digest.ranking.many import rank_many

    seen: list[bool] = []
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        picks = rank_many(Index(PAPERS), [parse_profile("exploration")] * 3, workers=1)
        seen.append(gc.isenabled())
    finally:
        (gc.enable if was else gc.disable)()

    assert seen == [enabled]
    assert [[p.paper.id for p in r] for r in picks] == [ids("exploration", selection=Selection())] * 3


def test_what_is_made_while_the_collector_is_paused_is_still_collected() -> None:
    import gc
    import weakref

    from digest.ranking.collector import collector_paused

    class Node:
        pass

    with collector_paused():
        cycle = Node()
        cycle.self = cycle  # type: ignore[attr-defined]
        gone = weakref.ref(cycle)
        del cycle
    assert gc.get_freeze_count() == 0  # nothing is left frozen
    gc.collect()
    assert gone() is None


def test_the_collector_pause_leaves_what_a_caller_froze_frozen() -> None:
    import gc

    from digest.ranking.collector import collector_paused

    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with collector_paused():
            made = [[n] for n in range(100)]
        assert gc.get_freeze_count() == frozen and made
    finally:
        gc.unfreeze()


# --- optional semantic matching ---------------------------------------------------------

def test_semantic_without_the_extra_is_one_clear_line(monkeypatch, run_cli) -> None:
    import sys

    from digest import semantic

    monkeypatch.setitem(sys.modules, "wordllama", None)  # as if the extra were not installed
    monkeypatch.setattr(semantic.WordLlama, "_model", None)
    monkeypatch.setenv("DIGEST_SEMANTIC", "wordllama")

    code, out, err = run_cli("rank", "--source", "sample", "--keywords", "exploration")

    assert code == 1
    assert err.strip().splitlines() == [
        "digest: error: DIGEST_SEMANTIC=wordllama needs the optional extra: pip install 'digest[semantic]' "
        "(or set DIGEST_SEMANTIC=false)"
    ]


semantic_installed = pytest.mark.skipif(
    not __import__("digest.semantic", fromlist=["wordllama_available"]).wordllama_available(),
    reason="digest[semantic] not installed"
)


@semantic_installed
def test_semantic_matching_finds_a_paper_by_meaning_but_never_picks_on_meaning_alone() -> None:
    from digest.semantic import WordLlama as Embedder

    papers = [
        make_paper("Automobile Crash Safety", "We study how cars and trucks protect drivers in collisions.", id="2603.00001"),
        make_paper("Protein Folding Kinetics", "Proteins fold through intermediate states in the cell.", id="2603.00002"),
    ]
    lexical = Index(papers)
    semantic = Index(papers, embedder=Embedder())
    keyword = parse_profile("vehicle").wanted[0]

    assert lexical.keyword_scores(keyword) == {}
    scores = semantic.keyword_scores(keyword)
    assert scores.get(0, 0) > scores.get(1, 0) and scores[0] > 0
    assert rank(semantic, parse_profile("vehicle"), selection=Selection(max_items=5, min_score=2.0)) == []


@semantic_installed
def test_a_truncated_copy_of_the_wordllama_tokenizer_is_copied_again_not_loaded(monkeypatch, tmp_path: Path) -> None:
    import tempfile

    from digest import semantic

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(semantic.WordLlama, "_model", None)
    copy = tmp_path / "digest-wordllama" / "tokenizers" / "l2_supercat_tokenizer_config.json"
    copy.parent.mkdir(parents=True)
    copy.write_text('{"model": {"ty')  # a copy another process is still writing, or one a full disk cut short

    index = Index(PAPERS, embedder=semantic.WordLlama())

    assert index.keyword_scores(parse_profile("exploration").wanted[0])
    assert copy.stat().st_size > 1000


@semantic_installed
def test_semantic_scores_add_to_word_matches(monkeypatch) -> None:
    from digest.semantic import WordLlama as Embedder

    plain = rank(Index(PAPERS), parse_profile("exploration"), selection=EVERYTHING)
    boosted = rank(Index(PAPERS, embedder=Embedder()), parse_profile("exploration"), selection=EVERYTHING)

    assert {p.paper.id for p in plain} <= {p.paper.id for p in boosted}
    by_id = {p.paper.id: p.score for p in boosted}
    assert all(by_id[p.paper.id] >= p.score for p in plain)


@pytest.mark.parametrize("form", ["NFC", "NFD"])
def test_an_accented_keyword_matches_however_its_accents_were_typed(form: str) -> None:
    """Pasted from a PDF or a macOS file name, "ö" is "o" and a combining diaeresis: the same letter on screen."""
    import unicodedata

    papers = [make_paper("Schrödinger bridges for generative modelling", "We study Schrödinger bridges.",
                         id="2601.00010")]
    keyword = unicodedata.normalize(form, "Schrödinger bridge*")
    picks = rank(Index(papers), parse_profile([keyword]), sent=set(), selection=EVERYTHING)
    assert [p.paper.id for p in picks] == ["2601.00010"]
    assert parse_keyword(keyword).text == "Schrödinger bridge*"  # as the email's footer and hints name it
