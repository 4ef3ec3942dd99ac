"""A reader's keyword string parses as its list of items does: the string's shortcut (no quotes: every
comma and semicolon separates) gives the same keywords, the same objects, and the same refusals."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from digest.errors import KeywordError
from digest.ranking.profile import Profile, parse_keyword, parse_profile

_PIECES = st.sampled_from([
    "reinforcement learning", "RL", "rl", "-survey", "NOT survey", "diffusion^2", "reward model*",
    "Reinforcement Learning (RL)", "-RL^3", " ", "", "a OR b", "(x)", "^", "*", "-", "graph  neural", "ünïcode",
    "world model^0", "x^abc", "  padded  ",
])


def _outcome(spec: str | list[str]) -> tuple[str, object]:
    try:
        profile = parse_profile(spec)
    except KeywordError as error:
        return "refused", str(error)
    return "parsed", (profile.keywords, profile.wanted, profile.excluded)


@given(st.lists(_PIECES, max_size=8), st.lists(st.sampled_from([",", ";", ", ", " ; "]), min_size=8, max_size=8))
def test_a_string_parses_as_its_single_item_list(pieces: list[str], separators: list[str]) -> None:
    spec = "".join(piece + separator for piece, separator in zip(pieces, separators))
    assert _outcome(spec) == _outcome([spec])


def test_a_keyword_is_one_object_in_every_profile_that_names_it() -> None:
    """The index's column caches know keywords by object (``parse_keyword``'s cache): readers share them."""
    first, second = parse_profile("diffusion, -survey"), parse_profile("graphs ;  diffusion ,-survey")
    assert first.wanted[0] is second.wanted[1] is parse_keyword("diffusion")
    assert first.excluded[0] is second.excluded[0]


def test_a_profile_without_exclusions_wants_every_keyword() -> None:
    profile = parse_profile("diffusion, reward model*, graphs^2")
    assert profile.wanted == profile.keywords and profile.excluded == ()


def test_a_profile_keeps_wanted_and_excluded_in_their_order() -> None:
    profile = parse_profile("a, -b, c, NOT d")
    assert [k.text for k in profile.wanted] == ["a", "c"]
    assert [k.text for k in profile.excluded] == ["b", "d"]


def test_a_profile_built_from_a_list_of_keywords_holds_tuples() -> None:
    keywords = [parse_keyword("a"), parse_keyword("-b")]
    profile = Profile(tuple(keywords))
    assert isinstance(profile.wanted, tuple) and isinstance(profile.excluded, tuple)


@pytest.mark.parametrize("spec", ["", " , ; ", "-a, -b"])
def test_nothing_to_look_for_is_refused(spec: str) -> None:
    with pytest.raises(KeywordError):
        parse_profile(spec)


def test_only_n_begins_a_not_whatever_its_case() -> None:
    """``parse_keyword`` tries ``NOT x`` only on items starting with N or n: no other character matches
    the pattern's first letter, case ignored (no Unicode case folding reaches it)."""
    from digest.ranking import profile

    starts = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF
              and profile._NOT.match(chr(c) + "OT survey")]
    assert starts == ["N", "n"] and all(s in profile._N for s in starts)


@pytest.mark.parametrize("item,exclude,text", [("NOT survey", True, "survey"), ("not  survey", True, "survey"),
                                               ("Note taking", False, "Note taking"), ("NOT", False, "NOT"),
                                               ("nothing", False, "nothing"), ("-n", True, "n")])
def test_not_is_an_exclusion_only_as_a_word_before_another(item: str, exclude: bool, text: str) -> None:
    try:
        keyword = parse_keyword(item)
    except KeywordError:
        assert item == "NOT"  # refused as an operator
        return
    assert (keyword.exclude, keyword.text) == (exclude, text)
