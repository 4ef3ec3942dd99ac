"""The index's tables (``digest.ranking.build``) are what the plain word-by-word build makes.

``reference`` below is the build as it was written before it was made fast: one
word at a time through ``tokens.words``, each kept word's position appended to
its stem's and its written form's list, then the joined forms of hyphenated
words. The fast build must give the same tables, down to the order of every
dict and tuple, on random texts full of what tokenising has to get right
(hyphens, apostrophes, dashes, plurals, plural acronyms, stopwords, digits,
accents and underscores) and on real listings.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import replace
from collections import Counter, defaultdict
from collections.abc import Mapping
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.model import Paper, make_paper
from digest.ranking.build import build
from digest.ranking.index import Index
from digest.ranking.rules import Rules
from digest.ranking.tokens import ABSTRACT_OFFSET, STOPWORDS, hyphen_words, parts, stem, surface_form, words
from digest.sources.files import load_listing_file

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def reference(papers: list[Paper], spelling: bool) -> tuple[list[tuple[object, ...]], dict, dict, dict]:
    """Each paper's (lengths, words by position, stem counts), the postings, surface postings and vocabulary."""
    postings: defaultdict[str, dict[int, tuple[int, ...]]] = defaultdict(dict)
    surface: defaultdict[str, dict[int, tuple[int, ...]]] = defaultdict(dict)
    vocabulary: dict[str, tuple[str, ...]] = {}
    docs = []
    for i, paper in enumerate(papers):
        here, written = defaultdict(list), defaultdict(list)
        raw_at: dict[int, str] = {}
        stems, lengths = [], []
        for offset, text in ((0, paper.title), (ABSTRACT_OFFSET, paper.abstract)):
            kept = 0
            positions = []
            for raw, st in words(text):
                if raw in STOPWORDS:
                    positions.append(-1)
                    continue
                pos = offset + kept
                here[st].append(pos)
                written[surface_form(raw)].append(pos)
                raw_at[pos] = raw
                vocabulary.setdefault(raw, (st,))
                stems.append(st)
                positions.append(pos)
                kept += 1
            for at, joined in hyphen_words(text):
                if positions[at] >= 0:
                    here[stem(joined)].append(positions[at])
                    if spelling:
                        written[surface_form(joined)].append(positions[at])
            lengths.append(kept)
        for table, found in ((postings, here), (surface, written)):
            for key, where in found.items():
                table[key][i] = tuple(where)
        docs.append((*lengths, raw_at, Counter(stems)))
    return docs, postings, surface, vocabulary


def ordered(value: object) -> object:
    """A value with the order of its dicts made part of it (``==`` on dicts ignores order); a table
    (``filed.Filed``) read as the dict of its keys' postings, each made as it is looked up."""
    if isinstance(value, Mapping):
        return [(k, ordered(v)) for k, v in value.items()]
    if isinstance(value, list | tuple):
        return [ordered(v) for v in value]
    return value


def assert_built_as_reference(papers: list[Paper], spelling: bool) -> None:
    tables = build(papers, spelling)
    docs, postings, surface, vocabulary = reference(papers, spelling)
    assert ordered([(d.title_len, d.abstract_len, d.raw, d.counts) for d in tables.docs]) == ordered(docs)
    assert ordered(tables.postings) == ordered(postings)
    assert ordered(tables.surface) == ordered(surface)
    assert ordered(tables.vocabulary) == ordered(vocabulary)
    assert all(type(where) is tuple for found in (*postings.values(), *surface.values()) for where in found.values())


PIECES = ["model", "models", "Models", "LLMs", "LLM", "GPUs", "CNNs", "analysis", "studies", "class", "data",
          "the", "a", "of", "is", "via", "new", "using", "multi", "modal", "pre", "training", "state", "art",
          "don't", "it's", "O'Brien", "3D", "x86", "2024", "v2", "café", "naïve", "snake_case", "s", "t",
          "-", "--", "'", "—", "(", ")", ",", ".", "e.g.", "self", "supervised", "ss", "ies", "Studies"]


def texts(title: str, abstract: str, n: int) -> Paper:
    """A paper with exactly these texts (``make_paper`` would tidy their spaces and refuse an empty one)."""
    return replace(make_paper("t", "a", id=str(n)), title=title, abstract=abstract)


def random_text(rng: random.Random) -> str:
    out = []
    for _ in range(rng.randint(0, 40)):
        word = rng.choice(PIECES)
        while rng.random() < 0.3:  # glue words into hyphenated and apostrophed tokens, or dashes
            word += rng.choice(["-", "'", "-", " - ", "--", "'-", "-'"]) + rng.choice(PIECES)
        out.append(word)
    return rng.choice([" ", "  ", "\n"]).join(out)


@pytest.mark.parametrize("spelling", [True, False])
def test_random_texts_build_as_the_word_by_word_reference(spelling: bool) -> None:
    rng = random.Random(19)
    for _ in range(60):
        papers = [texts(random_text(rng), random_text(rng), n) for n in range(rng.randint(0, 12))]
        assert_built_as_reference(papers, spelling)


