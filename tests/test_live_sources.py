"""Live sources against a real HTTP server on 127.0.0.1 playing back recorded responses."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from digest.errors import ConfigError, EmptyListingError, ListingError, SourceError
from digest.sources import FetchContext, fetch_all, resolve
from digest.sources.http import USER_AGENT, Fetcher

from . import http_server
from .conftest import FIXTURES, SHARED
from .http_server import PlaybackServer, Reply

API = "/api/daily_papers"
HF_FIXTURE = (FIXTURES / "hf_api.json").read_bytes()
RSS_FIXTURE = (FIXTURES / "arxiv_rss.xml").read_bytes()
EMPTY_RSS = (FIXTURES / "arxiv_empty.xml").read_bytes()


def hf_item(number: int, day: str = "2026-08-13", upvotes: int = 1) -> dict:
    """One item shaped like ``GET /api/daily_papers``."""
    return {
        "paper": {
            "id": f"2608.{number:05d}",
            "authors": [{"_id": "x", "name": f"Author {number}", "hidden": False}],
            "publishedAt": f"{day}T00:00:00.000Z",
            "title": f"Paper number {number} on exploration",
            "summary": f"Abstract of paper {number}.",
            "upvotes": upvotes,
        },
        "publishedAt": f"{day}T00:00:00.000Z",
        "title": f"Paper number {number} on exploration",
    }


def hf_page(numbers: range | list[int], day: str = "2026-08-13") -> Reply:
    return Reply.json(json.dumps([hf_item(n, day) for n in numbers]))


def first_pages(requests: list) -> list:
    """The requests for a day's first page (each day's listing also asks for the page after its last)."""
    return [r for r in requests if r.query.get("p") == "0"]


@pytest.fixture
def server() -> Iterator[PlaybackServer]:
    playback = http_server.start()
    yield playback
    playback.shutdown()
    playback.server_close()


@pytest.fixture
def fetcher(tmp_path: Path) -> Iterator[Fetcher]:
    """Short timeouts and backoff so the retry tests take a fraction of a second."""
    client = Fetcher(cache_dir=tmp_path / "http-cache", timeout=0.5, backoff=0.05)
    yield client
    client.close()


def context(server: PlaybackServer, fetcher: Fetcher, today: date = date(2026, 8, 13), lookback: int = 1) -> FetchContext:
    return FetchContext(today=today, http=fetcher, lookback_days=lookback,
                        hf_base_url=server.url, arxiv_base_url=server.url)


def fetch(spec: str, server: PlaybackServer, fetcher: Fetcher, **kwargs):
    return fetch_all(resolve(spec), context(server, fetcher, **kwargs))


@pytest.fixture
def live_env(server: PlaybackServer, monkeypatch: pytest.MonkeyPatch) -> PlaybackServer:
    """Settings pointing the CLI's sources at the local server."""
    monkeypatch.setenv("DIGEST_HF_BASE_URL", server.url)
    monkeypatch.setenv("DIGEST_ARXIV_BASE_URL", server.url)
    monkeypatch.setenv("DIGEST_ARXIV_DELAY", "0")
    monkeypatch.setenv("DIGEST_HTTP_TIMEOUT", "2")
    return server


# Hugging Face Daily Papers -----------------------------------------------------

def test_hf_paginates_until_an_empty_page(server, fetcher):
    server.route(f"{API}?date=2026-08-13&limit=100&p=0", hf_page(range(0, 100)))
    server.route(f"{API}?date=2026-08-13&limit=100&p=1", hf_page(range(100, 200)))
    server.route(f"{API}?date=2026-08-13&limit=100&p=2", hf_page(range(200, 237)))
    server.route(f"{API}?date=2026-08-13&limit=100&p=3", hf_page([]))

    listing = fetch("hf:2026-08-13", server, fetcher)

    assert len(listing.papers) == 237
    assert len({p.id for p in listing.papers}) == 237
    assert [r.query["p"] for r in server.requests] == ["0", "1", "2", "3"]


def test_hf_reads_every_page_when_the_server_caps_pages_below_the_limit(server, fetcher, caplog):
    """A server giving 30 items a page, although 100 were asked for: a short page is not the last."""
    for page, numbers in enumerate([range(0, 30), range(30, 60), range(60, 75), []]):
        server.route(f"{API}?date=2026-08-13&limit=100&p={page}", hf_page(numbers))

    listing = fetch("hf:2026-08-13", server, fetcher)

    assert sorted(p.id for p in listing.papers) == [f"2608.{n:05d}" for n in range(75)]
    assert "caps its pages" in caplog.text


def test_hf_keeps_the_day_when_the_page_after_a_short_one_fails(server, fetcher):
    server.route(f"{API}?date=2026-08-13&limit=100&p=0", hf_page(range(0, 40)))
    server.route(f"{API}?date=2026-08-13&limit=100&p=1", Reply(status=500))

    listing = fetch("hf:2026-08-13", server, fetcher)

    assert len(listing.papers) == 40
    assert {r.query["p"] for r in server.requests} == {"0", "1"}


MAINTENANCE = Reply(body=b"<!doctype html><title>Down for maintenance</title>", headers={"Content-Type": "text/html"})


def test_hf_keeps_the_day_when_the_page_after_a_short_one_is_not_a_listing(server, fetcher):
    server.route(f"{API}?date=2026-08-13&limit=100&p=0", hf_page(range(0, 40)))
    server.route(f"{API}?date=2026-08-13&limit=100&p=1", MAINTENANCE)

    listing = fetch("hf:2026-08-13", server, fetcher)

    assert len(listing.papers) == 40


