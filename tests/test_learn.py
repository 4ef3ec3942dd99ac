"""The per-reader model: votes and a library nudge the keyword ranking, within bounds."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from digest.ranking import reader as learn
from digest.ranking.profile import parse_profile
from digest.ranking.reader import Example, Examples, examples_for
from digest.library import Entry
from digest.model import Listing, Paper, Subscriber, make_paper
from digest.ranking.index import Index
from digest.ranking.rules import Rules
from digest.ranking.select import Selection, rank

from .test_rank import PROFILES, _listing

EVERYTHING = Selection(max_items=None, min_score=0.0)

PROTEIN = make_paper("Benchmark for protein structure prediction",
                     "We release a benchmark of protein structures, folding targets and residue contact maps.",
                     id="2603.00001")
LEGAL = make_paper("Benchmark for legal contract retrieval",
                   "We release a benchmark of legal contracts, clause queries and court citation graphs.",
                   id="2603.00002")
ASTRONOMY = make_paper("Galaxy morphology from telescope survey images",
                       "Telescope images of galaxies classify spiral and elliptical morphology in sky surveys.",
                       id="2603.00003")
FILLER = [
    make_paper(title, abstract, id=f"2603.001{n:02d}")
    for n, (title, abstract) in enumerate([
        ("Speech recognition for low-resource languages", "Acoustic models transcribe speech in languages with little data."),
        ("Graph neural networks for traffic forecasting", "Road sensors feed a graph network that predicts congestion."),
        ("Diffusion models for image editing", "Text prompts guide a diffusion model to edit photographs."),
        ("Robot grasping from tactile feedback", "A gripper learns to hold fragile objects from touch sensors."),
        ("Compilers for tensor programs", "Loop schedules for accelerators are searched automatically."),
        ("Weather prediction with transformers", "Global forecasts from reanalysis data at coarse resolution."),
        ("Privacy attacks on federated learning", "Gradients shared by clients leak their training examples."),
        ("Music generation with language models", "Symbolic melodies are generated token by token."),
    ])
]
LISTING = [PROTEIN, LEGAL, ASTRONOMY, *FILLER]

# a paper the reader voted on days ago: not in today's listing, a close relative of PROTEIN
LIKED_PROTEIN = Example("2601.09999", "Protein structure prediction from folding targets",
                        "Residue contact maps and folding targets improve protein structure prediction.")


def picks(examples: Examples | None, keywords: str = "benchmark", selection: Selection = EVERYTHING,
          papers: list[Paper] = LISTING) -> list:
    return rank(Index(papers), parse_profile(keywords), selection=selection, examples=examples)


def test_the_two_benchmark_papers_have_the_same_keyword_score() -> None:
    scores = {p.paper.id: p.score for p in picks(None)}
    assert scores[PROTEIN.id] == scores[LEGAL.id] > 0


def test_an_up_vote_lifts_a_near_duplicate_above_an_unrelated_paper_with_the_same_keyword_score() -> None:
    ranked = picks(Examples(liked=(LIKED_PROTEIN,)))
    assert [p.paper.id for p in ranked][:2] == [PROTEIN.id, LEGAL.id]
    assert ranked[0].score > ranked[1].score


def test_a_down_vote_demotes_a_near_duplicate() -> None:
    plain = {p.paper.id: p.score for p in picks(None)}
    ranked = picks(Examples(disliked=(LIKED_PROTEIN,)))
    scores = {p.paper.id: p.score for p in ranked}
    assert scores.get(PROTEIN.id, 0.0) < plain[PROTEIN.id]
    assert scores[LEGAL.id] == plain[LEGAL.id]
    assert [p.paper.id for p in ranked][0] == LEGAL.id


def test_a_paper_already_in_the_readers_library_is_not_news_and_is_not_picked() -> None:
    owned = Example(PROTEIN.id, PROTEIN.title, PROTEIN.abstract, source="library")

    ranked = picks(Examples(liked=(owned, LIKED_PROTEIN)))

    assert PROTEIN.id not in [p.paper.id for p in ranked] and ranked[0].paper.id == LEGAL.id
    assert not any("like 'Benchmark for protein" in p.because for p in ranked)


def test_an_up_voted_paper_in_the_listing_again_is_still_ranked_it_is_the_send_that_skips_it() -> None:
    voted = Example(PROTEIN.id, PROTEIN.title, PROTEIN.abstract, source="vote")

    assert PROTEIN.id in [p.paper.id for p in picks(Examples(liked=(voted,)))]


def test_a_lifted_pick_names_the_paper_the_reader_liked() -> None:
    top = picks(Examples(liked=(LIKED_PROTEIN,)))[0]
    assert top.because == "like 'Protein structure prediction from folding targets'"
    assert top.matched_text == "benchmark; like 'Protein structure prediction from folding targets'"
    assert [p.because for p in picks(None)][0] == ""


def test_a_paper_no_keyword_matches_gains_at_most_the_unmatched_cap_and_is_never_picked_by_default() -> None:
    copies = tuple(Example(f"old.{n}", ASTRONOMY.title, ASTRONOMY.abstract, "library") for n in range(20))
    everything = {p.paper.id: p for p in picks(Examples(liked=copies))}
    assert 0 < everything[ASTRONOMY.id].score <= learn.UNMATCHED_CAP < 2.0
    default = picks(Examples(liked=copies), selection=Selection(max_items=20, min_score=2.0))
    assert ASTRONOMY.id not in [p.paper.id for p in default]


def test_a_paper_that_matches_a_keyword_gains_at_most_the_lift_cap() -> None:
    plain = {p.paper.id: p.score for p in picks(None)}
    copies = tuple(Example(f"old.{n}", PROTEIN.title, PROTEIN.abstract, "library") for n in range(20))
    lifted = {p.paper.id: p.score for p in picks(Examples(liked=copies))}
    assert 0 < lifted[PROTEIN.id] - plain[PROTEIN.id] <= learn.LIFT_CAP + 1e-9


@pytest.mark.parametrize("spec", PROFILES)
@pytest.mark.parametrize("selection", [Selection(max_items=5, min_score=2.0), Selection(max_items=None, min_score=0.0)])
def test_a_reader_without_votes_or_library_gets_exactly_the_keyword_picks(spec: str, selection: Selection) -> None:
    index = Index(_listing())
    profile = parse_profile(spec)
    reader = Subscriber(email="ada@example.org", keywords=(spec,))
    plain = rank(index, profile, sent={"2602.00004"}, selection=selection)
    learned = rank(index, profile, sent={"2602.00004"}, selection=selection, examples=examples_for(reader, [], []))
    assert [(p.paper.id, p.score, p.matched, p.rank, p.because) for p in learned] == \
        [(p.paper.id, p.score, p.matched, p.rank, p.because) for p in plain]


def _reader_examples(papers: list[Paper], n: int) -> Examples:
    liked = tuple(Example(p.id, p.title, p.abstract) for p in papers[n % 7::17][:3])
    disliked = tuple(Example(p.id, p.title, p.abstract) for p in papers[n % 5 + 3::23][:2])
    return Examples(liked, disliked)


@pytest.mark.parametrize("spec", PROFILES)
@pytest.mark.parametrize("max_items,min_score", [(3, 2.0), (10, 1.0), (5, 4.0)])
def test_with_a_model_the_top_k_shortcut_picks_exactly_what_full_scoring_picks(spec: str, max_items: int,
                                                                              min_score: float) -> None:
    from . import reference_rank as oracle  # the ranker before vectorisation, scoring every paper

    papers = _listing()
    index = Index(papers, rules=Rules.none())  # the reference predates the word rules
    profile = parse_profile(spec)
    selection = Selection(max_items=max_items, min_score=min_score)
    examples = _reader_examples(papers, len(spec))
    model = learn.model_for(index, examples)
    assert model is not None and model.adjust

    fast = rank(index, profile, sent={"2602.00004"}, selection=selection, examples=examples)
    reference = oracle.Index(papers)
    model = learn.model_for(reference, examples)
    scores = oracle._adjusted(reference, profile, oracle.score_profile(reference, profile), model, exact=True)
    full = oracle._select(reference, profile, scores, {"2602.00004"}, oracle.Selection(max_items, min_score),
                          model.reasons, model.lifted)

    assert [(p.paper.id, p.score, p.because) for p in fast] == [(p.paper.id, p.score, p.because) for p in full]


def test_rank_many_with_examples_in_two_workers_equals_one_by_one() -> None:
    from digest.ranking.many import rank_many

    papers = _listing()
    profiles = [parse_profile(PROFILES[n % len(PROFILES)]) for n in range(40)]
    selections = [Selection(max_items=1 + n % 7, min_score=1.0) for n in range(40)]
    sent = [{f"2602.{n:05d}"} for n in range(40)]
    examples = [_reader_examples(papers, n) if n % 3 else None for n in range(40)]

    together = rank_many(Index(papers), profiles, sent, selections, examples, workers=2, parallel_min=10)
    alone = [rank(Index(papers), p, sent=s, selection=sel, examples=e)
             for p, s, sel, e in zip(profiles, sent, selections, examples)]

    assert [[(p.paper.id, p.score, p.matched, p.because) for p in r] for r in together] == \
        [[(p.paper.id, p.score, p.matched, p.because) for p in r] for r in alone]
    assert any(p.because for r in together for p in r)


@dataclass
class Vote:
    paper_id: str
    title: str
    abstract: str
    vote: int


def test_examples_for_a_reader_the_latest_vote_wins_and_a_down_vote_overrides_the_library() -> None:
    reader = Subscriber(email="ada@example.org", keywords=("benchmark",))
    votes = [Vote("a", "A", "about a", +1), Vote("b", "B", "about b", +1), Vote("a", "A", "about a", -1)]
    library = [Entry("b", "B", "about b"), Entry("c", "C", "about c"), Entry("a", "A", "about a"),
               Entry("d"), Entry(None, "Untitled idea", "")]

    examples = examples_for(reader, votes, library)

    assert [(e.paper_id, e.source) for e in examples.liked] == [("b", "vote"), ("c", "library"), ("library:4", "library")]
    assert [(e.paper_id, e.source) for e in examples.disliked] == [("a", "vote")]


def test_a_subscribers_library_file_lifts_and_explains_their_picks(tmp_path) -> None:
    from digest.app import Digest
    from digest.model import Listing
    from digest.settings import load_settings

    (tmp_path / "ada.ris").write_text(
        "TY  - JOUR\nTI  - Protein structure prediction from folding targets\n"
        "AB  - Residue contact maps and folding targets improve protein structure prediction.\nER  - \n",
        encoding="utf-8")
    readers = [Subscriber(email="ada@example.org", keywords=("benchmark",), library=tmp_path / "ada.ris"),
               Subscriber(email="bo@example.org", keywords=("benchmark",))]
    ranked = Digest(load_settings(None, {})).rank_readers(Listing("test", LISTING), readers)
    (ada, ada_picks), (bo, bo_picks) = ranked
    assert ada_picks[0].paper.id == PROTEIN.id and ada_picks[0].because.startswith("like 'Protein structure")
    assert [p.because for p in bo_picks] == [""] * len(bo_picks)


def test_a_missing_library_file_leaves_the_reader_ranked_on_keywords_alone(tmp_path) -> None:
    from digest.app import Digest
    from digest.model import Listing
    from digest.settings import load_settings

    readers = [Subscriber(email="ada@example.org", keywords=("benchmark",), library=tmp_path / "gone.bib")]
    [(_, picks)] = Digest(load_settings(None, {})).rank_readers(Listing("test", LISTING), readers)
    [(_, plain)] = Digest(load_settings(None, {})).rank_readers(Listing("test", LISTING), [Subscriber(
        email="ada@example.org", keywords=("benchmark",))])
    assert picks == plain and picks


def test_digest_rank_says_which_liked_paper_lifted_a_pick(tmp_path, run_cli) -> None:
    import json

    (tmp_path / "listing.jsonl").write_text("".join(json.dumps(p.to_json()) + "\n" for p in LISTING), encoding="utf-8")
    (tmp_path / "ada.bib").write_text(  # a paper of another day, close to PROTEIN
        f"@article{{liked, title = {{{LIKED_PROTEIN.title}}}, abstract = {{{LIKED_PROTEIN.abstract}}}}}\n",
        encoding="utf-8")
    (tmp_path / "readers.toml").write_text(
        '[[subscribers]]\nemail = "ada@example.org"\nkeywords = ["benchmark"]\nmin_score = 0\nlibrary = "ada.bib"\n',
        encoding="utf-8")
    code, out, err = run_cli("rank", "--source", str(tmp_path / "listing.jsonl"),
                             "--subscribers", str(tmp_path / "readers.toml"), "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0, err
    assert (rows[0]["id"], rows[0]["because"]) == (PROTEIN.id, f"like '{LIKED_PROTEIN.title}'")
    assert rows[1]["because"] is None


def test_digest_rank_leaves_out_a_paper_the_readers_library_already_holds(tmp_path, run_cli) -> None:
    import json

    (tmp_path / "listing.jsonl").write_text("".join(json.dumps(p.to_json()) + "\n" for p in LISTING), encoding="utf-8")
    (tmp_path / "ada.txt").write_text(f"{PROTEIN.id}\n", encoding="utf-8")  # an id the listing knows
    (tmp_path / "readers.toml").write_text(
        '[[subscribers]]\nemail = "ada@example.org"\nkeywords = ["benchmark"]\nmin_score = 0\nlibrary = "ada.txt"\n',
        encoding="utf-8")
    code, out, err = run_cli("rank", "--source", str(tmp_path / "listing.jsonl"),
                             "--subscribers", str(tmp_path / "readers.toml"), "--json")
    ids = [json.loads(line)["id"] for line in out.splitlines()]
    assert code == 0 and LEGAL.id in ids and PROTEIN.id not in ids, err


@pytest.mark.parametrize("spec", PROFILES)
def test_no_mix_of_likes_and_dislikes_moves_a_paper_past_the_documented_bounds(spec: str) -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    papers = _listing()
    index = Index(papers)
    profile = parse_profile(spec)
    plain = {p.paper.id: p.score for p in rank(index, profile, selection=EVERYTHING)}
    pool = [Example(p.id, p.title, p.abstract) for p in papers[:40]]

    @settings(max_examples=15, deadline=None)
    @given(st.lists(st.sampled_from(pool), max_size=8), st.lists(st.sampled_from(pool), max_size=4))
    def check(liked: list[Example], disliked: list[Example]) -> None:
        for pick in rank(index, profile, selection=EVERYTHING, examples=Examples(tuple(liked), tuple(disliked))):
            before = plain.get(pick.paper.id)
            if before is None:
                assert pick.score <= learn.UNMATCHED_CAP
            else:
                assert pick.score - before <= learn.LIFT_CAP + 1e-3

    check()


# votes and library texts from the state store ---------------------------------------------------

def _app_with_store(tmp_path):
    from digest.app import Digest
    from digest.settings import load_settings

    return Digest(load_settings(None, {"DIGEST_STATE_DB": str(tmp_path / "state.db")}))


def test_the_votes_of_many_readers_are_read_in_one_query(tmp_path, monkeypatch) -> None:
    from digest.store import Store

    with Store.open(tmp_path / "state.db") as store:
        store.record_vote("r7@example.org", make_paper(LIKED_PROTEIN.title, LIKED_PROTEIN.abstract,
                                                       id=LIKED_PROTEIN.paper_id), +1)
        store.record_vote("r9@example.org", PROTEIN, -1)
    statements: list[str] = []
    opened = Store.open

    def traced(path):
        store = opened(path)
        store.db.raw.set_trace_callback(statements.append)
        return store

    monkeypatch.setattr(Store, "open", traced)
    readers = [Subscriber(email=f"R{n}@example.org", keywords=("benchmark",)) for n in range(2000)]

    examples = _app_with_store(tmp_path).examples_for_readers(readers, LISTING)

    assert [n for n, e in enumerate(examples) if e] == [7, 9]
    assert [e.paper_id for e in examples[7].liked] == [LIKED_PROTEIN.paper_id] and not examples[7].disliked
    assert [e.paper_id for e in examples[9].disliked] == [PROTEIN.id]
    assert sum("FROM votes" in s for s in statements) == 1


def test_a_library_id_missing_from_the_listing_takes_its_text_from_the_stores_recent_papers(tmp_path, caplog) -> None:
    import logging

    from digest.store import Store

    old = make_paper(LIKED_PROTEIN.title, LIKED_PROTEIN.abstract, id=LIKED_PROTEIN.paper_id)
    (tmp_path / "ada.txt").write_text(f"{old.id}\n2601.55555\n", encoding="utf-8")
    reader = Subscriber(email="ada@example.org", keywords=("benchmark",), library=tmp_path / "ada.txt")
    with Store.open(tmp_path / "state.db") as store:
        store.remember_papers([old])

    with caplog.at_level(logging.INFO, logger="digest"):
        [(_, ranked)] = _app_with_store(tmp_path).rank_readers(Listing("test", LISTING), [reader])

    assert ranked[0].paper.id == PROTEIN.id and ranked[0].because == f"like '{old.title}'"
    assert "2 id list entries, 1 with an id but no title or abstract" in caplog.text


def test_the_store_forgets_listed_papers_after_the_archive_span(tmp_path) -> None:
    from digest.store import Store

    with Store.open(tmp_path / "state.db") as store:
        store.remember_papers([PROTEIN])
        store.db.execute("UPDATE paper_texts SET seen = '2000-01-01T00:00:00+00:00'")
        store.remember_papers([LEGAL], keep_days=90)
        assert [p.id for p in store.known_papers([PROTEIN.id, LEGAL.id, "2699.00001"])] == [LEGAL.id]


def test_the_email_says_which_liked_paper_lifted_a_pick_and_never_calls_a_lift_a_keyword_match() -> None:
    from datetime import date

    from digest.app import Digest
    from digest.settings import load_settings

    ranked = picks(Examples(liked=(LIKED_PROTEIN,)), keywords="benchmark, galaxy morphology")[:2]
    lifted_only = picks(Examples(liked=(Example("2601.09998", ASTRONOMY.title + " again", ASTRONOMY.abstract),)),
                        keywords="benchmark", selection=Selection(max_items=None, min_score=0.5))
    reader = Subscriber("ada@example.org", ("benchmark",))
    digest = Digest(load_settings(None, {"DIGEST_FROM": "digest@example.com"}))

    text = digest.render(reader, ranked, day=date(2026, 3, 2)).text
    alone = digest.render(reader, [p for p in lifted_only if p.paper.id == ASTRONOMY.id], day=date(2026, 3, 2)).text

    text, alone = " ".join(text.split()), " ".join(alone.split())  # "Matched" lines wrap at 75 columns
    assert f"Matched: benchmark; like '{LIKED_PROTEIN.title}'" in text
    assert f"Matched: like '{ASTRONOMY.title} again'" in alone and "related to your keywords" not in alone
