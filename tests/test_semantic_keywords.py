"""How a keyword is embedded: in its model's sentence (``keyword_template``), cached under the keyword.

MiniLM places "methods for <keyword>" nearer the abstracts about the keyword
than the bare words (benchmarks/tune_keywords.py); the ranking still asks for,
and the caches still hold, the keyword as the reader wrote it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")

from digest.model import make_paper  # noqa: E402
from digest.ranking.index import Index  # noqa: E402
from digest.ranking.many import rank_many  # noqa: E402
from digest.ranking.profile import parse_profile  # noqa: E402
from digest.semantic import CachedEmbedder, Embedder, MiniLM, WordLlama  # noqa: E402
from digest.store import Store  # noqa: E402

PAPERS = [make_paper("Protein Folding Kinetics", "Proteins fold through intermediate states.", id="2603.00002")]


class Recording(Embedder):
    """Every text gets the same vector; remembers what it was asked to embed."""

    bonus = MiniLM.bonus

    def __init__(self, template: str = "{}", name: str = "recording") -> None:
        self.keyword_template, self.name = template, name
        self.texts: list[str] = []

    def encode(self, texts: Sequence[str]) -> object:
        self.texts += texts
        return np.ones((len(texts), 2), dtype=np.float32) / np.sqrt(2)


@pytest.fixture(autouse=True)
def fresh_keyword_cache() -> Iterator[None]:
    Embedder._keywords.clear()
    yield
    Embedder._keywords.clear()


def test_minilm_embeds_a_keyword_as_a_research_topic_and_wordllama_as_written() -> None:
    assert MiniLM.keyword_template.format("protein folding") == "methods for protein folding"
    assert WordLlama.keyword_template.format("protein folding") == "protein folding"


def test_the_model_sees_the_keyword_in_its_template_once_per_process() -> None:
    model = Recording("methods for {}")
    index = Index(PAPERS, embedder=model)
    rank_many(index, [parse_profile("protein folding")] * 3)
    assert model.texts[1:] == ["methods for protein folding"]  # after the paper, the keyword, once
    assert model.embed_keywords(["protein folding"])[0].shape == (2,)  # asked for by the keyword itself
    assert model.texts[1:] == ["methods for protein folding"]


def test_a_stored_keyword_vector_is_used_only_with_the_template_it_was_made_in(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    bare = Recording("{}")
    CachedEmbedder(bare, lambda: Store.open(db)).embed_keywords(["protein folding"])
    Embedder._keywords.clear()  # a new process, after an upgrade that changed the template

    templated = Recording("methods for {}")
    again = CachedEmbedder(templated, lambda: Store.open(db))
    again.embed_keywords(["protein folding"])

    assert templated.texts == ["methods for protein folding"] and again.keywords_embedded == 1
    Embedder._keywords.clear()
    templated.texts.clear()
    CachedEmbedder(templated, lambda: Store.open(db)).embed_keywords(["protein folding"])
    assert templated.texts == []  # the templated vector is in the store now