def test_a_200_that_is_not_a_listing_is_not_kept_for_the_next_run(server, fetcher):
    """A past day's copy is fresh for hours: a maintenance page cached would stand for the listing."""
    route = f"{API}?date=2026-08-12&limit=100&p=0"
    server.route(route, MAINTENANCE, hf_page(range(0, 40)))
    server.route(f"{API}?date=2026-08-12&limit=100&p=1", hf_page([]))

    with pytest.raises(ListingError, match="HTML"):
        fetch("hf:2026-08-12", server, fetcher)
    listing = fetch("hf:2026-08-12", server, fetcher)  # the server is back

    assert len(listing.papers) == 40
    assert len(server.requests_to(API)) == 3  # asked again, not answered from the cache


def test_a_cached_copy_that_no_longer_reads_is_fetched_again_at_once(server, fetcher):
    route = f"{API}?date=2026-08-12&limit=100&p=0"
    server.route(route, hf_page(range(0, 40)))
    server.route(f"{API}?date=2026-08-12&limit=100&p=1", hf_page([]))
    fetch("hf:2026-08-12", server, fetcher)
    url = f"{server.url}{route}"
    body, meta = fetcher.cache.load(url)
    fetcher.cache.save(url, body[: len(body) // 2], {})  # damaged on disk, its size recorded to match

    listing = fetch("hf:2026-08-12", server, fetcher)

    assert len(listing.papers) == 40 and len(server.requests_to(API)) == 3  # p=0 once more; p=1 still fresh


def test_hf_fails_when_a_page_after_a_full_one_fails(server, fetcher):
    """A full page promises more: losing the next one is an error, not a shorter day."""
    server.route(f"{API}?date=2026-08-13&limit=100&p=0", hf_page(range(0, 100)))
    server.route(f"{API}?date=2026-08-13&limit=100&p=1", Reply(status=500))

    with pytest.raises(SourceError):
        fetch("hf:2026-08-13", server, fetcher)


def test_hf_stops_when_the_server_ignores_the_page_number(server, fetcher):
    server.route(API, hf_page(range(0, 100)))  # every page is the same full page

    listing = fetch("hf:2026-08-13", server, fetcher)

    assert len(listing.papers) == 100
    assert len(server.requests) == 2


def test_an_empty_weekend_day_is_a_note_not_an_error(server, fetcher):
    server.route(API, Reply.json("[]"))
    ctx = context(server, fetcher)

    listing = fetch_all(resolve("hf:2026-08-15"), ctx)

    assert listing.papers == []
    assert ctx.notes == ["hf:2026-08-15: no papers listed for 2026-08-15"]


def test_lookback_merges_three_days_without_duplicates(server, fetcher):
    server.route(f"{API}?date=2026-08-17&limit=100&p=0", hf_page([1, 2, 3], "2026-08-17"))
    server.route(f"{API}?date=2026-08-16&limit=100&p=0", hf_page([3, 4], "2026-08-16"))
    server.route(f"{API}?date=2026-08-15&limit=100&p=0", hf_page([4, 5, 1], "2026-08-15"))

    listing = fetch("hf", server, fetcher, today=date(2026, 8, 17), lookback=3)

    assert sorted(p.id for p in listing.papers) == [f"2608.{n:05d}" for n in (1, 2, 3, 4, 5)]
    assert sorted(r.query["date"] for r in first_pages(server.requests)) == ["2026-08-15", "2026-08-16", "2026-08-17"]


def test_lookback_with_an_empty_weekend_still_lists_the_other_days(server, fetcher):
    server.route(f"{API}?date=2026-08-17&limit=100&p=0", hf_page([1, 2], "2026-08-17"))
    server.route(API, Reply.json("[]"))

    listing = fetch("hf", server, fetcher, today=date(2026, 8, 17), lookback=3)

    assert [p.id for p in listing.papers] == ["2608.00001", "2608.00002"]


def test_hf_today_is_the_date_in_digest_timezone(live_env, monkeypatch, run_cli):
    monkeypatch.setenv("DIGEST_TIMEZONE", "Pacific/Kiritimati")  # UTC+14: differs from UTC half the day
    monkeypatch.setenv("DIGEST_LOOKBACK_DAYS", "1")
    live_env.route(API, Reply.json(HF_FIXTURE))

    code, out, err = run_cli("papers", "--source", "hf")

    assert code == 0, err
    expected = datetime.now(ZoneInfo("Pacific/Kiritimati")).date().isoformat()
    assert {r.query["date"] for r in live_env.requests} == {expected}


def test_cli_hf_day_gives_the_same_papers_as_the_fixture_file(live_env, run_cli):
    live_env.route(f"{API}?date=2026-08-13&limit=100&p=0", Reply.json(HF_FIXTURE))
    live = run_cli("papers", "--source", "hf:2026-08-13", "--json")
    saved = run_cli("papers", "--source", str(FIXTURES / "hf_api.json"), "--json")

    assert live[0] == 0, live[2]
    assert live[1] == saved[1]
    assert len(live[1].splitlines()) == 3


@pytest.mark.skipif(not (SHARED / "fixtures" / "hf_api").is_dir(), reason="needs ../shared")
def test_cli_hf_day_matches_the_recorded_api_response(live_env, run_cli):
    recorded = SHARED / "fixtures" / "hf_api" / "daily_papers_2026-08-13.json"
    live_env.route(f"{API}?date=2026-08-13&limit=100&p=0", Reply.json(recorded.read_bytes()))

    live = run_cli("papers", "--source", "hf:2026-08-13", "--json")
    saved = run_cli("papers", "--source", str(recorded), "--json")

    assert live[0] == 0, live[2]
    assert live[1] == saved[1]
    assert len(live[1].splitlines()) == 20


def test_cli_empty_day_says_no_papers_listed_for_the_date(live_env, run_cli):
    live_env.route(API, Reply.json("[]"))

    code, out, err = run_cli("papers", "--source", "hf:2026-08-15")

    assert err.strip().splitlines() == ["digest: hf:2026-08-15: no papers listed for 2026-08-15"]
    assert out == ""
    assert code == 0, "an empty day is no error for cron or CI, as for digest send"


@pytest.mark.parametrize("args", [(), ("--json",)])
def test_cli_an_empty_day_exits_zero_and_an_unreadable_listing_one(live_env, run_cli, args):
    live_env.route(API, Reply.json("[]"))
    empty = run_cli("papers", "--source", "hf:2026-08-15", *args)
    live_env.route(API, Reply(body=b"<html>maintenance</html>", headers={"Content-Type": "text/html"}))
    broken = run_cli("papers", "--source", "hf:2026-08-14", *args)

    assert empty[0] == 0 and empty[1] == ""
    assert broken[0] == 1 and broken[1] == "" and broken[2].startswith("digest: error: ")


def test_rank_on_an_empty_day_says_so_and_blames_no_keyword(live_env, run_cli):
    live_env.route(API, Reply.json("[]"))

    code, out, err = run_cli("rank", "--source", "hf:2026-08-15", "--keywords", "llm")

    assert "no papers listed for 2026-08-15" in err and code == 0
    assert "matched nothing" not in out + err  # nothing was listed to match


@pytest.mark.parametrize("spec", ["hf:2026-13-01", "hf:yesterday", "arxiv:", "arxiv:cs.LG+", "arxiv:cs LG"])
def test_bad_source_specs_are_config_errors(spec):
    with pytest.raises(ConfigError, match="source"):
        resolve(spec)


@pytest.mark.parametrize("spec, problem", [
    ("arxiv:", "a category is missing"), ("arxiv:cs.LG+", "a category is missing"),
    ("arxiv:cs LG", "'cs LG' is not an arXiv category"),
])
def test_a_bad_arxiv_spec_says_what_is_wrong_with_it(spec, problem):
    with pytest.raises(ConfigError) as refused:  # not "'no category' is not an arXiv category"
        resolve(spec)
    assert str(refused.value) == f"source {spec!r}: {problem}; use e.g. arxiv:cs.LG or arxiv:cs.LG+cs.AI"


def test_a_url_whose_query_holds_commas_is_one_source_beside_the_others(server, fetcher):
    """``--source`` parts are comma-separated; the arXiv API's ``id_list=A,B`` is one URL, not two sources."""
    server.route("/api/query", Reply(body=(FIXTURES / "arxiv_atom.xml").read_bytes()))
    url = f"{server.url}/api/query?id_list=2608.00001,2608.00002&max_results=2"

    listing = fetch(f"{url}, sample,hf:2026-08-13", server, fetcher)

    assert server.requests_to("/api/query")[0].query["id_list"] == "2608.00001,2608.00002"
    assert len(resolve(f"{url}, sample,hf:2026-08-13")) == 3 and listing.papers
    assert len(resolve(f"{server.url}/a.json,sample")) == 2  # no query: every comma separates


# arXiv -----------------------------------------------------------------------------

def test_arxiv_rss_keeps_new_and_cross_announcements(server, fetcher):
    server.route("/rss/cs.LG+cs.AI", Reply(body=RSS_FIXTURE, headers={"Content-Type": "application/rss+xml"}))

    listing = fetch("arxiv:cs.LG+cs.AI", server, fetcher)

    assert listing.papers
    assert server.requests[0].path == "/rss/cs.LG+cs.AI"
    expected = fetch_all(resolve(str(FIXTURES / "arxiv_rss.xml")), context(server, fetcher))
    assert [p.id for p in listing.papers] == [p.id for p in expected.papers]


def test_arxiv_holiday_feed_says_no_papers_listed_for_today(server, fetcher):
    server.route("/rss/cs.LG", Reply(body=EMPTY_RSS))
    ctx = context(server, fetcher, today=date(2025, 12, 31))

    listing = fetch_all(resolve("arxiv:cs.LG"), ctx)

    assert listing.papers == []
    assert ctx.notes[0].startswith("arxiv:cs.LG: no papers listed for 2025-12-31")


def test_arxiv_requests_are_spaced_by_the_delay(server, tmp_path):
    server.route("/rss/cs.LG", Reply(body=RSS_FIXTURE))
    polite = Fetcher(cache_dir=None, min_interval={"127.0.0.1": 0.6})
    try:
        for _ in range(3):
            polite.get(f"{server.url}/rss/cs.LG")
    finally:
        polite.close()

    times = [r.at for r in server.requests]
    assert len(times) == 3
    assert all(later - earlier >= 0.55 for earlier, later in zip(times, times[1:]))


def test_the_arxiv_delay_setting_applies_to_the_arxiv_host():
    from digest.settings import load_settings

    settings = load_settings(None, {"DIGEST_ARXIV_BASE_URL": "http://127.0.0.1:9", "DIGEST_ARXIV_DELAY": "3"})
    client = Fetcher.from_settings(settings)
    try:
        assert client.min_interval["127.0.0.1"] == 3
        assert client.min_interval["export.arxiv.org"] == 3
        assert "huggingface.co" not in client.min_interval
    finally:
        client.close()


# several sources -----------------------------------------------------------------

def test_several_sources_are_merged_and_deduplicated(server, fetcher):
    server.route(API, Reply.json(HF_FIXTURE))
    server.route("/rss/cs.LG", Reply(body=RSS_FIXTURE))
    one = fetch("hf:2026-08-13", server, fetcher)
    other = fetch("arxiv:cs.LG", server, fetcher)

    both = fetch("hf:2026-08-13, arxiv:cs.LG, hf:2026-08-13", server, fetcher)

    assert sorted(p.id for p in both.papers) == sorted({p.id for p in one.papers + other.papers})


def test_one_failing_source_warns_and_the_others_go_on(server, fetcher):
    server.route(API, Reply.json(HF_FIXTURE))
    server.route("/rss/cs.LG", Reply(503))

    listing = fetch("hf:2026-08-13, arxiv:cs.LG", server, fetcher)

    assert len(listing.papers) == 3
    assert any("/rss/cs.LG" in w and "HTTP 503" in w for w in listing.warnings)
    assert listing.failed == ["arxiv:cs.LG"]  # not read: a run records hf alone (its look-back is arXiv's own)


def test_all_sources_failing_names_each_one(server, fetcher):
    server.route(API, Reply(500))
    server.route("/rss/cs.LG", Reply(404))

    with pytest.raises(SourceError) as caught:
        fetch("hf:2026-08-13, arxiv:cs.LG", server, fetcher)

    message = str(caught.value)
    assert "api/daily_papers?date=2026-08-13" in message and "HTTP 500" in message
    assert "/rss/cs.LG" in message and "HTTP 404" in message


# the HTTP client ---------------------------------------------------------------------

def test_429_with_retry_after_is_retried_once_after_the_wait(server, fetcher):
    server.route(API, Reply(429, headers={"Retry-After": "1"}), Reply.json(HF_FIXTURE))

    listing = fetch("hf:2026-08-13", server, fetcher)

    assert len(listing.papers) == 3
    first, second = first_pages(server.requests)
    assert second.at - first.at >= 0.95


def test_500_twice_then_200_is_delivered(server, fetcher):
    server.route(API, Reply(500), Reply(500), Reply.json(HF_FIXTURE))

    listing = fetch("hf:2026-08-13", server, fetcher)

    assert len(listing.papers) == 3
    assert len(first_pages(server.requests)) == 3


def test_persistent_503_gives_up_after_the_retries(server, fetcher):
    server.route(API, Reply(503))

    with pytest.raises(SourceError, match=r"HTTP 503 .*after 4 attempts"):
        fetch("hf:2026-08-13", server, fetcher)
    assert len(server.requests) == 4


def test_a_retry_after_longer_than_we_wait_fails_at_once(server, fetcher):
    server.route(API, Reply(429, headers={"Retry-After": "3600"}))

    with pytest.raises(SourceError, match="asks to wait 3600 s"):
        fetch("hf:2026-08-13", server, fetcher)
    assert len(server.requests) == 1


@pytest.mark.parametrize("digits", [400, 5000], ids=["past-a-float", "past-pythons-int-digits"])
def test_a_retry_after_too_large_for_a_number_fails_at_once_in_one_line(server, fetcher, digits):
    server.route(API, Reply(429, headers={"Retry-After": "9" * digits}))

    with pytest.raises(SourceError, match=r"HTTP 429: the server asks to wait 1000000000 s; try again later$"):
        fetch("hf:2026-08-13", server, fetcher)
    assert len(server.requests) == 1


def test_a_response_slower_than_the_read_timeout_names_the_url(server, fetcher):
    server.route(API, Reply.json(HF_FIXTURE, delay=1.5))

    with pytest.raises(SourceError) as caught:
        fetch("hf:2026-08-13", server, fetcher)

    message = str(caught.value)
    assert message.startswith(f"{server.url}{API}?date=2026-08-13")
    assert "timed out after 0.5 s" in message


def test_a_server_that_is_down_is_a_clear_error(tmp_path):
    from .smtp_server import free_port

    client = Fetcher(cache_dir=None, backoff=0.01)
    try:
        with pytest.raises(SourceError, match="cannot connect after 4 attempts"):
            client.get(f"http://127.0.0.1:{free_port()}/rss/cs.LG")
    finally:
        client.close()


def test_a_second_fetch_revalidates_with_if_none_match_and_uses_the_cache(server, fetcher):
    server.route(API, Reply.json(HF_FIXTURE, etag='"v1"'))

    first = fetch("hf:2026-08-13", server, fetcher)
    second = fetch("hf:2026-08-13", server, fetcher)

    assert [p.id for p in second.papers] == [p.id for p in first.papers]
    asked = first_pages(server.requests)
    assert "if-none-match" not in asked[0].headers
    assert asked[1].headers["if-none-match"] == '"v1"'


def test_last_modified_is_sent_back_as_if_modified_since(server, fetcher):
    stamp = "Thu, 13 Aug 2026 08:00:00 GMT"
    server.route(API, Reply.json(HF_FIXTURE, headers={"Last-Modified": stamp}))

    fetch("hf:2026-08-13", server, fetcher)
    fetch("hf:2026-08-13", server, fetcher)

    assert first_pages(server.requests)[1].headers["if-modified-since"] == stamp


def test_a_cached_copy_is_fresh_for_as_long_as_the_fetchers_clock_says(server, tmp_path):
    server.route("/listing.json", Reply.json(HF_FIXTURE))
    now = [datetime(2026, 8, 13, 8, tzinfo=ZoneInfo("UTC")).timestamp()]
    client = Fetcher(cache_dir=tmp_path / "http-cache", clock=lambda: now[0])
    url = f"{server.url}/listing.json"
    asked = []
    try:
        for step in (0, 3599, 2, -7200):  # fetched; fresh for an hour; stale; a copy stamped ahead is no fresher
            now[0] += step
            client.get(url, fresh_for=3600)
            asked.append(len(server.requests))
    finally:
        client.close()

    assert asked == [1, 1, 2, 3]


def test_the_apps_clock_dates_the_cache(server, tmp_path):
    """Yesterday's Daily Papers are not asked for again for six hours: six hours of the app's clock."""
    from digest.app import Digest
    from digest.settings import load_settings

    server.route(API, hf_page(range(3)))
    now = [datetime(2026, 8, 13, 8, tzinfo=ZoneInfo("UTC")).timestamp()]
    settings = load_settings(None, {"DIGEST_HF_BASE_URL": server.url, "DIGEST_LOOKBACK_DAYS": "2",
                                    "DIGEST_CACHE_DIR": str(tmp_path / "http-cache")})
    asked = []
    with Digest(settings, clock=lambda: now[0]) as app:
        for hours in (0, 1, 6):
            now[0] += hours * 3600
            app.load_listing("hf")
            asked.append(len(first_pages([r for r in server.requests if r.query.get("date") == "2026-08-12"])))

    assert asked == [1, 1, 2]


def test_offline_uses_only_the_cache_and_says_how_old_it_is(server, fetcher, tmp_path):
    server.route(API, Reply.json(HF_FIXTURE))
    online = fetch("hf:2026-08-13", server, fetcher)
    asked = len(server.requests)
    offline = Fetcher(cache_dir=tmp_path / "http-cache", offline=True)
    ctx = context(server, offline)

    listing = fetch_all(resolve("hf:2026-08-13"), ctx)

    assert [p.id for p in listing.papers] == [p.id for p in online.papers]
    assert len(server.requests) == asked
    assert ctx.notes == ["hf:2026-08-13: offline, using the cache (oldest copy less than a minute old)"]


def test_offline_without_a_cached_copy_is_a_clear_error(server, tmp_path):
    offline = Fetcher(cache_dir=tmp_path / "empty-cache", offline=True)

    with pytest.raises(SourceError, match="nothing in the cache; run once without --offline"):
        fetch("hf:2026-08-13", server, offline)
    assert server.requests == []


def test_cli_offline_reads_what_an_online_run_cached(live_env, run_cli):
    live_env.route(API, Reply.json(HF_FIXTURE))
    online = run_cli("papers", "--source", "hf:2026-08-13", "--json")
    live_env.routes.clear()

    offline = run_cli("papers", "--source", "hf:2026-08-13", "--json", "--offline")

    assert offline[0] == 0, offline[2]
    assert offline[1] == online[1]
    assert "offline, using the cache" in offline[2]


def test_requests_name_the_project_in_the_user_agent(server, fetcher):
    server.route(API, Reply.json(HF_FIXTURE))

    fetch("hf:2026-08-13", server, fetcher)

    assert server.requests[0].headers["user-agent"] == USER_AGENT
    assert USER_AGENT.startswith("digest/0.1.0")


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        (Reply.json('[{"paper": {"id": "2608.1", '), "truncated JSON"),
        (Reply.json("{not json at all}"), "malformed JSON"),
        (Reply(body=b"<!DOCTYPE html><html><body>Service Unavailable</body></html>",
               headers={"Content-Type": "text/html"}), "HTML page"),
        (Reply.json('{"error": "oops"}'), "not a paper listing"),
    ],
    ids=["truncated-json", "malformed-json", "html-page", "json-object"],
)
def test_malformed_responses_are_errors_naming_the_url(server, fetcher, reply, problem):
    server.route(API, reply)

    with pytest.raises(ListingError) as caught:
        fetch("hf:2026-08-13", server, fetcher)

    assert str(caught.value).startswith(f"{server.url}{API}?date=2026-08-13")
    assert problem in str(caught.value)


