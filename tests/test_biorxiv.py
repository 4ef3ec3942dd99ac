"""bioRxiv and medRxiv through their details API, played back by a real HTTP server on 127.0.0.1.

The responses are hand-made from the API's documented format (tests/fixtures/README.biorxiv.md):
this machine cannot reach api.biorxiv.org to record them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from digest.errors import ConfigError, UnreadableItemsError
from digest.sources import FetchContext, fetch_all, resolve
from digest.sources.http import Fetcher

from . import http_server
from .conftest import FIXTURES
from .http_server import PlaybackServer, Reply

TODAY = date(2026, 11, 30)
BIO = "/details/biorxiv/2026-11-29/2026-11-30"
MED = "/details/medrxiv/2026-11-29/2026-11-30"
RECORDED = (FIXTURES / "biorxiv_details.json").read_bytes()


@pytest.fixture
def server() -> Iterator[PlaybackServer]:
    playback = http_server.start()
    yield playback
    playback.shutdown()
    playback.server_close()


@pytest.fixture
def fetcher(tmp_path: Path) -> Iterator[Fetcher]:
    client = Fetcher(cache_dir=tmp_path / "http-cache", timeout=0.5, backoff=0.05)
    yield client
    client.close()


def fetch(spec: str, server: PlaybackServer, fetcher: Fetcher, lookback: int = 1):
    ctx = FetchContext(today=TODAY, http=fetcher, lookback_days=lookback, hf_base_url=server.url,
                       arxiv_base_url=server.url, biorxiv_base_url=server.url)
    return fetch_all(resolve(spec), ctx), ctx


def preprint(number: int, category: str = "neuroscience", version: object = "1", **fields: object) -> dict:
    item = {
        "doi": f"10.1101/2026.11.30.{600000 + number}", "title": f"Preprint {number} on hippocampal replay",
        "authors": f"Author{number}, A.; Other, B.", "author_corresponding": "A. Author",
        "author_corresponding_institution": "Some Institute", "date": "2026-11-30", "version": version,
        "type": "new results", "license": "cc_by", "category": category,
        "jatsxml": "https://www.biorxiv.org/content/early/x.source.xml",
        "abstract": f"Abstract of preprint {number}.", "published": "NA", "server": "bioRxiv",
    }
    item.update(fields)
    return item


def page(items: list, total: object, cursor: int = 0) -> Reply:
    message = {"status": "ok", "interval": "2026-11-29:2026-11-30", "cursor": cursor, "count": len(items),
               "count_new_papers": str(len(items)), "total": total}
    return Reply.json(json.dumps({"messages": [message], "collection": items}))


# the recorded shape ------------------------------------------------------------------

def test_a_subject_lists_its_preprints_by_doi_with_their_versioned_page(server, fetcher):
    server.route(f"{BIO}/0/json?category=neuroscience", Reply.json(RECORDED))

    listing, _ = fetch("biorxiv:neuroscience", server, fetcher)

    first, second = listing.papers
    assert first.id == first.doi == "10.1101/2026.11.30.612345"
    assert first.url == "https://www.biorxiv.org/content/10.1101/2026.11.30.612345v1"
    assert second.url == "https://www.biorxiv.org/content/10.1101/2026.11.29.611002v2"
    assert first.authors == ("Adaeze N. Okafor", "Per Lindqvist", "Jana Müller")
    assert first.published == date(2026, 11, 30)
    assert first.organization == "Karolinska Institutet"
    assert listing.source == "biorxiv:neuroscience"
    assert listing.warnings == []


def test_the_interval_is_the_lookback_up_to_today(server, fetcher):
    server.route("/details/biorxiv/2026-11-27/2026-11-30/0/json", Reply.json(RECORDED))

    listing, _ = fetch("biorxiv:all", server, fetcher, lookback=3)

    assert len(listing.papers) == 2
    assert server.requests[0].query == {}  # all: no category asked for


def test_a_subject_spelled_with_underscores_or_capitals_asks_the_api_for_it(server, fetcher):
    server.route(f"{BIO}/0/json", page([preprint(1, "cell biology")], 1))

    listing, _ = fetch("biorxiv:Cell_Biology", server, fetcher)

    assert [p.title for p in listing.papers] == ["Preprint 1 on hippocampal replay"]
    assert server.requests[0].query == {"category": "cell_biology"}


# paging -----------------------------------------------------------------------------------

def test_pages_are_followed_by_cursor_until_the_total(server, fetcher):
    server.route(f"{BIO}/0/json", page([preprint(n) for n in range(100)], "250"))
    server.route(f"{BIO}/100/json", page([preprint(n) for n in range(100, 200)], "250", 100))
    server.route(f"{BIO}/200/json", page([preprint(n) for n in range(200, 250)], "250", 200))

    listing, _ = fetch("biorxiv:neuroscience", server, fetcher)

    assert len({p.id for p in listing.papers}) == 250
    assert [r.path.split("/")[-2] for r in server.requests] == ["0", "100", "200"]


def test_pages_of_thirty_as_the_live_api_sends_them_are_all_followed(server, fetcher):
    # api.biorxiv.org answers /details/ 30 records a page: a walk that expects 100 stops after the first
    for start in range(0, 75, 30):
        server.route(f"{BIO}/{start}/json",
                     page([preprint(n) for n in range(start, min(start + 30, 75))], "75", start))

    listing, _ = fetch("biorxiv:neuroscience", server, fetcher)

    assert len({p.id for p in listing.papers}) == 75
    assert [r.path.split("/")[-2] for r in server.requests] == ["0", "30", "60"]


def test_a_page_without_a_total_is_followed_until_an_empty_page(server, fetcher):
    server.route(f"{BIO}/0/json", page([preprint(n) for n in range(30)], None))
    server.route(f"{BIO}/30/json", page([preprint(n) for n in range(30, 40)], None, 30))
    server.route(f"{BIO}/40/json", page([], None, 40))

    listing, _ = fetch("biorxiv:neuroscience", server, fetcher)

    assert len({p.id for p in listing.papers}) == 40


def test_a_walk_longer_than_the_page_cap_stops_with_a_warning(server, fetcher, monkeypatch):
    from digest.sources import biorxiv

    monkeypatch.setattr(biorxiv, "MAX_PAGES", 2)
    for start in range(0, 90, 30):
        server.route(f"{BIO}/{start}/json", page([preprint(n) for n in range(start, start + 30)], "90", start))

    listing, _ = fetch("biorxiv:neuroscience", server, fetcher)

    assert len(listing.papers) == 60
    assert any("stopped after 2 pages (60 of 90 preprints)" in w for w in listing.warnings)


def test_a_server_that_ignores_the_cursor_is_asked_twice_not_forever(server, fetcher):
    server.route(f"{BIO}/0/json", page([preprint(n) for n in range(100)], 5000))
    server.route(f"{BIO}/100/json", page([preprint(n) for n in range(100)], 5000))

    listing, _ = fetch("biorxiv:neuroscience", server, fetcher)

    assert len(listing.papers) == 100
    assert len(server.requests) == 2


def test_a_preprint_revised_in_the_interval_is_listed_once_at_its_newest_version(server, fetcher):
    server.route(f"{BIO}/0/json", page([preprint(1, version="1"), preprint(1, version=2)], 2))

    listing, _ = fetch("biorxiv:neuroscience", server, fetcher)

    assert [p.url for p in listing.papers] == ["https://www.biorxiv.org/content/10.1101/2026.11.30.600001v2"]


# subjects ------------------------------------------------------------------------------------

def test_preprints_of_another_subject_are_dropped_even_when_the_api_sends_them(server, fetcher):
    server.route(f"{BIO}/0/json", page([preprint(1), preprint(2, "ecology"), preprint(3, category=None)], 3))

    listing, _ = fetch("biorxiv:neuroscience", server, fetcher)

    assert sorted(p.title.split()[1] for p in listing.papers) == ["1", "3"]  # no category: the API chose it


def test_medrxiv_subjects_are_kept_by_each_preprints_category_qualifiers_and_all(server, fetcher):
    items = [preprint(1, "Infectious Diseases (except HIV/AIDS)"), preprint(2, "oncology"),
             preprint(3, "HIV/AIDS"), preprint(4, category=None)]
    server.route(f"{MED}/0/json", page(items, 4))

    listing, _ = fetch("medrxiv:infectious_diseases+hiv_aids", server, fetcher)

    assert sorted(p.title.split()[1] for p in listing.papers) == ["1", "3"]
    assert [r.query for r in server.requests] == [{}]  # one request for both subjects
    assert listing.papers[0].url.startswith("https://www.medrxiv.org/content/10.1101/")


@pytest.mark.parametrize("spec, hint", [
    ("biorxiv:neuroscence", "did you mean biorxiv:neuroscience?"),
    ("biorxiv:", "no subject"),
    ("medrxiv:quantum chromodynamics", "is not a medRxiv subject"),
    ("biorxiv:genomics+", "no subject"),
])
def test_an_unknown_subject_is_one_line_naming_the_fix(spec, hint):
    with pytest.raises(ConfigError) as caught:
        resolve(spec)

    message = str(caught.value)
    assert hint in message and "\n" not in message
    assert ":all" in message


def test_cli_bad_subject_is_one_line_without_traceback(run_cli):
    code, out, err = run_cli("papers", "--source", "biorxiv:neurosceince")

    assert code != 0
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "did you mean biorxiv:neuroscience?" in err


# malformed fields -------------------------------------------------------------------------------

def test_malformed_items_are_skipped_or_kept_without_the_bad_field_each_with_a_warning(server, fetcher):
    items = [
        preprint(1, title=12345),  # a number where the title should be
        preprint(2, abstract=None),  # no abstract
        preprint(3, authors=["A", "B"], date=20261130, version="abc"),  # wrong types: kept without them
        preprint(4, doi=101101),
        "not an object",
        preprint(5, version=3),  # a number for the version is fine
    ]
    server.route(f"{BIO}/0/json", page(items, "6"))

    listing, _ = fetch("biorxiv:neuroscience", server, fetcher)

    kept = {p.id: p for p in listing.papers}
    assert sorted(kept) == ["10.1101/2026.11.30.600003", "10.1101/2026.11.30.600005"]
    third = kept["10.1101/2026.11.30.600003"]
    assert third.authors == () and third.published is None
    assert third.url == "https://www.biorxiv.org/content/10.1101/2026.11.30.600003"
    assert kept["10.1101/2026.11.30.600005"].url.endswith("v3")
    text = " | ".join(listing.warnings)
    assert "600001 skipped: title is a number" in text
    assert "600002 skipped: missing abstract" in text
    assert ("600003: ignored version (a JSON string, not a count), authors (a JSON array, not text), "
            "date (a JSON number, not a date)") in text
    assert "skipped: no DOI" in text and "str in the collection skipped" in text


def test_a_doi_that_looks_like_an_arxiv_id_stays_the_id(server, fetcher):
    server.route(f"{BIO}/0/json", page([preprint(1, doi="10.1101/2024.12345.678")], 1))

    listing, _ = fetch("biorxiv:neuroscience", server, fetcher)

    assert [p.id for p in listing.papers] == ["10.1101/2024.12345.678"]


def test_no_posts_found_is_a_note_not_an_error(server, fetcher):
    server.route(f"{BIO}/0/json", Reply.json('{"messages":[{"status":"no posts found"}],"collection":[]}'))

    listing, ctx = fetch("biorxiv:neuroscience", server, fetcher)

    assert listing.papers == []
    assert ctx.notes == ["biorxiv:neuroscience: no preprints posted from 2026-11-29 to 2026-11-30"]


# faults: one bad source never cancels the digest ------------------------------------------------

ARXIV_WITH_DOI = b"""<?xml version='1.0' encoding='UTF-8'?>
<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/" version="2.0">
  <channel><title>q-bio.NC updates on arXiv.org</title>
    <item>
      <title>Place Cells Remap Along a Learned Reward Gradient in Mouse CA1</title>
      <link>https://arxiv.org/abs/2611.09999</link>
      <description>arXiv:2611.09999v1 Announce Type: cross
