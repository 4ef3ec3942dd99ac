"""With meaning on, words decide what is sent and meaning confirms (``select.qualified_mask``).

Three papers with the same words (one passing mention of the keyword) differ only
in what a deterministic fake embedder says they mean: ALPHA means what the
keyword means, OMEGA something else, and BETA is a little close (cosine 0.3).
Their word scores are equal, so only the rule can tell them apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from digest.model import make_paper
from digest.ranking.columns import columns
from digest.ranking.index import Index
from digest.ranking.profile import parse_profile
from digest.ranking.select import RECALL_WORDS, WORD_SHARE, Selection, rank
from digest.semantic import Embedder, MiniLM

KEYWORD = "protein folding"
BODY = "We measure cells in tissue samples. Our method touches protein folding once. Results hold on many samples."
PAPERS = [
    make_paper("ALPHA study of cells", BODY, id="alpha"),
    make_paper("OMEGA study of cells", BODY, id="omega"),
    make_paper("BETA study of cells", BODY, id="beta"),
    *(make_paper(f"Filler {n} on galaxies", f"Stars and galaxies number {n} observed at night.", id=f"f{n}")
      for n in range(8)),
]


BETA_COSINE = 0.3


class Meanings(Embedder):
    """ALPHA texts mean what the keyword means; OMEGA texts and the fillers something else; BETA half-way."""

    name = "meanings"
    bonus = MiniLM.bonus

    def encode(self, texts: Sequence[str]) -> Any:
        same, other = np.array([1.0, 0.0], dtype=np.float32), np.array([0.0, 1.0], dtype=np.float32)
        near = np.array([BETA_COSINE, np.sqrt(1 - BETA_COSINE ** 2)], dtype=np.float32)
        return np.stack([other if ("OMEGA" in t or "galaxies" in t) else near if "BETA" in t else same
                         for t in texts])


def sent(min_score: float, meaning: bool) -> set[str]:
    index = Index(PAPERS, embedder=Meanings() if meaning else None)
    picks = rank(index, parse_profile([KEYWORD]), selection=Selection(max_items=20, min_score=min_score))
    return {p.paper.id for p in picks}


def word_score() -> float:
    index = Index(PAPERS, embedder=Meanings())
    words = columns(index).word_totals(parse_profile([KEYWORD]).wanted)
    alpha, omega, beta = words[0], words[1], words[2]
    assert alpha == omega == beta > 0  # the same words, whatever they mean
    return float(alpha)


def test_a_paper_a_little_short_on_words_is_sent_when_its_meaning_confirms_it() -> None:
    threshold = word_score() / 0.9  # words at 90% of min_score: above WORD_SHARE, below the bar
    assert WORD_SHARE < 0.9
    assert sent(threshold, meaning=False) == set()  # words alone: neither passes
    assert sent(threshold, meaning=True) == {"alpha"}  # meaning confirms the close one only


def test_a_paper_passing_on_words_but_far_in_meaning_is_not_sent() -> None:
    threshold = word_score() / 1.1  # words pass, but below Bonus.confirmed x min_score without meaning
    assert 1.1 < MiniLM.bonus.confirmed
    assert sent(threshold, meaning=False) == {"alpha", "omega", "beta"}
    assert sent(threshold, meaning=True) == {"alpha"}


def test_meaning_never_carries_a_paper_whose_words_are_under_the_recall_share() -> None:
    threshold = word_score() / (RECALL_WORDS - 0.1)  # words under RECALL_WORDS of min_score; ALPHA at cosine 1
    assert sent(threshold, meaning=True) == set()


def test_a_paper_very_close_in_meaning_is_sent_on_fewer_words_the_recall_rule() -> None:
    threshold = word_score() / ((RECALL_WORDS + WORD_SHARE) / 2)  # words between the recall and the word shares
    assert MiniLM.bonus.recall is not None and BETA_COSINE < MiniLM.bonus.recall < 1.0
    assert sent(threshold, meaning=False) == set()
    assert sent(threshold, meaning=True) == {"alpha"}  # not BETA (close, not close enough), nor OMEGA


def test_min_score_zero_keeps_every_word_match_in_order_of_words_plus_meaning() -> None:
    index = Index(PAPERS, embedder=Meanings())
    picks = rank(index, parse_profile([KEYWORD]), selection=Selection(max_items=None, min_score=0.0))
    assert [p.paper.id for p in picks] == ["alpha", "beta", "omega"]  # meaning reorders; no filler (no words)