# Charsets -----------------------------------------------------------------------------

LATIN_RSS = ("<rss version='2.0'><channel><item><title>Schrödinger bridges</title>"
             "<guid>oai:arXiv.org:2608.00001v1</guid><description>Abstract: Über alles.</description>"
             "</item></channel></rss>")


def listing_served(server, fetcher, body: bytes, content_type: str):
    server.route("/feed", Reply(body=body, headers={"Content-Type": content_type}))
    return fetch(f"{server.url}/feed", server, fetcher)


def test_xml_without_a_declaration_is_read_in_the_content_type_charset(server, fetcher):
    listing = listing_served(server, fetcher, LATIN_RSS.encode("latin-1"), "text/xml; charset=ISO-8859-1")

    assert [p.title for p in listing.papers] == ["Schrödinger bridges"]
    assert listing.papers[0].abstract == "Über alles."


@pytest.mark.parametrize(("body", "says"), [
    (b'<?xml version="1.0" encoding="UTF-8"?>' + LATIN_RSS.encode(), "a declaration"),
    (b"\xef\xbb\xbf" + LATIN_RSS.encode(), "a byte order mark"),
], ids=["declaration", "bom"])
def test_the_documents_own_encoding_wins_over_the_content_type_charset(server, fetcher, body, says):
    listing = listing_served(server, fetcher, body, "text/xml; charset=ISO-8859-1")

    assert [p.title for p in listing.papers] == ["Schrödinger bridges"], says


