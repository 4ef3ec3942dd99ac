"""The reader's model with paper vectors (DIGEST_SEMANTIC on): likeness between embeddings, not TF-IDF."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import closing
from typing import Any

import numpy as np

from digest.ranking import reader
from digest.ranking.index import Index
from digest.ranking.profile import parse_profile
from digest.ranking.reader import Example, Examples
from digest.ranking.rules import Rules
from digest.ranking.select import Selection, rank
from digest.semantic import CachedEmbedder, Embedder
from digest.store import Store

from .test_learn import ASTRONOMY, LEGAL, LISTING, PROTEIN, _reader_examples
from .test_rank import _listing

EVERYTHING = Selection(max_items=None, min_score=0.0)


def unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


# Each text maps to a fixed vector by the first of these words it contains (else OTHER).
TOPICS = {
    "Protein": unit(1, 0, 0, 0, 0),
    "protein": unit(0.95, 0.1, 0, 0.3, 0),  # a close relative of PROTEIN (cos about 0.95)
    "legal": unit(0, 1, 0, 0, 0),
    "Galaxy": unit(0, 0, 1, 0, 0),
    "Ocean": unit(0, 0, 0.2, 0.2, 1),  # far from everything (cos 0.2 at most)
}
OTHER = unit(0, 0, 0.2, 1, 0)


class FakeEmbedder(Embedder):
    """Deterministic vectors, no model: a text's vector is its first known word's."""

    name = "fake"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def encode(self, texts: Sequence[str]) -> Any:
        self.calls.append(list(texts))
        return np.stack([next((v for word, v in TOPICS.items() if word in t), OTHER) for t in texts])


# Days-old papers the reader voted on, not in today's listing.
CLOSE_TO_PROTEIN = Example("2601.09999", "Folding targets, again", "Residue contact maps for protein structures.")
CLOSE_TO_LEGAL = Example("2601.09998", "Clause retrieval, again", "Court citations for legal contracts.")


def picks(examples: Examples | None, embedder: Embedder | None = None) -> list[tuple[str, float, str]]:
    index = Index(LISTING, embedder=embedder or FakeEmbedder())
    return [(p.paper.id, p.score, p.because)
            for p in rank(index, parse_profile("benchmark"), selection=EVERYTHING, examples=examples)]


def test_the_fake_vectors_make_the_voted_papers_close_relatives_of_todays() -> None:
    index = Index(LISTING, embedder=FakeEmbedder())
    vectors = reader.example_vectors(index, [CLOSE_TO_PROTEIN, CLOSE_TO_LEGAL])
    assert float(index.vectors[0] @ vectors[0]) > reader.VECTOR_DISLIKE_FLOOR
    assert float(index.vectors[1] @ vectors[1]) > 0.99
    assert float(index.vectors[0] @ vectors[1]) < reader.VECTOR_LIKE_FLOOR


def test_a_down_vote_demotes_a_near_duplicate_of_the_voted_paper_below_where_it_ranked() -> None:
    before = picks(None)
    after = picks(Examples(disliked=(CLOSE_TO_LEGAL,)))
    assert [p[0] for p in before][:2] == [LEGAL.id, PROTEIN.id]  # a tie, broken by title
    assert [p[0] for p in after][:2] == [PROTEIN.id, LEGAL.id]
    penalty = dict((i, s) for i, s, _ in before)[LEGAL.id] - dict((i, s) for i, s, _ in after)[LEGAL.id]
    assert penalty == reader.VECTOR_PENALTY_CAP  # cos 1.0: 4 * (1.0 - 0.6) caps at 1.0
    assert dict((i, s) for i, s, _ in after)[PROTEIN.id] == dict((i, s) for i, s, _ in before)[PROTEIN.id]


def test_a_like_lifts_a_close_paper_and_says_why() -> None:
    before = dict((i, s) for i, s, _ in picks(None))
    after = picks(Examples(liked=(CLOSE_TO_PROTEIN,)))
    assert after[0][0] == PROTEIN.id
    cosine = float(TOPICS["Protein"] @ TOPICS["protein"])
    lift = min(reader.LIFT_CAP, reader.VECTOR_LIKE_WEIGHT * (cosine - reader.VECTOR_LIKE_FLOOR))
    assert abs(after[0][1] - (before[PROTEIN.id] + lift)) < 1e-3  # float16 in the store rounds the vectors
    assert after[0][2] == "like 'Folding targets, again'"
    assert all(because == "" for _, _, because in after[1:])  # nothing else is close to the liked paper


def test_a_reader_without_votes_or_library_gets_exactly_the_keyword_ranking() -> None:
    assert picks(Examples()) == picks(None)
    assert reader.model_for(Index(LISTING, embedder=FakeEmbedder()), Examples()) is None


def test_a_liked_paper_far_from_everything_changes_nothing() -> None:
    far = Example("2601.09997", "Ocean currents", "Buoys measure drift.")
    assert picks(Examples(liked=(far,))) == picks(None)


def test_every_readers_examples_are_embedded_in_one_batch_and_kept_in_the_store(tmp_path) -> None:
    fake = FakeEmbedder()
    embedder = CachedEmbedder(fake, lambda: closing(Store.open(tmp_path / "state.db")))
    index = Index([PROTEIN, LEGAL, ASTRONOMY], embedder=embedder)
    embedder.embed_keywords(["benchmark"])  # the keyword's own vector (once per process): not what is counted here
    fake.calls.clear()
    readers = [Examples(liked=(CLOSE_TO_PROTEIN,)), None,
               Examples(liked=(Example(PROTEIN.id, PROTEIN.title, PROTEIN.abstract),), disliked=(CLOSE_TO_LEGAL,))]
    reader.embed_examples(index, readers)
    assert [sorted(call) for call in fake.calls] == [["Clause retrieval, again. Court citations for legal contracts.",
                                                      "Folding targets, again. Residue contact maps for protein "
                                                      "structures."]]  # one batch; today's paper: its own vector
    for examples in readers:
        rank(index, parse_profile("benchmark"), examples=examples)
    tomorrow = Index([PROTEIN, LEGAL, ASTRONOMY], embedder=embedder)
    rank(tomorrow, parse_profile("benchmark"), examples=readers[0])
    assert len(fake.calls) == 1  # ranking, and the next day's index, read them back: nothing embedded again


def test_library_entries_without_an_id_are_kept_apart_by_their_text() -> None:
    one = Example("library:0", "Folding targets", "Protein contact maps.", "library")
    other = Example("library:0", "Clause retrieval", "Legal contracts.", "library")
    assert reader.example_key(one) != reader.example_key(other)
    assert reader.example_key(CLOSE_TO_PROTEIN) == CLOSE_TO_PROTEIN.paper_id


def test_without_vectors_the_model_is_the_tf_idf_model_the_oracle_ranks_with() -> None:
    from . import reference_rank as oracle

    papers = _listing()
    profile = parse_profile("transformer, protein*")
    examples = _reader_examples(papers, 3)
    index = Index(papers, rules=Rules.none())  # the reference predates the word rules
    assert index.vectors is None
    fast = rank(index, profile, selection=Selection(max_items=10, min_score=1.0), examples=examples)
    reference = oracle.Index(papers)
    model = reader.model_for(reference, examples)
    assert model is not None and model.adjust
    scores = oracle._adjusted(reference, profile, oracle.score_profile(reference, profile), model, exact=True)
    full = oracle._select(reference, profile, scores, set(), oracle.Selection(10, 1.0), model.reasons, model.lifted)
    assert fast and [(p.paper.id, p.score, p.because) for p in fast] == [(p.paper.id, p.score, p.because) for p in full]


def test_rank_many_embeds_every_readers_examples_in_one_call_before_ranking() -> None:
    from digest.ranking.many import rank_many

    fake = FakeEmbedder()
    index = Index(LISTING, embedder=fake)
    fake.calls.clear()
    profiles = [parse_profile("benchmark")] * 2
    lists = rank_many(index, profiles, examples=[Examples(liked=(CLOSE_TO_PROTEIN,)),
                                                 Examples(disliked=(CLOSE_TO_LEGAL,))], workers=1)
    examples = [call for call in fake.calls if "Folding targets, again" in " ".join(call)]
    assert len(examples) == 1 and len(examples[0]) == 2  # both readers' examples, one call
    assert [p.paper.id for p in lists[0]][0] == PROTEIN.id and lists[0][0].because
    assert [p.paper.id for p in lists[1]][:2] == [PROTEIN.id, LEGAL.id]
