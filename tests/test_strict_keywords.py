"""Keywords written naturally work, or are refused with a hint; never a phrase that silently never matches
(issue #17)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.errors import KeywordError
from digest.ranking.profile import describe_profile, normalize_keywords, parse_profile
from digest.model import Paper
from digest.ranking.index import Index
from digest.ranking.select import score_profile

PAPERS = [
    Paper(id="control", title="Reinforcement Learning for Robot Control",
          abstract="We train a policy with reinforcement learning in simulation."),
    Paper(id="offline", title="Offline RL with Conservative Critics", abstract="An RL method that learns from logged data."),
    Paper(id="survey", title="A Survey of Reinforcement Learning", abstract="This survey reviews reinforcement learning methods."),
    Paper(id="protein", title="Protein Folding with Transformers", abstract="We predict the structures of proteins."),
]
INDEX = Index(PAPERS)
DEFAULT_MIN_SCORE = 2.0


def scores(spec: str) -> dict[str, float]:
    return {PAPERS[i].id: score for i, score in score_profile(INDEX, parse_profile(spec)).items()}


def test_a_trailing_acronym_in_parentheses_means_the_phrase_and_the_acronym() -> None:
    assert describe_profile(parse_profile("Reinforcement Learning (RL)")) == "reinforcement learning, rl"


def test_a_phrase_with_its_acronym_ranks_every_paper_at_least_as_high_as_the_phrase_alone() -> None:
    phrase, both = scores("reinforcement learning"), scores("Reinforcement Learning (RL)")

    assert phrase.keys() == both.keys() == {"control", "offline", "survey"}
    assert all(both[paper] >= phrase[paper] for paper in phrase)
    assert min(both.values()) > DEFAULT_MIN_SCORE  # every one of them reaches a default reader


def test_the_acronym_keeps_the_exclusion_prefix_and_weight_of_what_it_abbreviates() -> None:
    assert normalize_keywords("-Reward Model* (RM)^2") == ["-Reward Model*^2", "-RM^2"]
    assert normalize_keywords('"world model" (WM)') == ['"world model"', "WM"]


def test_a_semicolon_separates_keywords_like_a_comma() -> None:
    assert scores("protein; robot control") == scores("protein, robot control")
    assert set(scores("protein; robot control")) == {"protein", "control"}


def test_a_semicolon_inside_quotes_stays_in_the_phrase() -> None:
    assert normalize_keywords('"a; b", c') == ['"a; b"', "c"]


@pytest.mark.parametrize("spec", ["reinforcement learning, NOT survey", "reinforcement learning; not survey"])
def test_not_x_excludes_x(spec: str) -> None:
    assert set(scores(spec)) == {"control", "offline"}
    assert describe_profile(parse_profile(spec)) == "reinforcement learning, -survey"


def test_each_item_of_a_list_is_split_and_understood_like_a_string() -> None:
    assert parse_profile(["reinforcement learning, NOT survey"]) == parse_profile("reinforcement learning, -survey")


@pytest.mark.parametrize(("spec", "hint"), [
    ("protein OR folding", "OR is not an operator here; write the alternatives as separate keywords, comma-separated"),
    ("protein AND folding", "AND is not an operator here; a keyword already wants all its words"),
    ("protein NOT folding", "NOT is not an operator here; write the exclusion as its own keyword: 'a, -b'"),
    ("diffusion (image generation)", "parentheses are understood only around a trailing acronym"),
    ("(RL) agents", "parentheses are understood only around a trailing acronym"),
])
def test_search_engine_syntax_is_refused_with_how_to_write_it(spec: str, hint: str) -> None:
    with pytest.raises(KeywordError) as info:
        parse_profile(spec)
    assert hint in str(info.value) and repr(spec) in str(info.value)


def test_lowercase_or_and_and_are_ordinary_words_of_a_phrase() -> None:
    assert describe_profile(parse_profile("vision and language, learning or planning")) == (
        "vision and language, learning or planning")


def test_parentheses_inside_an_exact_phrase_are_kept_as_written() -> None:
    assert describe_profile(parse_profile('"open (x) world"')) == '"open x world"'


WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyzé0123456789", min_size=1, max_size=8).filter(
    lambda w: w not in {"not", "or", "and"})


@st.composite
def keyword_specs(draw: st.DrawFn) -> str:
    words = " ".join(draw(st.lists(WORD, min_size=1, max_size=3)))
    form = draw(st.sampled_from(["{w}", '"{w}"', "{w}*", "{w} ({a})"]))
    text = form.format(w=words, a=draw(WORD))
    weight = draw(st.sampled_from(["", "^2", "^0.5", "^1.25"]))
    return draw(st.sampled_from(["", "-", "NOT "])) + text + weight


@settings(max_examples=200, deadline=None)
@given(st.lists(keyword_specs(), min_size=1, max_size=5), WORD)
def test_the_keywords_as_understood_read_back_as_the_same_keywords(specs: list[str], wanted: str) -> None:
    profile = parse_profile([*specs, wanted])
    again = parse_profile(describe_profile(profile))

    def meaning(p):
        return [(k.words, k.exact, k.prefix, k.exclude, k.weight) for k in p.keywords]

    assert meaning(again) == meaning(profile)