@pytest.mark.parametrize(("body", "content_type"), [
    (json.dumps([hf_item(1) | {"title": "Schrödinger bridges"}], ensure_ascii=False).encode("cp1252"),
     "application/json; charset=windows-1252"),
    (json.dumps([hf_item(1) | {"title": "Schrödinger bridges"}], ensure_ascii=False).encode(),
     "application/json; charset=ISO-8859-1"),
], ids=["windows-1252", "utf-8-labelled-latin-1"])
def test_json_is_read_as_utf8_when_it_is_and_else_in_the_content_type_charset(server, fetcher, body, content_type):
    listing = listing_served(server, fetcher, body, content_type)

    assert [p.title for p in listing.papers] == ["Schrödinger bridges"]


def test_an_unknown_content_type_charset_is_one_line_naming_it(server, fetcher):
    with pytest.raises(ListingError) as caught:
        listing_served(server, fetcher, LATIN_RSS.encode("latin-1"), "text/xml; charset=x-klingon")

    assert str(caught.value) == (f"{server.url}/feed: the server names the charset 'x-klingon' in its Content-Type, "
                                 "which digest does not know; ask the site to serve the listing as UTF-8")


def test_the_cache_keeps_no_key_of_a_url_in_plain_text_and_still_finds_its_copies(server, tmp_path):
    """A private feed's ``?key=`` and ``&access_token=`` are not written beside the cache (its files say
    ``***``), yet the copy is found again: revalidated online, read offline; another key is another copy."""
    server.route("/feed.jsonl", Reply.json('{"id": "2601.00001", "title": "T", "abstract": "A."}\n', etag='"v1"'))
    url = f"{server.url}/feed.jsonl?format=jsonl&key=s3cr3t-k3y&access_token=t0k3n-v4lue"
    cache = tmp_path / "http-cache"
    online = Fetcher(cache_dir=cache)
    try:
        first = online.get(url)
        second = online.get(url)
    finally:
        online.close()
    offline = Fetcher(cache_dir=cache, offline=True)
    try:
        kept = offline.get(url)
        with pytest.raises(SourceError, match="not in the cache"):
            offline.get(url.replace("s3cr3t-k3y", "another-key"))
    finally:
        offline.close()

    assert second.content == kept.content == first.content and kept.from_cache
    assert server.requests[1].headers["if-none-match"] == '"v1"'  # the copy was found and revalidated
    written = b"".join(path.read_bytes() for path in cache.iterdir())
    assert b"s3cr3t" not in written and b"t0k3n" not in written
    assert b"key=***&access_token=***" in written


