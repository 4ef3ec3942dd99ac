"""Acronyms are learnt from the words just before them, found by reading the text backwards.

``words_before`` must find what the forward pattern it replaced finds: that
pattern, tried at each of 120 places before every acronym, was most of the
time learning took. The property test below holds the two to the same answer
on texts of words, spaces of every kind, hyphens, punctuation and letters
outside ASCII.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from digest.model import make_paper
from digest.ranking.acronyms import learn_acronyms, words_before

FORWARD = re.compile(r"((?:[\w-]+\s+){1,6})$")


def forward(text: str, end: int) -> list[str] | None:
    """The words before ``end`` as the pattern read forwards finds them (the code before ``words_before``)."""
    found = FORWARD.search(text, max(0, end - 120), end)
    return re.split(r"[\s-]+", found.group(1).strip()) if found else None


PIECES = st.sampled_from(["large", "Language", "models", "x86", "GPT-4", "-", "--", "_", "é", "Ünï", "ß", "9",
                          " ", "  ", "\n", "\t", "\u00a0", "\u2003", ",", ".", "(", ")", "LLMs", "\ud800"])
TEXTS = st.lists(PIECES, max_size=60).map("".join) | st.text(max_size=200)


@settings(max_examples=600, deadline=None)
@given(TEXTS, st.integers(min_value=0, max_value=250))
def test_reading_backwards_finds_the_words_the_forward_pattern_finds(text: str, end: int) -> None:
    end = min(end, len(text))
    assert words_before(text, end) == forward(text, end)


def test_the_words_before_every_bracket_of_a_long_text_are_found_alike() -> None:
    text = ("We study large language models (LLMs) and graph neural networks (GNNs) for machine translation (MT) "
            "with a very-long-hyphenated-phrase-that-runs-past-the-window-of-one-hundred-and-twenty-characters "
            "and then some more words here (ABC)\n(X) trailing\n (Y)") * 2
    for end in range(len(text) + 1):
        assert words_before(text, end) == forward(text, end)


def test_an_acronym_is_learnt_from_the_words_its_letters_begin() -> None:
    paper = make_paper(id="1", title="t", abstract="We fine-tune large language models (LLMs) and a graph "
                       "neural network (GNN), not this (XY).")
    assert learn_acronyms([paper]) == {"llm": "large language models", "gnn": "graph neural network"}
