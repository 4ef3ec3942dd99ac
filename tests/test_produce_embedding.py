"""With meaning on, the send embeds every reader's keywords in one batch before ranking anyone."""

from __future__ import annotations

import pytest

pytest.importorskip("numpy")

from digest.model import Subscriber  # noqa: E402
from digest.ranking.index import Index  # noqa: E402
from digest.ranking.profile import parse_profile  # noqa: E402
from digest.ranking.select import Selection, rank  # noqa: E402
from digest.sending.produce import embed_keywords  # noqa: E402

from .test_semantic import PAPERS, Concepts, fresh_keyword_cache  # noqa: E402,F401


def test_every_readers_keywords_are_embedded_in_one_call_and_ranking_embeds_nothing_more() -> None:
    embedder = Concepts()
    index = Index(PAPERS, embedder=embedder)
    readers = [Subscriber(email=f"r{n}@example.org", keywords=spec)
               for n, spec in enumerate(["car safety, -survey", "protein folding", '"exact words", reward*',
                                         "car safety, enzyme"])]
    before = embedder.calls

    embed_keywords(index, readers)

    assert embedder.calls == before + 1
    assert {"car safety", "protein folding", "enzyme"} <= set(embedder.texts)
    for reader in readers:
        rank(index, parse_profile(reader.keywords), selection=Selection(max_items=5, min_score=0.0))
    assert embedder.calls == before + 1  # every keyword was already there


def test_a_reader_whose_keywords_do_not_parse_does_not_stop_the_batch() -> None:
    embedder = Concepts()
    index = Index(PAPERS, embedder=embedder)
    readers = [Subscriber(email="bad@example.org", keywords="a OR b"),
               Subscriber(email="good@example.org", keywords="protein folding")]

    embed_keywords(index, readers)

    assert "protein folding" in embedder.texts


def test_without_meaning_nothing_is_parsed_or_embedded() -> None:
    index = Index(PAPERS)
    embed_keywords(index, [Subscriber(email="bad@example.org", keywords="a OR b")])  # would raise if parsed