def test_a_copy_cached_with_its_key_in_plain_text_is_still_found_and_then_kept_without_it(server, tmp_path):
    """A cache written by a release before: its copy serves offline, and its file no longer holds the key."""
    import hashlib

    server.route("/feed.jsonl", Reply.json('{"id": "2601.00001", "title": "T", "abstract": "A."}\n'))
    url = f"{server.url}/feed.jsonl?key=s3cr3t-k3y"
    cache = tmp_path / "http-cache"
    online = Fetcher(cache_dir=cache)
    try:
        online.get(url)
    finally:
        online.close()
    meta = cache / f"{hashlib.sha256(url.encode()).hexdigest()[:40]}.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "url": url}))  # as that release wrote it
    offline = Fetcher(cache_dir=cache, offline=True)
    try:
        kept = offline.get(url)
    finally:
        offline.close()

    assert kept.content.startswith(b'{"id": "2601.00001"')
    assert "s3cr3t" not in meta.read_text()


def test_a_cached_copy_is_read_in_the_charset_it_was_served_in(server, fetcher, tmp_path):
    listing_served(server, fetcher, LATIN_RSS.encode("latin-1"), "text/xml; charset=ISO-8859-1")
    offline = Fetcher(cache_dir=tmp_path / "http-cache", offline=True)
    try:
        listing = fetch(f"{server.url}/feed", server, offline)
    finally:
        offline.close()

    assert [p.title for p in listing.papers] == ["Schrödinger bridges"]


