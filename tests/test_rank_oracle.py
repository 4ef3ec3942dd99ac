"""The vectorised ranker picks, scores and explains exactly as the ranker before it did.

``tests/reference_rank.py`` is a frozen copy of the pre-vectorisation ranker. Random
reader profiles (keywords drawn from each listing's own words and phrases, prefixes,
exact phrases, weights, exclusions both ways, acronyms, votes and a library) are
ranked by both (the word rules of issue #18 off: ``Rules.none()``) over the bundled sample, a synthetic listing and, when ``../shared``
is beside the project, real listings: the picks, their order, their scores (to 1e-9),
their explanations, ``count_matches`` and the full score table must agree.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from digest.errors import KeywordError
from digest.model import Paper, make_paper
from digest.ranking.index import Index
from digest.ranking.many import rank_many
from digest.ranking.profile import Profile, parse_profile
from digest.ranking.scoring import PROXIMITY_WINDOW, near_positions
from digest.ranking.reader import Example, Examples
from digest.ranking.rules import Rules
from digest.model import Subscriber
from digest.ranking.authors import follows_of
from digest.ranking.weights import Weights
from digest.ranking.select import Pick, Selection, count_matches, rank, rank_counted, rank_whole, score_profile
from digest.sources.files import load_listing_file

from . import reference_rank as oracle
from .test_rank import _listing

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
WORD = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
ACRONYM = re.compile(r"((?:[A-Za-z-]+\s+){1,4}[A-Za-z-]+)\s+\(([A-Z][A-Za-z0-9]{1,9})s?\)")
SELECTIONS = [Selection(None, 0.0), Selection(None, 2.0), Selection(1, 2.0), Selection(3, 1.0),
              Selection(5, 0.5), Selection(10, 2.0), Selection(20, 2.0), Selection(20, 3.5), Selection(4, 0.0)]


def _listings() -> list[tuple[str, list[Paper]]]:
    found = [("sample", load_listing_file(ROOT / "digest" / "data" / "sample.jsonl").papers),
             ("synthetic", _listing(150))]
    for path in sorted((SHARED / "seeds").glob("*.txt")) + sorted((SHARED / "fixtures" / "hf_api").glob("*.json")):
        found.append((path.name, load_listing_file(path).papers))
    docs = SHARED / "ranking" / "docs.jsonl"
    if docs.exists():
        lines = docs.read_text(encoding="utf-8").splitlines()[:500]
        found.append(("devset-500", [make_paper(id=d["id"], title=d["title"], abstract=d["abstract"])
                                     for d in map(json.loads, lines)]))
    return found


LISTINGS = _listings()
REFERENCE_WEIGHTS = Weights(k1=oracle.K1, b=oracle.B, title=oracle.TITLE_WEIGHT, phrase=oracle.PHRASE_WEIGHT,
                            surface=oracle.SURFACE_WEIGHT, proximity=oracle.PROXIMITY_WEIGHT)  # its constants, not ours


def _phrases(papers: list[Paper], rng: random.Random) -> list[str]:
    """Words and runs of 2-3 words from the listing, as a reader might copy them."""
    pool: list[str] = []
    for paper in rng.sample(papers, min(len(papers), 40)):
        tokens = WORD.findall(f"{paper.title} {paper.abstract}".lower())
        for _ in range(4):
            if tokens:
                start = rng.randrange(len(tokens))
                pool.append(" ".join(tokens[start:start + rng.choice([1, 1, 2, 2, 3])]))
        pool += [f"{m[1]} ({m[2]})" for m in ACRONYM.finditer(paper.abstract)] + \
                [m[2] for m in ACRONYM.finditer(paper.abstract)]
    return pool + ["llm", "rl", "language model*", "reinforcement learning (RL)", "NOT survey", "-benchmark"]


def _keyword(phrase: str, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.12:
        return f"-{phrase}" if rng.random() < 0.5 else f"NOT {phrase}"
    if roll < 0.22 and len(phrase.split()[-1]) > 4:
        return f"{phrase[: max(4, len(phrase) - 3)]}*"
    if roll < 0.30 and " " in phrase:
        return f'"{phrase}"'
    if roll < 0.38:
        return f"{phrase}^{rng.choice(['2', '0.5', '3', '0.02'])}"
    return phrase


def _profiles(papers: list[Paper], rng: random.Random, count: int) -> list[Profile]:
    pool = _phrases(papers, rng)
    profiles: list[Profile] = []
    while len(profiles) < count:
        try:
            profiles.append(parse_profile(", ".join(_keyword(rng.choice(pool), rng)
                                                    for _ in range(rng.randint(1, 6)))))
        except KeywordError:
            continue  # an exclusion alone, a lone operator word: not a profile a reader can save
    return profiles


def _examples(papers: list[Paper], rng: random.Random) -> Examples | None:
    if rng.random() < 0.6:
        return None
    # a library entry here is a copy of a listed paper saved under another id: the listed paper itself, in the
    # library, is not picked at all (test_learn), a rule the frozen reference predates
    liked = [Example(p.id if source == "vote" else f"saved:{p.id}", p.title, p.abstract, source)
             for p in rng.sample(papers, min(3, len(papers))) for source in [rng.choice(["vote", "library"])]]
    liked.append(Example("elsewhere:1", "A paper from another day", papers[0].abstract, "library"))
    disliked = [Example(p.id, p.title, p.abstract) for p in rng.sample(papers, min(2, len(papers)))]
    return Examples(tuple(liked[: rng.randint(0, 4)]), tuple(disliked[: rng.randint(0, 2)]))


def _full_digest_case(papers: list[Paper], rng: random.Random, ids: list[str],
                      authors: list[str]) -> tuple[Selection, dict[str, object]]:
    """A selection with a maximum, and a random reader's sent papers, votes and follows."""
    selection = rng.choice([s for s in SELECTIONS if s.max_items])
    sent = set(rng.sample(ids, rng.randint(0, min(5, len(ids)))))
    examples = _examples(papers, rng)
    chosen = tuple(rng.sample(authors, min(2, len(authors))))
    follows = follows_of(Subscriber(email="a@x.org", keywords=("x",), authors=chosen)) \
        if chosen and rng.random() < 0.3 else None
    return selection, dict(sent=sent, examples=examples, follows=follows)