Abstract: Hippocampal place cells shift along a reward gradient.</description>
      <guid isPermaLink="false">oai:arXiv.org:2611.09999v1</guid>
      <arxiv:announce_type>cross</arxiv:announce_type>
      <arxiv:DOI>https://doi.org/10.1101/2026.11.30.612345</arxiv:DOI>
      <dc:creator>Adaeze N. Okafor</dc:creator>
    </item>
    <item>
      <title>Grid cells without grids</title>
      <link>https://arxiv.org/abs/2611.08888</link>
      <description>arXiv:2611.08888v1 Announce Type: new
Abstract: Grid-like codes from recurrent networks.</description>
      <guid isPermaLink="false">oai:arXiv.org:2611.08888v1</guid>
      <arxiv:announce_type>new</arxiv:announce_type>
    </item>
  </channel>
</rss>"""


@pytest.mark.parametrize("order, kept_id", [
    ("arxiv:q-bio.NC, biorxiv:neuroscience", "2611.09999"),
    ("biorxiv:neuroscience, arxiv:q-bio.NC", "10.1101/2026.11.30.612345"),
])
def test_a_paper_on_arxiv_and_biorxiv_with_one_doi_is_listed_once(server, fetcher, order, kept_id):
    server.route("/rss/q-bio.NC", Reply(body=ARXIV_WITH_DOI, headers={"Content-Type": "application/rss+xml"}))
    server.route(f"{BIO}/0/json?category=neuroscience", Reply.json(RECORDED))

    listing, _ = fetch(order, server, fetcher)

    ids = [p.id for p in listing.papers]
    assert len(ids) == 3  # 2 + 2, one of them twice
    assert kept_id in ids
    assert [p.doi for p in listing.papers].count("10.1101/2026.11.30.612345") == 1


@pytest.mark.parametrize("reply, problem", [
    (Reply(500), "HTTP 500"),
    (Reply.json(RECORDED, delay=1.5), "timed out"),
    (Reply(body=b"<!DOCTYPE html><html>Service unavailable</html>", headers={"Content-Type": "text/html"}),
     "an HTML page"),
    (Reply.json('{"messages": [{"status": "ok"}], "collection": {"doi": 1}}'), "no \"collection\" array"),
    (Reply.json('{"messages": [{"status": "ok"}], "collection": [{"do'), "malformed JSON"),
])
def test_a_failing_biorxiv_is_skipped_with_a_warning_and_the_other_sources_go_on(server, fetcher, reply, problem):
    server.route("/rss/q-bio.NC", Reply(body=ARXIV_WITH_DOI, headers={"Content-Type": "application/rss+xml"}))
    server.route(f"{BIO}/0/json", reply)

    listing, _ = fetch("biorxiv:neuroscience, arxiv:q-bio.NC", server, fetcher)

    assert sorted(p.id for p in listing.papers) == ["2611.08888", "2611.09999"]
    assert any(w.startswith("skipped ") and f"{BIO}/0/json" in w and problem in w for w in listing.warnings)


def test_cli_lists_biorxiv_papers_from_the_settings_base_url(server, monkeypatch, run_cli):
    monkeypatch.setenv("DIGEST_BIORXIV_BASE_URL", server.url)
    monkeypatch.setenv("DIGEST_LOOKBACK_DAYS", "1")
    monkeypatch.setenv("DIGEST_TIMEZONE", "UTC")
    # every path gets the recording: the interval the CLI asks for follows the real clock
    server.reply_for = lambda raw, request: (server.requests.append(request), Reply.json(RECORDED))[1]

    code, out, err = run_cli("papers", "--source", "medrxiv:all", "--json")

    assert code == 0, err
    papers = [json.loads(line) for line in out.splitlines()]
    assert [p["id"] for p in papers] == ["10.1101/2026.11.30.612345", "10.1101/2026.11.29.611002"]
    assert papers[0]["doi"] == "10.1101/2026.11.30.612345"
    assert server.requests[0].path.startswith("/details/medrxiv/")


def test_a_week_whose_preprints_are_all_broken_is_an_error_not_a_quiet_week(server, fetcher):
    server.route(f"{BIO}/0/json", page([preprint(1, title=12345), preprint(2, abstract=None)], "2"))

    with pytest.raises(UnreadableItemsError, match=r"biorxiv:neuroscience: no paper could be read from its 2 items "
                                                    r"\(.*600001 skipped: title is a number"):
        fetch("biorxiv:neuroscience", server, fetcher)