def test_the_tricky_cases_build_as_the_reference() -> None:
    cases = ["multi-modal multimodal", "the-art state-of-the-art", "rock'n-roll", "data-s datas", "x--y 'a-b' a'-b",
             "-lead trail- a-b-c-d", "LLMs-based GPUs' LLMs'", "-", "", "of-the", "pre-training pre-training"]
    papers = [texts(t, " ".join(reversed(cases)), n) for n, t in enumerate(cases)]
    for spelling in (True, False):
        assert_built_as_reference(papers, spelling)


def real_listings() -> list[list[Paper]]:
    found = [load_listing_file(ROOT / "digest" / "data" / "sample.jsonl").papers]
    docs = SHARED / "ranking" / "docs.jsonl"
    if docs.exists():  # the development set, when ../shared is beside the project
        lines = docs.read_text(encoding="utf-8").splitlines()[:300]
        found.append([make_paper(id=d["id"], title=d["title"], abstract=d["abstract"]) for d in map(json.loads, lines)])
    return found


@pytest.mark.parametrize("papers", real_listings(), ids=lambda papers: f"{len(papers)} papers")
def test_real_listings_build_as_the_reference(papers: list[Paper]) -> None:
    assert_built_as_reference(papers, spelling=True)


def test_the_index_holds_the_built_tables() -> None:
    papers = real_listings()[0]
    index = Index(papers, rules=Rules.none())
    docs, postings, surface, vocabulary = reference(papers, spelling=False)
    assert ordered(index.postings) == ordered(postings) and ordered(index.surface) == ordered(surface)
    assert ordered(index.vocabulary) == ordered(vocabulary)
    assert [d.raw for d in index.docs] == [d[2] for d in docs]


# Texts as JSON can bring them: any piece above, non-ASCII letters and digits, marks, spaces of every kind and
# lone surrogates; glued without spaces as often as not, so that hyphens and apostrophes join and break words.
GLUE = ["", " ", "-", "'", "--", "\n", "\u00a0", "_", ".", "\ud800", "\u2013"]
PIECE = st.sampled_from(PIECES + ["Ünï", "ß", "٣", "½", "Σ", "İ", "\udc80x", "e\u0301", "ﬁ", "A-", "-B"])
TEXT = st.lists(st.tuples(PIECE, st.sampled_from(GLUE)), max_size=30).map(lambda ps: "".join(a + b for a, b in ps))
ANY_TEXT = TEXT | st.text(max_size=80) | st.text(st.characters(max_codepoint=127), max_size=80)


@settings(max_examples=800, deadline=None)
@given(ANY_TEXT)
def test_a_text_splits_into_the_parts_and_hyphenated_words_of_the_pattern(text: str) -> None:
    """``parts`` splits ASCII text with string methods; it must find what the token pattern finds."""
    found, joins = parts(text)
    assert found == re.findall(r"[^\W_]+", text)
    assert joins == hyphen_words(text)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(ANY_TEXT, ANY_TEXT), max_size=6), st.booleans())
def test_any_texts_build_as_the_word_by_word_reference(fields: list[tuple[str, str]], spelling: bool) -> None:
    assert_built_as_reference([texts(title, abstract, n) for n, (title, abstract) in enumerate(fields)], spelling)


def test_a_listing_with_more_stems_than_sixteen_bits_can_number_builds_as_the_reference() -> None:
    """The build sorts stem numbers with a 16-bit radix sort when they fit, and otherwise as they are."""
    letters = "bcdfghjklmnpqrtvwxz"  # no vowels, no ``s`` or ``y``: no stemmer rule touches these words
    made = ["k" + a + b + c + d for a in letters for b in letters for c in letters for d in letters[:10]][:66_000]
    papers = [texts(" ".join(made[:20]), " ".join(made[n::3]), n) for n in range(3)]
    assert len(build(papers, spelling=True).postings) > 1 << 16
    assert_built_as_reference(papers, spelling=True)


def test_a_table_reads_each_key_as_its_dict_and_knows_no_other_key() -> None:
    papers = [make_paper(title, abstract, id=f"p{n}") for n, (title, abstract) in enumerate([
        ("Snakes and ladders", "A snake eats a snake; ladders help."), ("Ladders", "No snakes here, only ladders.")])]
    tables = build(papers, spelling=True)
    _, postings, _, _ = reference(papers, True)
    table = tables.postings
    assert list(table) == list(postings) and len(table) == len(postings)
    assert table.sizes() == [len(v) for v in postings.values()]
    for key, expected in postings.items():
        assert key in table and table[key] == expected and table.get(key) is table[key]  # made once
        first, end = table.span(key) or (0, 0)
        assert table.papers[first:end].tolist() == list(expected)
    assert "zzz" not in table and table.get("zzz") is None and table.get("zzz", {}) == {} and table.span("zzz") is None
    with pytest.raises(KeyError):
        table["zzz"]