def test_a_redirect_to_another_host_is_refused(server, fetcher):
    server.route(API, Reply(302, headers={"Location": "http://example.invalid/api/daily_papers"}))

    with pytest.raises(SourceError, match=r"redirected to another host \(example.invalid\)"):
        fetch("hf:2026-08-13", server, fetcher)
    assert len(server.requests) == 1


@pytest.mark.parametrize(("location", "says"), [
    ("file:///etc/passwd", "redirected to a URL that is not http(s) (file:)"),
    ("/loop.json", "more than 5 redirects; check the URL"),
])
def test_a_redirect_to_a_file_or_in_a_loop_is_refused_with_the_fix(server, fetcher, location, says):
    server.route("/loop.json", Reply(302, headers={"Location": location}))

    with pytest.raises(SourceError, match=re.escape(says)):
        fetch(f"{server.url}/loop.json", server, fetcher)


@pytest.mark.parametrize("location", ["http://[::1/listing.json", "http://127.0.0.1:99x/listing.json"])
def test_a_redirect_to_a_malformed_url_is_refused_at_once(server, fetcher, location):
    """Not retried as a broken connection, which will not mend: the server sends the same Location each time."""
    server.route("/moved.json", Reply(302, headers={"Location": location}))

    with pytest.raises(SourceError) as caught:
        fetch(f"{server.url}/moved.json", server, fetcher)

    assert str(caught.value) == (f"{server.url}/moved.json: redirected to a malformed URL ({location!r}); refusing "
                                 "to follow it. Check the URL or the base URL setting")
    assert len(server.requests) == 1


def test_a_redirect_from_https_to_plain_http_is_refused():
    from digest.sources.http import redirect_problem

    assert redirect_problem("https://h.org/a", "http://h.org/b", "h.org") == "redirected from https to plain http"
    assert redirect_problem("http://h.org/a", "https://h.org/b", "h.org") is None  # an upgrade is fine


def test_a_redirect_on_the_same_host_is_followed(server, fetcher):
    server.route("/old.json", Reply(301, headers={"Location": "/new.json"}))
    server.route("/new.json", Reply.json(HF_FIXTURE))

    listing = fetch(f"{server.url}/old.json", server, fetcher)

    assert len(listing.papers) == 3


def test_a_redirect_target_that_refuses_connections_is_blamed_on_the_configured_source(server, fetcher):
    """The URL to fix is the one in the settings; the target it was sent to is named after it."""
    from .smtp_server import free_port

    target = f"http://127.0.0.1:{free_port()}/listing.json"
    server.route("/moved.json", Reply(302, headers={"Location": target}))

    with pytest.raises(SourceError) as caught:
        fetch(f"{server.url}/moved.json", server, fetcher)

    assert str(caught.value).startswith(f"{server.url}/moved.json: redirected to {target}: cannot connect after")


def test_a_redirect_target_that_times_out_is_blamed_on_the_configured_source(server, fetcher):
    server.route("/moved.json", Reply(302, headers={"Location": "/slow.json"}))
    server.route("/slow.json", Reply.json(HF_FIXTURE, delay=1.5))

    with pytest.raises(SourceError) as caught:
        fetch(f"{server.url}/moved.json", server, fetcher)

    assert str(caught.value).startswith(f"{server.url}/moved.json: redirected to {server.url}/slow.json: "
                                        "timed out after 0.5 s")


def test_http_errors_name_the_status_and_the_url(server, fetcher):
    server.route("/missing.json", Reply(404, b"nope"))

    with pytest.raises(SourceError, match=r"/missing.json: HTTP 404 Not Found; check the source name or URL"):
        fetch(f"{server.url}/missing.json", server, fetcher)


def test_cli_timeout_is_one_line_without_traceback(live_env, monkeypatch, run_cli):
    monkeypatch.setenv("DIGEST_HTTP_TIMEOUT", "0.3")
    live_env.route(API, Reply.json(HF_FIXTURE, delay=1))

    code, out, err = run_cli("papers", "--source", "hf:2026-08-13")

    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"digest: error: {live_env.url}{API}?date=2026-08-13")
    assert "timed out" in lines[0] and "DIGEST_HTTP_TIMEOUT" in lines[0]


