"""Every listing format loads to the same papers; bad input gets one clear error."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from digest.errors import EmptyListingError, ListingError
from digest.sources import FetchContext, FileSource, SampleSource
from digest.sources.parse import parse_listing

from .conftest import FIXTURES, SHARED

TITLES = [
    "Tiny Curiosity: Intrinsic Motivation for Exploration in Grid Worlds",
    "A Survey of Exploration",
    "Reward Models for RLHF",
]
FORMATS = ["hf_blank.txt", "hf_glued.txt", "hf_meta.txt", "hf_api.json", "papers.jsonl", "arxiv_atom.xml"]


def load(path: Path, today: date = date(2026, 8, 13)):
    return FileSource(path).fetch(FetchContext(today=today))


@pytest.mark.parametrize("name", FORMATS)
def test_every_format_gives_the_same_titles_and_abstracts(name: str) -> None:
    papers = load(FIXTURES / name).papers
    assert [p.title for p in papers] == TITLES
    assert papers[0].abstract.startswith("We study exploration with intrinsic motivation in small")
    assert papers[2].abstract.endswith("during alignment.")


@pytest.mark.parametrize("name", ["hf_api.json", "papers.jsonl", "arxiv_atom.xml"])
def test_arxiv_ids_lose_their_version(name: str) -> None:
    assert [p.id for p in load(FIXTURES / name).papers] == ["2608.00001", "2608.00002", "2608.00003"]


def test_papers_without_arxiv_id_get_a_stable_title_hash() -> None:
    blank = load(FIXTURES / "hf_blank.txt").papers
    glued = load(FIXTURES / "hf_glued.txt").papers
    assert [p.id for p in blank] == [p.id for p in glued]
    assert all(p.id.startswith("title:") for p in blank)


def test_hf_metadata_blocks_are_kept() -> None:
    first, second, third = load(FIXTURES / "hf_meta.txt", today=date(2026, 3, 1)).papers
    assert first.authors_count == 10 and first.published == date(2025, 7, 7)
    assert second.organization == "stanfordnlp Stanford NLP" and second.published == date(2023, 11, 14)
    assert third.authors_count == 3 and third.upvotes == 12 and third.published == date(2024, 6, 13)


def test_hf_api_keeps_metadata_and_unwraps_titles() -> None:
    paper = load(FIXTURES / "hf_api.json").papers[0]
    assert paper.title == TITLES[0]
    assert paper.authors == ("Ada Lovelace", "Alan Turing") and paper.authors_count == 2
    assert paper.upvotes == 12 and paper.github == "https://github.com/example/tiny"
    assert paper.organization == "Tiny Lab" and paper.keywords == ("intrinsic motivation", "exploration")
    assert paper.url == "https://huggingface.co/papers/2608.00001"


def test_arxiv_rss_keeps_only_new_and_cross_announcements() -> None:
    papers = load(FIXTURES / "arxiv_rss.xml").papers
    assert [p.id for p in papers] == ["2608.00001", "2608.00002", "2608.00003"]
    assert papers[0].authors == ("Ada Lovelace", "Alan Turing")


def test_jsonl_round_trips_through_to_json(tmp_path: Path) -> None:
    papers = load(FIXTURES / "hf_api.json").papers
    out = tmp_path / "out.jsonl"
    out.write_text("".join(json.dumps(p.to_json()) + "\n" for p in papers))
    assert load(out).papers == papers


def test_sample_listing_is_bundled() -> None:
    papers = SampleSource().fetch(FetchContext(today=date(2026, 11, 23))).papers
    assert len(papers) >= 10 and all(p.title and p.abstract for p in papers)


BAD_INPUTS = {
    "empty": (b"", "empty"),
    "whitespace": (b"  \n\n ", "empty"),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
    "invalid utf-8": (b"Daily Papers\nTitle \xff\xfe\nAbstract", "UTF-8"),
    "truncated json": (b'[{"paper": {"id": "2608.00001", "title": "T', "truncated JSON"),
    "wrong json shape": (b'{"error": "rate limited"}', "not a paper listing"),
    "json number": (b"[1, 2, 3]", "no papers listed"),
    "entity bomb": (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
        b"<feed>&lol2;</feed>",
        "unsafe XML",
    ),
    "html error page": (b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>", "HTML page"),
    "malformed xml": (b"<feed><entry>", "malformed XML"),
    "prose": (b"hello world", "unknown format"),
}


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_input_gets_a_clear_error_naming_the_file(name: str) -> None:
    data, expected = BAD_INPUTS[name]
    with pytest.raises(ListingError) as info:
        parse_listing(data, "listing.txt")
    assert expected in str(info.value)
    assert str(info.value).startswith("listing.txt: ")


def test_arxiv_error_feed_reports_the_api_message() -> None:
    with pytest.raises(ListingError, match="incorrect id format for abc"):
        load(FIXTURES / "arxiv_error.xml")


def test_empty_feed_is_an_empty_listing_error() -> None:
    with pytest.raises(EmptyListingError, match="no papers listed"):
        load(FIXTURES / "arxiv_empty.xml")


def test_broken_items_are_skipped_with_a_warning() -> None:
    data = b'{"id": "1", "title": "Good", "abstract": "Fine."}\n{"id": "2", "title": "No abstract"}\nnot json\n'
    listing = parse_listing(data, "mixed.jsonl")
    assert [p.title for p in listing.papers] == ["Good"]
    assert len(listing.warnings) == 2 and "line 2" in listing.warnings[0]


@pytest.mark.parametrize("problem, make", [
    ("no such file", lambda tmp: tmp / "missing.txt"),
    ("is a directory", lambda tmp: tmp),
])
def test_missing_path_and_directory(tmp_path: Path, problem: str, make) -> None:
    with pytest.raises(ListingError, match=problem):
        load(make(tmp_path))


# The real listings in ../shared, when it is there -------------------------------

SEEDS = {"000_ec4228c9c1809bbc.txt": 67, "002_d350d4288073fbdb.txt": 88, "004_857b39fc0039485e.txt": 224}
needs_shared = pytest.mark.skipif(not SHARED.exists(), reason="../shared not present")


@needs_shared
@pytest.mark.parametrize("name, count", SEEDS.items())
def test_real_seeds_load_every_paper(name: str, count: int) -> None:
    path = SHARED / "seeds" / name
    papers = load(path).papers
    assert len(papers) == count
    lines = [" ".join(line.split()) for line in path.read_text().splitlines() if line.strip()]
    body = set(lines)
    for paper in papers:
        assert paper.title in body or any(line.endswith(paper.title) for line in lines[:5])
        assert paper.abstract in body
        assert paper.title.casefold() not in {"new", "subscribe", "daily papers"}


@needs_shared
@pytest.mark.parametrize("name, count", [("daily_papers_2025-03-04.json", 13), ("daily_papers_2026-08-13.json", 20), ("daily_papers_2026-08-19.json", 26)])
def test_real_hf_api_fixtures(name: str, count: int) -> None:
    papers = load(SHARED / "fixtures" / "hf_api" / name).papers
    assert len(papers) == count
    assert all(p.id[:4].isdigit() and "." in p.id for p in papers)
    assert all("\n" not in p.title for p in papers)


@needs_shared
def test_the_same_paper_gets_the_same_id_from_two_days() -> None:
    folder = SHARED / "fixtures" / "hf_api"
    day1 = {p.id: p for p in load(folder / "daily_papers_2026-08-13.json").papers}
    day2 = {p.id: p for p in load(folder / "daily_papers_2026-08-19.json").papers}
    assert "2608.12313" in day1 and "2608.12313" in day2
    assert day1["2608.12313"].title == day2["2608.12313"].title


@needs_shared
def test_real_arxiv_fixtures() -> None:
    folder = SHARED / "fixtures" / "arxiv"
    assert len(load(folder / "arxiv_api_query_all-testing_max10.xml").papers) == 10
    assert load(folder / "arxiv_api_legacy2016_del_maestro_checkerboard.xml").papers[0].id == "cond-mat/0603029"
    with pytest.raises(ListingError, match="incorrect id format"):
        load(folder / "arxiv_api_error_400_bad_id.xml")
    with pytest.raises(EmptyListingError):
        load(folder / "arxiv_rss_physics_2025-12-31_EMPTY_transcribed.xml")