def _seen(picks: list[Pick]) -> list[tuple]:
    return [(p.paper.id, p.score, p.rank, p.because, tuple((m.keyword, m.fields, m.partial) for m in p.matched))
            for p in picks]


def _same(new: list[Pick], old: list) -> None:
    assert [(p.paper.id, p.rank, p.because, [(m.keyword, m.fields, m.partial) for m in p.matched]) for p in new] == \
        [(p.paper.id, p.rank, p.because, [(m.keyword, m.fields, m.partial) for m in p.matched]) for p in old]
    assert [p.score for p in new] == pytest.approx([p.score for p in old], abs=1e-9)


@pytest.mark.parametrize("name,papers", LISTINGS, ids=[name for name, _ in LISTINGS])
def test_random_profiles_get_the_picks_scores_and_explanations_of_the_reference(name: str, papers: list[Paper]) -> None:
    rng = random.Random(f"oracle-{name}")
    index, reference = Index(papers, rules=Rules.none(), weights=REFERENCE_WEIGHTS), oracle.Index(papers)
    ids = [p.id for p in papers]
    for profile in _profiles(papers, rng, 60):
        selection = rng.choice(SELECTIONS)
        sent = set(rng.sample(ids, rng.randint(0, min(5, len(ids))))) | {"2601.99999"}
        examples = _examples(papers, rng)
        new = rank(index, profile, sent=sent, selection=selection, examples=examples)
        old = oracle.rank(reference, profile, sent=sent, selection=oracle.Selection(*_fields(selection)),
                          examples=examples)
        _same(new, old)
        assert count_matches(index, profile, sent=sent, min_score=selection.min_score) == \
            oracle.count_matches(reference, profile, sent=sent, min_score=selection.min_score)
        full_new, full_old = score_profile(index, profile), oracle.score_profile(reference, profile)
        assert full_new.keys() == full_old.keys()
        assert list(full_new.values()) == pytest.approx([full_old[i] for i in full_new], abs=1e-9)


def test_many_readers_at_once_match_the_reference_one_by_one() -> None:
    papers = _listing(150)
    rng = random.Random(5)
    profiles = _profiles(papers, rng, 80)
    selections = [rng.choice(SELECTIONS) for _ in profiles]
    examples = [_examples(papers, rng) for _ in profiles]
    sent = [set(rng.sample([p.id for p in papers], 3)) for _ in profiles]
    together = rank_many(Index(papers, rules=Rules.none(), weights=REFERENCE_WEIGHTS), profiles, sent, selections, examples, workers=2, parallel_min=10)
    reference = oracle.Index(papers)
    for picks, profile, s, selection, e in zip(together, profiles, sent, selections, examples):
        _same(picks, oracle.rank(reference, profile, sent=s, selection=oracle.Selection(*_fields(selection)),
                                 examples=e))