def test_empty_day_is_not_an_error_for_send(live_env, monkeypatch, run_cli):
    monkeypatch.setenv("DIGEST_FROM", "digest@example.org")
    monkeypatch.setenv("DIGEST_TO", "ada@example.org")
    monkeypatch.setenv("DIGEST_KEYWORDS", "exploration")
    live_env.route(API, Reply.json("[]"))

    code, out, err = run_cli("send", "--source", "hf:2026-08-15", "--dry-run")

    assert code == 0, err
    assert out.strip() == "sent 0, nothing new 0, failed 0 (hf:2026-08-15: no papers listed for 2026-08-15)"


def test_a_day_whose_items_are_all_broken_is_an_error_not_an_empty_day(live_env, monkeypatch, run_cli):
    """An API that changed its format must not read as a holiday: exit 1, one line, the daemon retries."""
    monkeypatch.setenv("DIGEST_FROM", "digest@example.org")
    monkeypatch.setenv("DIGEST_TO", "ada@example.org")
    monkeypatch.setenv("DIGEST_KEYWORDS", "exploration")
    live_env.route(API, Reply.json('[{"paper": {"id": "2608.00001", "headline": "Tiny Curiosity"}}]'))

    code, out, err = run_cli("send", "--source", "hf:2026-08-15", "--dry-run")

    assert code == 1 and out == ""
    assert err.strip().splitlines() == [
        f"digest: error: {live_env.url}{API}?date=2026-08-15&limit=100&p=0: no paper could be read from its item "
        "(item 1 skipped: missing title); check that the source is a paper listing"]


BROKEN_DAY = '[{"paper": {"id": "2608.00009", "headline": "no title here"}}]'


def test_a_lookback_day_whose_items_are_all_broken_is_skipped_with_a_warning(server, fetcher):
    """One unreadable day of the look-back does not stop the days that read; it is said, not taken as empty."""
    server.route(f"{API}?date=2026-08-17&limit=100&p=0", Reply.json(json.dumps([hf_item(1, "2026-08-17")])))
    server.route(f"{API}?date=2026-08-17&limit=100&p=1", Reply.json("[]"))
    server.route(f"{API}?date=2026-08-16&limit=100&p=0", Reply.json(BROKEN_DAY))

    listing = fetch("hf", server, fetcher, today=date(2026, 8, 17), lookback=2)

    assert [p.id for p in listing.papers] == ["2608.00001"]
    assert [w for w in listing.warnings if "2026-08-16" in w and "no paper could be read" in w]


def test_a_lookback_whose_every_day_is_broken_is_an_error(server, fetcher):
    for day in ("2026-08-17", "2026-08-16"):
        server.route(f"{API}?date={day}&limit=100&p=0", Reply.json(BROKEN_DAY))

    with pytest.raises(ListingError, match="no paper could be read from its item") as refused:
        fetch("hf", server, fetcher, today=date(2026, 8, 17), lookback=2)
    assert not isinstance(refused.value, EmptyListingError)


def test_a_rerun_asks_again_only_for_today_not_for_the_earlier_days(server, fetcher):
    for day in ("2026-08-17", "2026-08-16", "2026-08-15"):
        server.route(f"{API}?date={day}&limit=100&p=0", Reply.json(json.dumps([hf_item(int(day[-2:]), day)]), etag='"v"'))
        server.route(f"{API}?date={day}&limit=100&p=1", Reply.json("[]", etag='"e"'))

    first = fetch("hf", server, fetcher, today=date(2026, 8, 17), lookback=3)
    asked = len(server.requests)
    second = fetch("hf", server, fetcher, today=date(2026, 8, 17), lookback=3)

    assert asked == 6  # each day's page, and the empty page after it
    assert [(r.query["date"], r.query["p"]) for r in server.requests[asked:]] == [("2026-08-17", "0"), ("2026-08-17", "1")]
    assert server.requests[asked].headers["if-none-match"] == '"v"'
    assert sorted(p.id for p in second.papers) == sorted(p.id for p in first.papers)


@pytest.mark.parametrize(("announce", "kinds"), [(None, 3), ("new", 2), ("new, cross, replace", 4)])
def test_digest_arxiv_announce_chooses_the_announcement_types(live_env, monkeypatch, run_cli, announce, kinds):
    if announce:
        monkeypatch.setenv("DIGEST_ARXIV_ANNOUNCE", announce)
    live_env.route("/rss/cs.LG", Reply(body=RSS_FIXTURE))

    code, out, err = run_cli("papers", "--source", "arxiv:cs.LG", "--json")

    assert code == 0, err
    assert len(out.splitlines()) == kinds


def test_an_unknown_announcement_type_is_a_settings_error(monkeypatch, run_cli):
    monkeypatch.setenv("DIGEST_ARXIV_ANNOUNCE", "new, fresh")

    code, out, err = run_cli("papers", "--source", "sample")

    assert code == 1 and "DIGEST_ARXIV_ANNOUNCE='new, fresh': use a comma-separated list of new, cross" in err


def test_hf_items_with_fields_of_the_wrong_type_are_kept_without_them(server, fetcher):
    broken = hf_item(1)
    broken["paper"].update(githubRepo=5, upvotes=1e300, authors=[{"name": {"first": "Ada"}}])
    broken["organization"] = {"fullname": ["Tiny", "Lab"]}
    server.route(API, Reply.json(json.dumps([broken, hf_item(2)]).replace("1e+300", "1e999")))

    listing = fetch("hf:2026-08-13", server, fetcher)

    first = listing.papers[0]
    assert [p.id for p in listing.papers] == ["2608.00001", "2608.00002"]
    assert (first.github, first.upvotes, first.authors, first.organization) == (None, None, (), None)
    assert listing.warnings == [
        "hf:2026-08-13: 2026-08-13: item 1: ignored authors (entries that are not names), "
        "upvotes (a JSON number out of range, not a count), githubRepo (a JSON number, not text), "
        "organization (a JSON array, not text)"
    ]



