"""Keywords worked out together (``digest.ranking.bulk``) score and match as each does alone.

For every kind of keyword (a word, a phrase, three words, a prefix, an acronym
and its expansion, a hyphenated word, stopwords, a spelling variant, a word no
paper has, an exact phrase left to the one-at-a-time path), over the oracle's
listings, with the word rules on and off: the column ``bulk.prepare`` leaves on
the index is the one ``scoring.keyword_column`` makes, bit for bit, and so are
its match codes (``explain.match_codes``) and its passing mentions
(``scoring.passing_mentions``); and the same when the keywords come a few at a
time, as a run's chunks of readers bring them. An empty listing, and one too long
to keep dense, are left to the one-at-a-time path.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.errors import KeywordError
from digest.model import Paper
from digest.ranking import bulk, explain, scoring
from digest.ranking.index import Index
from digest.ranking.profile import Keyword, parse_profile
from digest.ranking.rules import Rules

from .test_rank_oracle import LISTINGS, WORD, _profiles

RULES = [Rules(), Rules.none()]
CASES = LISTINGS[:2] + LISTINGS[-1:]
SHAPES = ["diffusion", "language models", "large language models", "reinforcement learning (RL)", "LLM",
          "language model*", "agent*", "pre-training", "multi-modal learning", "the state of the art", "colour",
          "optimise", "zzzunknownword", "qzx*", '"language models"', "vision-language models", "of", "model^2"]


def _keywords(texts: list[str]) -> list[Keyword]:
    found: list[Keyword] = []
    for text in texts:
        try:
            found.extend(parse_profile(text).keywords)
        except KeywordError:  # a keyword a reader could not save
            continue
    assert found
    return found


def _same(papers: list[Paper], rules: Rules, keywords: list[Keyword], chunk: int) -> None:
    together, alone = Index(papers, rules=rules), Index(papers, rules=rules)
    for start in range(0, len(keywords), chunk):
        bulk.prepare(together, keywords[start:start + chunk])
    assert all((k.words, k.exact, k.prefix) in together.cache["codes"] for k in keywords if not k.exact)  # all done
    for keyword in keywords:
        mine, theirs = together.keyword_column(keyword), alone.keyword_column(keyword)
        assert mine.tobytes() == theirs.tobytes(), keyword
        codes, expected = explain.match_codes(together, keyword), explain.match_codes(alone, keyword)
        assert codes.dtype == expected.dtype and np.array_equal(codes, expected), keyword


@pytest.mark.parametrize("rules", RULES, ids=["rules", "no-rules"])
@pytest.mark.parametrize("name,papers", CASES, ids=[name for name, _ in CASES])
def test_every_shape_of_keyword_scores_and_matches_as_alone(name: str, papers: list[Paper], rules: Rules) -> None:
    _same(papers, rules, _keywords(SHAPES), chunk=len(SHAPES))


@pytest.mark.parametrize("chunk", [1, 7, 1000])
@pytest.mark.parametrize("name,papers", CASES, ids=[name for name, _ in CASES])
def test_random_readers_keywords_score_and_match_as_alone(name: str, papers: list[Paper], chunk: int) -> None:
    profiles = _profiles(papers, random.Random(f"bulk-{name}"), 120)
    _same(papers, Rules(), [k for p in profiles for k in p.keywords], chunk)


_PAPERS = CASES[0][1]
_VOCABULARY = sorted({w.lower() for p in _PAPERS for w in WORD.findall(f"{p.title} {p.abstract}")})


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_VOCABULARY + ["of", "the", "zzz"]), min_size=1, max_size=4)
                .map(" ".join), min_size=1, max_size=12), st.sampled_from(["", "*"]), st.sampled_from(RULES))
def test_any_words_score_and_match_as_alone(texts: list[str], suffix: str, rules: Rules) -> None:
    _same(_PAPERS, rules, _keywords([t + suffix if n % 2 else t for n, t in enumerate(texts)]), chunk=5)


@pytest.mark.parametrize("name,papers", CASES, ids=[name for name, _ in CASES])
def test_passing_mentions_are_those_found_alone(name: str, papers: list[Paper]) -> None:
    profiles = _profiles(papers, random.Random(f"passing-{name}"), 120)
    keywords = [k for p in profiles for k in p.wanted] + _keywords(SHAPES)
    together, alone = Index(papers), Index(papers)
    bulk.prepare(together, keywords)
    for keyword in keywords:
        mine = scoring.passing_mentions(together, keyword, together.keyword_column(keyword))
        theirs = scoring.passing_mentions(alone, keyword, alone.keyword_column(keyword))
        assert mine.dtype == theirs.dtype and np.array_equal(mine, theirs), keyword


def test_a_listing_too_long_to_keep_dense_is_left_to_the_one_at_a_time_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk, "DENSE", 0)
    index = Index(_PAPERS)
    bulk.prepare(index, _keywords(SHAPES))
    assert not index.cache["codes"] and not index.cache["passing"]


def test_an_empty_listing_is_left_to_the_one_at_a_time_path() -> None:
    index = Index([])
    bulk.prepare(index, _keywords(SHAPES))
    assert not index.cache["codes"]


def test_keywords_no_paper_matches_get_float_columns_that_weights_multiply() -> None:
    """A chunk of keywords with no component anywhere: ``np.bincount`` of nothing gives integers; the columns
    stay floats, so a weighted keyword after them adds to the reader's totals."""
    from digest.ranking.columns import columns
    from digest.ranking.select import rank

    papers = LISTINGS[1][1]
    index = Index(papers, rules=Rules())
    nothing = parse_profile("zyxwv, qqqqq").wanted
    bulk.prepare(index, nothing)
    assert all(columns(index).scores(k).dtype == np.float64 and not columns(index).scores(k).any() for k in nothing)
    weighted = parse_profile("zyxwv, curiosity^2")
    assert [p.paper.id for p in rank(index, weighted)] == [p.paper.id for p in rank(Index(papers), weighted)]


