"""Spelling variants (``ranking/spelling.py``): the tables read with compiled patterns and a one-pass
check give the same variants as the rules applied one by one, as the module states them."""

from __future__ import annotations

import re

from hypothesis import given, strategies as st

from digest.ranking import spelling
from digest.ranking.spelling import spelling_variants

SUFFIXES = ["", "s", "ed", "ing", "e", "es", "er", "ers", "ation", "ations", "ational", "able", "d", "ful", "ue",
            "ues", "re", "res", "red", "ring"]


def reference(word: str) -> frozenset[str]:
    """The rules one by one, as written in the module's tables."""
    american = word
    roots = [root for root in spelling._OUR_ROOTS if word.startswith(root)]
    base = spelling.singular_form(word)
    if roots:
        american = roots[0][:-2] + "r" + word[len(roots[0]):]
    elif base in spelling._IRREGULAR:
        american = spelling._IRREGULAR[base] + word[len(base):]
    else:
        for pattern, replacement in spelling._SPELLING_RULES:
            if re.sub(pattern, replacement, word) != word:
                american = re.sub(pattern, replacement, word)
                break
    found = {root + american[len(root) - 1:] for root in spelling._OUR_ROOTS if american.startswith(root[:-2] + "r")}
    base = spelling.singular_form(american)
    found |= {b + american[len(base):] for b, a in spelling._IRREGULAR.items() if a == base}
    found |= {re.sub(a, b, american) for a, b in spelling._REVERSED if re.search(a, american)}
    return frozenset({word, american, *found})


def test_the_documented_pairs_find_each_other() -> None:
    assert "dialogue" in spelling_variants("dialog") and "dialog" in spelling_variants("dialogue")
    assert "color" in spelling_variants("colour") and "colours" in spelling_variants("colors")
    assert "optimization" in spelling_variants("optimisation") and "centre" in spelling_variants("center")
    assert "programme" in spelling_variants("program") and spelling_variants("transformer") >= {"transformer"}


def test_every_table_word_with_every_ending_gives_the_rules_answer() -> None:
    stems = [*spelling._OUR_ROOTS, *spelling._IRREGULAR, *spelling._IRREGULAR.values(), "optimis", "optimiz", "analys",
             "analyz", "dialog", "catalog", "cent", "fib", "met", "theat", "organis", "tokeniz", "colo", "neighbo"]
    for stem in stems:
        for ending in SUFFIXES:
            assert spelling_variants.__wrapped__(stem + ending) == reference(stem + ending), stem + ending


@given(st.text(alphabet="abeginlorstuyzd", max_size=14))
def test_any_word_gives_the_rules_answer(word: str) -> None:
    assert spelling_variants.__wrapped__(word) == reference(word)