@pytest.mark.parametrize(("spec", "says"), [
    ("http://[::1/x", "is not a URL (Invalid IPv6 URL)"),
    ("http://", "is not an http(s) URL with a host"),
    ("http://127.0.0.1:99999/x", "is not a URL (Port out of range"),
])
def test_a_malformed_url_source_is_one_line_before_any_request(run_cli, spec, says) -> None:
    code, out, err = run_cli("papers", "--source", spec)

    assert code == 1 and out == "" and "Traceback" not in err
    assert err.strip().splitlines() == [err.strip()] and says in err and "http(s)://HOST[:PORT]/PATH" in err


@pytest.mark.parametrize("key", ["DIGEST_HF_BASE_URL", "DIGEST_ARXIV_BASE_URL", "DIGEST_BIORXIV_BASE_URL"])
def test_a_base_url_is_checked_with_the_settings_and_empty_means_the_default(key) -> None:
    from digest.settings import Settings, load_settings

    with pytest.raises(ConfigError, match=f"{key}='http://\\[::1': .*is not a URL"):
        load_settings(None, {key: "http://[::1"})
    with pytest.raises(ConfigError, match=f"{key}='ftp://x': .*not an http\\(s\\) URL"):
        load_settings(None, {key: "ftp://x"})
    field = key.removeprefix("DIGEST_").lower()
    assert getattr(load_settings(None, {key: ""}), field) == getattr(Settings, field)


def test_a_password_in_a_url_source_never_shows_in_its_error(run_cli, monkeypatch) -> None:
    from .smtp_server import free_port

    monkeypatch.setattr(Fetcher, "_backoff", lambda self, attempt: 0.01)  # the retries, without their waits
    code, _, err = run_cli("papers", "--source", f"http://reader:s3cret-pw@127.0.0.1:{free_port()}/x.json")

    assert code == 1 and "s3cret-pw" not in err and "http://reader:***@127.0.0.1" in err


def test_a_password_in_a_url_source_never_shows_in_the_retry_log(run_cli, monkeypatch, caplog) -> None:
    from .smtp_server import free_port

    monkeypatch.setattr(Fetcher, "_backoff", lambda self, attempt: 0.01)
    with caplog.at_level("DEBUG", logger="digest"):  # -v shows the retries, --debug the cache's lines too
        run_cli("-v", "papers", "--source", f"http://reader:s3cret-pw@127.0.0.1:{free_port()}/x.json")

    assert "retrying in" in caplog.text and "http://reader:***@127.0.0.1" in caplog.text
    assert "s3cret-pw" not in caplog.text


def test_a_key_in_a_url_sources_query_never_shows_in_its_error(run_cli, monkeypatch) -> None:
    """A private feed's URL carries its key in the query (Zotero's ``?key=``, a journal's ``?token=``); the
    error line, the run history and the logs showed it, while the URL's other parameters help find the fault."""
    from .smtp_server import free_port

    monkeypatch.setattr(Fetcher, "_backoff", lambda self, attempt: 0.01)
    url = f"http://127.0.0.1:{free_port()}/items?format=atom&key=s3cret-key&access_token=s3cret-token"
    code, _, err = run_cli("papers", "--source", url)

    assert code == 1 and "s3cret" not in err and "/items?format=atom&key=***&access_token=***" in err


def test_a_lookback_day_that_could_not_be_read_names_the_source_as_failed(server, fetcher):
    """Its papers from the days that read come, but the source was not read whole: ``Listing.failed`` names
    it, so the run does not count for its look-back and the next run reads the skipped day again."""
    server.route(f"{API}?date=2026-08-17&limit=100&p=0", Reply.json(json.dumps([hf_item(1, "2026-08-17")])))
    server.route(f"{API}?date=2026-08-17&limit=100&p=1", Reply.json("[]"))
    server.route(f"{API}?date=2026-08-16&limit=100&p=0", Reply.json(BROKEN_DAY))
    server.route("/rss/cs.LG", Reply(body=RSS_FIXTURE))

    alone = fetch("hf", server, fetcher, today=date(2026, 8, 17), lookback=2)
    both = fetch("hf, arxiv:cs.LG", server, fetcher, today=date(2026, 8, 17), lookback=2)

    assert [p.id for p in alone.papers] == ["2608.00001"] and alone.failed == ["hf"]
    assert "2608.00001" in {p.id for p in both.papers} and both.failed == ["hf"]


@pytest.mark.parametrize("cached", [[1], []])
def test_an_offline_lookback_missing_a_day_in_the_cache_names_the_source_as_failed(server, tmp_path, cached):
    """Offline, a day of the look-back with no cached copy is skipped (a note says so): the source was not read
    whole, whether the days it had listed papers or none, so the run does not move its look-back."""
    server.route(f"{API}?date=2026-08-16&limit=100&p=0", Reply.json(json.dumps([hf_item(n, "2026-08-16")
                                                                               for n in cached])))
    server.route(f"{API}?date=2026-08-16&limit=100&p=1", Reply.json("[]"))
    online = Fetcher(cache_dir=tmp_path / "http-cache", timeout=0.5, backoff=0.05)
    offline = Fetcher(cache_dir=tmp_path / "http-cache", offline=True)
    try:
        fetch("hf:2026-08-16", server, online)
        ctx = context(server, offline, today=date(2026, 8, 17), lookback=2)
        listing = fetch_all(resolve("hf"), ctx)
    finally:
        online.close()
        offline.close()

    assert [p.id for p in listing.papers] == [f"2608.{n:05d}" for n in cached]
    assert "hf: no cached copy for 2026-08-17; skipped (offline)" in ctx.notes
    assert listing.failed == ["hf"]
