"""An ``hf`` digest is dated by the Daily Papers day it was published for, not by arXiv.

Thursday's Daily Papers list papers that arXiv published on Wednesday (or earlier): the
digest says Thursday, in the subject and the header. The listing names its own day
(``Listing.day``): the day the source asked the API for, the daily entries' own date in
a saved API response, or the date a saved page shows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from digest.app import Digest
from digest.ranking.profile import parse_profile
from digest.model import Listing, Subscriber, make_paper
from digest.ranking.index import Index
from digest.ranking.select import Selection, rank
from digest.render import describe_listing
from digest.settings import load_settings
from digest.sources import FetchContext, FileSource, fetch_all, resolve
from digest.sources.http import Fetcher

from .conftest import FIXTURES, SHARED
from .http_server import PlaybackServer, Reply
from .test_live_sources import server  # noqa: F401 (the playback server fixture)

THURSDAY, WEDNESDAY = date(2026, 8, 13), date(2026, 8, 12)
READER = Subscriber("ada@example.org", ("exploration",), name="Ada")
PAPERS = [make_paper("Curiosity for exploration", "Count-based exploration bonuses in grid worlds.",
                     id="2608.00001", published=WEDNESDAY)]


def hf_item(number: int, daily: str, arxiv: str) -> dict:
    """An item of ``GET /api/daily_papers`` in today's shape: ``submittedOnDailyAt`` is the Daily
    Papers day, ``paper.publishedAt`` arXiv's (the outer ``publishedAt`` is arXiv's too, in US time)."""
    return {"paper": {"id": f"2608.{number:05d}", "title": f"Exploration paper {number}",
                      "summary": f"Abstract {number} about exploration.", "publishedAt": f"{arxiv}T00:00:00.000Z",
                      "submittedOnDailyAt": f"{daily}T00:00:00.000Z"},
            "publishedAt": f"{arxiv[:8]}{int(arxiv[8:]) - 1:02d}T20:00:00.000Z", "title": f"Exploration paper {number}"}


def render(listing: Listing, today: date):
    digest = Digest(load_settings(None, {"DIGEST_FROM": "Digest <digest@example.com>"}))
    digest.today = lambda: today  # type: ignore[method-assign]  # the clock, fixed: any date runs this test
    picks = rank(Index(listing.papers), parse_profile(READER.keywords), selection=Selection(None, 0.5))
    return digest.render(READER, picks, listing=listing)


@pytest.mark.parametrize("today", [THURSDAY, date(2026, 8, 14)])
def test_a_thursday_daily_papers_listing_of_wednesday_papers_says_thursday(today: date) -> None:
    rendered = render(Listing("hf", PAPERS, day=THURSDAY), today)

    assert rendered.subject.startswith("13 Aug: ")
    assert rendered.text.startswith("Hugging Face Daily Papers, Thursday 13 Aug 2026\n")
    assert "Thursday 13 Aug 2026" in rendered.html and "12 Aug" not in rendered.html


def test_without_a_day_of_its_own_a_listing_is_dated_by_its_newest_paper() -> None:
    assert describe_listing(Listing("hf", PAPERS), today=THURSDAY) == ("Hugging Face Daily Papers", WEDNESDAY)


def test_the_listing_day_wins_over_the_newest_publication_date() -> None:
    assert describe_listing(Listing("hf", PAPERS, day=THURSDAY), today=THURSDAY)[1] == THURSDAY


# Where the day comes from ------------------------------------------------------------------

@pytest.fixture
def fetcher(tmp_path: Path) -> Iterator[Fetcher]:
    client = Fetcher(cache_dir=tmp_path / "http-cache", timeout=2, retries=0)
    yield client
    client.close()


def daily(server: PlaybackServer, days: dict[str, list[dict]]) -> None:
    server.handler("/api/daily_papers", lambda request: Reply.json(json.dumps(days.get(request.query["date"], []))))


def test_hf_is_dated_by_the_day_it_asked_for(server: PlaybackServer, fetcher: Fetcher) -> None:
    daily(server, {"2026-08-13": [hf_item(1, "2026-08-13", "2026-08-12")]})

    listing = fetch_all(resolve("hf"), FetchContext(today=THURSDAY, http=fetcher, hf_base_url=server.url))

    assert listing.day == THURSDAY and listing.papers[0].published == WEDNESDAY
    assert describe_listing(listing, THURSDAY)[1] == THURSDAY


def test_a_digest_of_thursdays_hf_listing_says_thursday_end_to_end(server: PlaybackServer) -> None:
    daily(server, {"2026-08-13": [hf_item(1, "2026-08-13", "2026-08-12")]})
    digest = Digest(load_settings(None, {"DIGEST_FROM": "Digest <digest@example.com>",
                                         "DIGEST_HF_BASE_URL": server.url, "DIGEST_LOOKBACK_DAYS": "1"}))
    digest.today = lambda: THURSDAY  # type: ignore[method-assign]

    listing = digest.load_listing("hf")
    picks = rank(Index(listing.papers), parse_profile(READER.keywords), selection=Selection(None, 0.5))
    rendered = digest.render(READER, picks, listing=listing)

    assert rendered.subject.startswith("13 Aug: 1 paper")
    assert rendered.text.startswith("Hugging Face Daily Papers, Thursday 13 Aug 2026\n")


def test_hf_with_lookback_is_dated_by_the_newest_day_that_listed_papers(server: PlaybackServer,
                                                                        fetcher: Fetcher) -> None:
    daily(server, {"2026-08-12": [hf_item(1, "2026-08-12", "2026-08-11")],
                   "2026-08-11": [hf_item(2, "2026-08-11", "2026-08-10")]})  # nothing yet for Thursday

    listing = fetch_all(resolve("hf"), FetchContext(today=THURSDAY, http=fetcher, hf_base_url=server.url,
                                                    lookback_days=3))

    assert listing.day == WEDNESDAY and len(listing.papers) == 2


def test_hf_for_a_named_day_is_dated_by_it(server: PlaybackServer, fetcher: Fetcher) -> None:
    daily(server, {"2026-08-13": [hf_item(1, "2026-08-13", "2026-08-12")]})

    listing = fetch_all(resolve("hf:2026-08-13"), FetchContext(today=date(2026, 9, 1), http=fetcher,
                                                               hf_base_url=server.url))

    assert listing.day == THURSDAY


def test_a_listing_url_of_hf_api_json_is_dated_by_its_daily_entries(server: PlaybackServer,
                                                                    fetcher: Fetcher) -> None:
    server.route("/saved.json", Reply.json(json.dumps([hf_item(1, "2026-08-13", "2026-08-12")])))

    listing = fetch_all(resolve(f"{server.url}/saved.json"), FetchContext(today=date(2026, 9, 1), http=fetcher))

    assert listing.day == THURSDAY


def test_an_entry_dated_far_in_the_future_does_not_date_the_listing(server: PlaybackServer,
                                                                    fetcher: Fetcher) -> None:
    """A broken or hostile entry of 9999-12-31 dated the whole digest "Dec 9999"; tomorrow still counts (a
    listing published in a time zone ahead of ours)."""
    items = [hf_item(1, "2026-08-13", "2026-08-12"), hf_item(2, "9999-12-31", "2026-08-12")]
    server.route("/saved.json", Reply.json(json.dumps(items)))
    server.route("/ahead.json", Reply.json(json.dumps(items[:1])))

    far = fetch_all(resolve(f"{server.url}/saved.json"), FetchContext(today=THURSDAY, http=fetcher))
    ahead = fetch_all(resolve(f"{server.url}/ahead.json"), FetchContext(today=WEDNESDAY, http=fetcher))

    assert far.day == THURSDAY and len(far.papers) == 2
    assert ahead.day == THURSDAY


def test_a_saved_api_response_in_the_older_shape_is_dated_by_its_entries(tmp_path: Path) -> None:
    """Before ``submittedOnDailyAt``, the item's own ``publishedAt`` was the daily entry's."""
    listing = FileSource(FIXTURES / "hf_api.json").fetch(FetchContext(today=date(2026, 9, 1)))

    assert listing.day == THURSDAY and {p.published for p in listing.papers} == {WEDNESDAY}


def test_a_saved_page_is_dated_by_the_date_it_shows() -> None:
    listing = FileSource(FIXTURES / "hf_blank.txt").fetch(FetchContext(today=date(2026, 8, 13)))

    assert listing.day == date(2026, 3, 12)


@pytest.mark.parametrize("name", ["hf_meta.txt", "papers.jsonl", "arxiv_atom.xml"])
def test_a_listing_that_names_no_day_has_none(name: str) -> None:
    assert FileSource(FIXTURES / name).fetch(FetchContext(today=THURSDAY)).day is None


def test_a_day_survives_merging_with_a_source_that_has_none(tmp_path: Path) -> None:
    sources = resolve(f"{FIXTURES / 'hf_api.json'}, {FIXTURES / 'papers.jsonl'}")

    assert fetch_all(sources, FetchContext(today=date(2026, 9, 1))).day == THURSDAY


@pytest.mark.parametrize(("name", "day"), [("daily_papers_2026-08-13.json", date(2026, 8, 13)),
                                           ("daily_papers_2026-08-19.json", date(2026, 8, 19)),
                                           ("daily_papers_2025-03-04.json", date(2025, 3, 4))])
def test_real_api_responses_are_dated_by_their_daily_papers_day(name: str, day: date) -> None:
    path = SHARED / "fixtures" / "hf_api" / name
    if not path.is_file():
        pytest.skip("the shared HF API fixtures are not here")

    listing = FileSource(path).fetch(FetchContext(today=date(2026, 9, 1)))

    assert listing.day == day
    assert describe_listing(listing, date(2026, 9, 1))[1] == day
