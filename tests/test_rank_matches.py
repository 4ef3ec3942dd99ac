"""A keyword's matches by code (``explain.matches_by_code``) are the ``Match`` values ``match`` makes.

``matches_by_code`` sets a ``Match``'s slots directly (thousands of new keywords a
run, seven matches each); every one must be equal to, hash as, show and pickle as
the ``Match`` the class itself makes, and stay frozen.
"""

from __future__ import annotations

import dataclasses
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from digest.ranking.explain import ABSTRACT, PARTIAL, TITLE, Match, match, matches_by_code

CODES = range(1, (TITLE | ABSTRACT | PARTIAL) + 1)


@given(st.text(max_size=30))
def test_every_code_has_the_match_the_class_makes(keyword: str) -> None:
    made = matches_by_code(keyword)
    assert made[0] is None and len(made) == len(CODES) + 1
    for code in CODES:
        found, expected = made[code], match(keyword, code)
        assert type(found) is Match and found == expected and hash(found) == hash(expected)
        assert (found.keyword, found.fields, found.partial, str(found), repr(found)) == (
            expected.keyword, expected.fields, expected.partial, str(expected), repr(expected))
        assert pickle.loads(pickle.dumps(found)) == expected


def test_a_match_made_by_code_stays_frozen() -> None:
    found = matches_by_code("graph neural networks")[TITLE | ABSTRACT]
    assert found == Match("graph neural networks", ("title", "abstract"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        found.keyword = "other"  # type: ignore[misc]