def test_a_chunk_of_readers_nothing_matches_adds_up_float_totals() -> None:
    from digest.ranking.batch import Batch
    from digest.ranking.select import Selection

    papers = LISTINGS[1][1]
    readers = [parse_profile("zyxwv"), parse_profile("qqqqq^2")]
    firsts = Batch(Index(papers, rules=Rules())).scores(readers, [Selection()] * 2, [set(), set()])
    assert all(first is not None and first.totals.dtype == np.float64 and not first.totals.any() for first in firsts)


@pytest.mark.parametrize("texts", [["diffusion", "qzx*"], ["LLM", "reinforcement learning (RL)", "qzx*"],
                                   ["qzx*", "LLM"], ["qzx*"]], ids=lambda texts: " + ".join(texts))
@pytest.mark.parametrize("rules", RULES, ids=["rules", "no-rules"])
def test_a_chunk_ending_in_a_keyword_with_no_alternative_scores_and_matches_as_alone(texts: list[str],
                                                                                    rules: Rules) -> None:
    """``columns`` adds a keyword's first alternative up in the keyword's row and any other after the
    keywords': a last keyword that matches no word of the listing has a row of its own all the same."""
    _same(_PAPERS, rules, _keywords(texts), chunk=len(texts))


def test_keywords_past_the_first_rows_of_word_fields_score_and_match_as_alone() -> None:
    """The words' field bits (``_Units.fields``) grow as chunks bring new words: the rows read before are kept."""
    words = _keywords([w for w in _VOCABULARY if w.isalpha()][:700])
    _same(_PAPERS, Rules(), words, chunk=90)
    index = Index(_PAPERS, rules=Rules())
    for start in range(0, len(words), 90):
        bulk.prepare(index, words[start:start + 90])
    assert len(index.cache["bulk"]["units"].fields) > 256  # grown, more than once


def _same_exclusions(papers: list[Paper], rules: Rules, keywords: list[Keyword], chunk: int) -> None:
    together, alone = Index(papers, rules=rules), Index(papers, rules=rules)
    for start in range(0, len(keywords), chunk):
        bulk.prepare_exclusions(together, keywords[start:start + chunk])
    assert all((k.words, k.exact, k.prefix) in together.cache["excluded"] for k in keywords if not k.exact)  # all done
    for keyword in keywords:
        assert together.excluded(keyword) == explain.excluded(alone, keyword), keyword
        numbers = together.cache["excluded numbers"].get((keyword.words, keyword.exact, keyword.prefix))
        assert keyword.exact or list(numbers) == sorted(explain.excluded(alone, keyword)), keyword


@pytest.mark.parametrize("rules", RULES, ids=["rules", "no-rules"])
@pytest.mark.parametrize("name,papers", CASES, ids=[name for name, _ in CASES])
def test_every_shape_of_exclusion_removes_what_it_removes_alone(name: str, papers: list[Paper], rules: Rules) -> None:
    """In the title, or come back to and among the paper's strongest terms (``explain.excluded``), worked out
    together; an exact phrase is left to the one-at-a-time path."""
    _same_exclusions(papers, rules, _keywords(SHAPES), chunk=len(SHAPES))


@pytest.mark.parametrize("chunk", [1, 9, 1000])
@pytest.mark.parametrize("name,papers", CASES, ids=[name for name, _ in CASES])
def test_random_readers_keywords_as_exclusions_remove_what_they_remove_alone(name: str, papers: list[Paper],
                                                                             chunk: int) -> None:
    profiles = _profiles(papers, random.Random(f"exclusions-{name}"), 120)
    _same_exclusions(papers, Rules(), [k for p in profiles for k in p.keywords], chunk)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_VOCABULARY + ["of", "the", "zzz"]), min_size=1, max_size=4)
                .map(" ".join), min_size=1, max_size=12), st.sampled_from(RULES))
def test_any_words_as_exclusions_remove_what_they_remove_alone(texts: list[str], rules: Rules) -> None:
    _same_exclusions(_PAPERS, rules, _keywords(texts), chunk=5)


def test_a_reader_with_several_exclusions_loses_each_ones_papers_once_by_number() -> None:
    from digest.ranking.columns import columns

    index = Index(_PAPERS)
    excluded = _keywords([w for w in _VOCABULARY if w.isalpha()][:300])
    bulk.prepare_exclusions(index, excluded)
    removed = columns(index).removed(excluded)
    alone = Index(_PAPERS)
    expected = sorted(set().union(*(explain.excluded(alone, k) for k in excluded)))
    assert removed is not None and len(expected) > 1 and removed.tolist() == expected
