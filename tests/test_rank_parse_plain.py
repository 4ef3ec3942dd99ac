"""The plain-words shortcut of ``parse_keyword`` reads a keyword as the word pattern does."""

import pytest

from digest.errors import KeywordError
from digest.ranking.profile import WORD, parse_keyword


@pytest.mark.parametrize("item", ["Large Language Models", "  gpt4  vision ", "-survey", "- world  model",
                                  "diffusion^2", "-RL^0.5", "NOT survey", "not much", "Nothing new"])
def test_plain_words_as_the_pattern_reads_them(item):
    keyword = parse_keyword(item)
    assert keyword.words == tuple(w.lower() for w in WORD.findall(keyword.text))
    assert not keyword.exact and not keyword.prefix


def test_plain_words_still_refuse_operators():
    with pytest.raises(KeywordError, match="OR is not an operator"):
        parse_keyword("transformers OR attention")
