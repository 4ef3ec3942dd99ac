"""A paper's strongest terms (``Index.strongest_terms``) are its ``term_shares`` sorted one paper at a time.

The index works out every paper's at once, with arrays; the reference below is
the plain rule: the paper's stems longer than two letters, by share (a count over
the paper's length, times the stem's idf), largest first, the first of equal
shares first, the first ``STRONGEST`` kept. Texts with few words and many
repeats give many equal shares, right at the cut too.
"""

from __future__ import annotations

from operator import itemgetter

from hypothesis import given, settings
from hypothesis import strategies as st

from digest.model import Paper, make_paper
from digest.ranking.index import STRONGEST, Index
from digest.ranking.rules import Rules


def reference(index: Index, i: int) -> frozenset[str]:
    top = sorted(index.term_shares(i), key=itemgetter(1), reverse=True)[:STRONGEST]
    return frozenset(st for st, _ in top)


def assert_strongest_as_reference(papers: list[Paper]) -> None:
    fast, plain = Index(papers, rules=Rules()), Index(papers, rules=Rules())
    asked = list(range(len(papers)))[::-1]  # any paper first: every paper's are worked out with it
    assert [fast.strongest_terms(i) for i in asked] == [reference(plain, i) for i in asked]


WORDS = ["graph", "graphs", "neural", "network", "model", "learning", "data", "ab", "of", "x", "attention",
         "transformer", "diffusion", "sparse", "kernel", "robot", "agent", "reward", "policy", "vision"]
TEXT = st.lists(st.sampled_from(WORDS), max_size=40).map(" ".join)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(TEXT, TEXT), max_size=8))
def test_every_papers_strongest_terms_are_its_shares_sorted_one_paper_at_a_time(
        fields: list[tuple[str, str]]) -> None:
    assert_strongest_as_reference([make_paper(f"of {t}", f"of {a}", id=f"p{n}") for n, (t, a) in enumerate(fields)])


def test_equal_shares_at_the_cut_keep_the_papers_first_stems() -> None:
    many = " ".join(WORDS[:12])  # twelve stems once each: equal counts, and equal idfs but for the title's
    papers = [make_paper("sparse kernel", many, id="a"), make_paper("robot", " ".join(reversed(WORDS)), id="b"),
              make_paper("of", "the", id="empty"), make_paper("ab of x", "ab", id="short")]
    assert_strongest_as_reference(papers)
    assert Index(papers, rules=Rules()).strongest_terms(2) == frozenset()
