"""The reader's private Atom feed: their kept digests, one entry each, read back by a real feed parser.

uvicorn serves the real app over a real SQLite file (tests/web_server.py);
feedparser reads what it answers as a feed reader would.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import feedparser
import httpx
import pytest

from digest.model import make_paper
from digest.store import KeptDigest, KeptPick

from .web_server import Web, running

MONDAY, TUESDAY = date(2026, 11, 23), date(2026, 11, 24)


@pytest.fixture
def web(tmp_path: Path):
    with running(tmp_path) as site:
        yield site


def keep(web: Web, email: str, sent_on: date, message_id: str, *titles: str) -> None:
    picks = tuple(KeptPick(make_paper(title, "An abstract.", id=f"2411.{n:05d}", url=f"https://arxiv.org/abs/2411.{n:05d}"),
                           1.0 - n / 10, n + 1) for n, title in enumerate(titles))
    with web.store() as store:
        store.archive_digests([KeptDigest(email=email, message_id=message_id, sent_on=sent_on, source="arXiv",
                                          day=sent_on, templates="1", picks=picks, total=len(picks))])


def feed_url(web: Web, email: str) -> str:
    """The link the reader's emails carry in their footer."""
    return web.links(email).feed


def test_a_readers_two_digests_are_two_entries_newest_first(web: Web) -> None:
    keep(web, "ada@example.org", MONDAY, "<m1@example.com>", "Reward models & RLHF", "Exploration bonuses")
    keep(web, "ada@example.org", TUESDAY, "<m2@example.com>", "Scaling reward models")
    keep(web, "bob@example.org", TUESDAY, "<m3@example.com>", "Bob's diffusion paper")
    answer = httpx.get(feed_url(web, "ada@example.org"))
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/atom+xml")
    parsed = feedparser.parse(answer.content)
    assert parsed.bozo == 0 and parsed.version == "atom10"
    assert [e.title for e in parsed.entries] == ["Digest for 2026-11-24", "Digest for 2026-11-23"]
    assert [e.id for e in parsed.entries] == ["mid:m2@example.com", "mid:m1@example.com"]
    assert parsed.entries[0].updated_parsed[:3] == (2026, 11, 24)
    monday = parsed.entries[1].content[0].value
    assert "Reward models &amp; RLHF" in monday and 'href="https://arxiv.org/abs/2411.00000"' in monday
    assert "Bob" not in answer.text  # another reader's digest never shows


def test_an_entry_links_to_its_view_in_browser_page(web: Web) -> None:
    keep(web, "ada@example.org", MONDAY, "<m1@example.com>", "Reward models")
    entry = feedparser.parse(httpx.get(feed_url(web, "ada@example.org")).content).entries[0]
    page = httpx.get(entry.link)
    assert entry.link.startswith(f"{web.url}/d/") and page.status_code == 200 and "Reward models" in page.text


def test_hostile_titles_stay_data(web: Web) -> None:
    hostile = "<script>alert(1)</script> ]]> \x00\x07\x1b end"
    keep(web, "ada@example.org", MONDAY, "<m1@example.com>", hostile)
    answer = httpx.get(feed_url(web, "ada@example.org"))
    parsed = feedparser.parse(answer.content)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert b"<script>" not in answer.content and b"\x00" not in answer.content
    content = parsed.entries[0].content[0].value  # feedparser unescapes the XML once: HTML stays escaped
    assert "&lt;script&gt;alert(1)&lt;/script&gt; ]]&gt; end" in content


def test_a_reader_without_digests_gets_a_valid_empty_feed(web: Web) -> None:
    parsed = feedparser.parse(httpx.get(feed_url(web, "bob@example.org")).content)
    assert parsed.bozo == 0 and parsed.entries == [] and parsed.feed.title == "Paper digest"


@pytest.mark.parametrize("damage", ["forged", "other purpose", "garbage"])
def test_a_bad_token_gets_404_and_nothing_else(web: Web, damage: str) -> None:
    keep(web, "ada@example.org", MONDAY, "<m1@example.com>", "Reward models")
    token = feed_url(web, "ada@example.org").rsplit("/", 1)[1]
    bad = {"forged": token[:-2] + ("AA" if token[-2:] != "AA" else "BB"),
           "other purpose": web.links("ada@example.org").unsubscribe.rsplit("/", 1)[1],
           "garbage": "%00%ff<script>"}[damage]
    answer = httpx.get(f"{web.url}/feed/{bad}")
    assert answer.status_code == 404
    assert "Reward models" not in answer.text and "ada" not in answer.text and "<script>" not in answer.text


def test_the_preferences_page_links_the_feed_and_the_votes(web: Web) -> None:
    page = httpx.get(web.links("ada@example.org").preferences).text
    token = web.links("ada@example.org").preferences.rsplit("/", 1)[1]
    assert f'href="/feed/{token}"' in page and f'href="/votes/{token}"' in page