def _fields(selection: Selection) -> tuple[int | None, float]:
    return selection.max_items, selection.min_score


@pytest.mark.parametrize("rules", [Rules(), Rules.none()], ids=["word rules and shares", "no rules"])
@pytest.mark.parametrize("name,papers", LISTINGS[:2] + LISTINGS[-1:], ids=[n for n, _ in LISTINGS[:2] + LISTINGS[-1:]])
def test_the_picks_and_the_whole_list_scored_once_are_two_rankings(name: str, papers: list[Paper],
                                                                   rules: Rules) -> None:
    """``rank_whole`` (the send's producer with the archive on): the picks ``rank`` gives with the maximum,
    the list it gives without, in one scoring (one walk when no keyword's share reorders the head)."""
    rng = random.Random(f"whole-{name}")
    index = Index(papers, rules=rules)
    ids = [p.id for p in papers]
    authors = [a for p in papers for a in p.authors][:40]
    for profile in _profiles(papers, rng, 60):
        selection, ranked = _full_digest_case(papers, rng, ids, authors)
        picks, every = rank_whole(index, profile, selection=selection, **ranked)  # type: ignore[arg-type]
        assert _seen(picks) == _seen(rank(index, profile, selection=selection, **ranked))  # type: ignore[arg-type]
        assert _seen(every) == _seen(rank(index, profile, selection=Selection(None, selection.min_score),
                                          **ranked))  # type: ignore[arg-type]


@pytest.mark.parametrize("rules", [Rules(), Rules.none()], ids=["word rules and shares", "no rules"])
@pytest.mark.parametrize("name,papers", LISTINGS[:2] + LISTINGS[-1:], ids=[n for n, _ in LISTINGS[:2] + LISTINGS[-1:]])
def test_the_picks_and_their_count_scored_once_are_rank_and_count_matches(name: str, papers: list[Paper],
                                                                          rules: Rules) -> None:
    """``rank_counted`` (the send's producer without the archive): ``rank``'s picks, and ``count_matches``
    when they fill the digest (None when they do not), from one scoring."""
    rng = random.Random(f"counted-{name}")
    index = Index(papers, rules=rules)
    ids = [p.id for p in papers]
    authors = [a for p in papers for a in p.authors][:40]
    counted = 0
    for profile in _profiles(papers, rng, 80):
        selection, ranked = _full_digest_case(papers, rng, ids, authors)
        picks, total = rank_counted(index, profile, selection=selection, **ranked)  # type: ignore[arg-type]
        expected = rank(index, profile, selection=selection, **ranked)  # type: ignore[arg-type]
        assert _seen(picks) == _seen(expected)
        full = len(expected) == selection.max_items
        assert total == (count_matches(index, profile, sent=ranked["sent"], min_score=selection.min_score,
                                       follows=ranked["follows"]) if full else None)  # type: ignore[arg-type]
        counted += full
    assert counted  # some digests came back full, so the count was compared


def test_papers_saying_the_keywords_hundreds_of_times_score_as_the_reference() -> None:
    """Past a few hundred pairs of positions, proximity walks the two sorted lists instead of comparing every
    pair (a listing of such papers took seconds a keyword): the scores are the same."""
    rng = random.Random(7)
    words = ["reward", "model", "policy", "gradient", "agent", "learning"]
    papers = [make_paper(id=f"2612.{n:05d}", title=f"Paper {n}", url=f"https://arxiv.org/abs/2612.{n:05d}",
                         abstract=" ".join(rng.choice(words) for _ in range(rng.choice([40, 600, 1500]))))
              for n in range(30)]
    index, reference = Index(papers, rules=Rules.none(), weights=REFERENCE_WEIGHTS), oracle.Index(papers)
    for text in ["reward model, policy gradient", "learning agent", "reward model policy"]:
        profile = parse_profile(text)
        full_new, full_old = score_profile(index, profile), oracle.score_profile(reference, profile)
        assert full_new.keys() == full_old.keys() and len(full_new) == 30
        assert list(full_new.values()) == pytest.approx([full_old[i] for i in full_new], abs=1e-9)


@given(st.lists(st.integers(0, 400), unique=True).map(sorted), st.lists(st.integers(0, 400), min_size=1,
                                                                           unique=True).map(sorted))
def test_the_walk_finds_the_positions_near_another_word_as_comparing_every_pair_does(left, right) -> None:
    assert near_positions(left, right) == [p for p in left if any(abs(p - q) <= PROXIMITY_WINDOW for q in right)]
