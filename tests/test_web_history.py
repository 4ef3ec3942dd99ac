"""The reader's past digests: the email's "and N more" links to the whole ranked list, the footer to the archive.

Real parts: the digest sent into aiosmtpd, the pages served by uvicorn over the
same SQLite file, opened in headless Chromium (Debian's /usr/bin/chromium); the
store filled through its own API where a page's content is the point.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from digest.model import Paper
from digest.store import KeptDigest, KeptPick
from digest.tokens import links_for

from .test_web_browser import CHROMIUM, browser, page  # noqa: F401 (fixtures)
from .test_wiring import ADA, LINKED, parts, send, site, urls
from .web_server import Web, running

DAY = date(2026, 11, 23)
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium not installed (.ci/run installs it)")


def keep(web: Web, email: str, sent_on: date, titles: list[str], picks: int, total: int | None = None) -> None:
    """A digest as a send keeps it: ``picks`` papers in the email, the rest of ``titles`` beyond them."""
    ranked = tuple(KeptPick(Paper(id=f"2611.{10000 + n}", title=title, abstract=f"{title}: about reward models.",
                                  url=f"https://arxiv.org/abs/2611.{10000 + n}"), 5.0 - n / 10, n,
                            (("reward model", False),)) for n, title in enumerate(titles, 1))
    digest = KeptDigest(email=email, message_id=f"<{sent_on}@x>", sent_on=sent_on, source="arXiv cs.LG", day=sent_on,
                        templates="t", picks=ranked[:picks], more=ranked[picks:],
                        total=len(titles) if total is None else total, keywords=("reward model",),
                        terms=("reward model",))
    with web.store() as store:
        store.archive_digests([digest], keep_days=400)


@pytest.fixture
def web(tmp_path: Path):
    with running(tmp_path) as served:
        yield served


# the email's links -----------------------------------------------------------------------------------

def test_the_and_n_more_line_links_to_the_whole_list_in_both_parts() -> None:
    from .test_render import READER, app, fixture_papers, picks_for

    picks = picks_for(fixture_papers())
    rendered = app(**LINKED).render(READER, picks, day=DAY, total=len(picks) + 5, sent_on=DAY)
    whole = links_for(app(**LINKED).settings, READER.email, day=DAY).whole_list

    assert whole.endswith("/all") and whole.startswith("https://digest.example.org/d/")
    assert f"All {len(picks) + 5} in your browser: {whole}" in rendered.text
    assert f'href="{whole}"' in rendered.html and f"See all {len(picks) + 5} in your browser" in rendered.html


def test_without_a_public_url_the_line_says_how_many_and_links_nowhere() -> None:
    from .test_render import READER, app, fixture_papers, picks_for

    picks = picks_for(fixture_papers())
    rendered = app().render(READER, picks, day=DAY, total=len(picks) + 5)
    assert "5 more matches, not shown" in rendered.text and "/all" not in rendered.text + rendered.html
    assert "/archive/" not in rendered.text + rendered.html and "/feed/" not in rendered.text + rendered.html


def test_a_digest_that_shows_every_match_has_no_whole_list_link_but_its_footer_links_the_archive_and_feed() -> None:
    from .test_render import READER, app, fixture_papers, picks_for

    digest = app(**LINKED)
    rendered = digest.render(READER, picks_for(fixture_papers()), day=DAY, sent_on=DAY)
    links = links_for(digest.settings, READER.email, day=DAY)
    archive, feed = links.archive, links.feed
    assert "/all" not in rendered.text + rendered.html
    assert f"Your past digests: {archive}" in rendered.text and f'href="{archive}"' in rendered.html
    assert f"as a feed (Atom), for a feed reader: {feed}" in rendered.text
    assert f'href="{feed}" type="application/atom+xml"' in rendered.html


# from the email to the pages, in Chromium ---------------------------------------------------------------

@needs_chromium
def test_the_whole_list_shows_every_paper_that_qualified_in_rank_order(page, tmp_path: Path, server,  # noqa: F811
                                                                       inbox) -> None:
    with site(tmp_path, server, max_items=1) as web:
        send(web)
        text, html = parts(inbox.to(ADA)[0])
        whole = next(u for u in urls(text) if u.endswith("/all"))
        assert "And 2 more matches, not shown" in html and f'href="{whole}"' in html
        page.goto(whole)
        titles = page.locator("li.paper h3").all_text_contents()
        why = page.locator("li.paper .why").all_text_contents()
        headings = page.locator("h2").all_text_contents()
        in_email = re.search(r"1\. (.+)", text).group(1).strip()
        page.get_by_role("link", name="The digest as it was sent").click()
        assert page.url == next(u for u in urls(text) if "/d/" in u and not u.endswith("/all"))
    assert titles[0] == in_email and len(titles) == 3
    assert titles[1].startswith("Reward Models That Know") and titles[2].startswith("Scaling Laws")
    assert headings == ["In your digest", "Also matched"]
    assert why[1:] == ["Matched: reward model…"] * 2


@needs_chromium
def test_the_footers_archive_lists_the_digest_and_opens_it(page, tmp_path: Path, server, inbox) -> None:  # noqa: F811
    with site(tmp_path, server, max_items=1) as web:
        send(web)
        text, _ = parts(inbox.to(ADA)[0])
        archive = next(u for u in urls(text) if "/archive/" in u)
        view = next(u for u in urls(text) if "/d/" in u and not u.endswith("/all"))
        page.goto(archive)
        assert page.text_content("h1") == "Your past digests"
        entry = page.locator("ul.digests li").all_text_contents()
        page.get_by_role("link", name="see all 3").click()
        assert page.url == f"{view}/all" and page.text_content("h1") == "All 3 papers that matched"
        page.goto(archive)
        page.locator("ul.digests li a").first.click()
        assert page.url == view
    assert len(entry) == 1 and "1 paper of 3 that matched" in entry[0]


# the pages' content, straight from the store ---------------------------------------------------------------

def test_the_whole_list_escapes_what_the_listing_said(web: Web) -> None:
    keep(web, "ada@example.org", DAY, [HOSTILE, "Second <b>paper</b>"], picks=1)
    answer = httpx.get(links_for(web.settings, "ada@example.org", day=DAY).whole_list)
    assert answer.status_code == 200
    assert "<script>" not in answer.text and "<img src=x" not in answer.text and "<b>paper" not in answer.text
    assert "&lt;script&gt;" in answer.text and "Second &lt;b&gt;paper&lt;/b&gt;" in answer.text


def test_a_digest_kept_before_whole_lists_says_how_many_it_cannot_show(web: Web) -> None:
    keep(web, "ada@example.org", DAY, ["Only the pick"], picks=1, total=4)
    answer = httpx.get(links_for(web.settings, "ada@example.org", day=DAY).whole_list)
    assert answer.status_code == 200 and "All 4 papers that matched" in answer.text
    assert "3 more matched but are not kept" in answer.text


def test_the_archive_is_bounded_and_pages_back_to_the_oldest(web: Web) -> None:
    for n in range(33):
        keep(web, "ada@example.org", DAY - timedelta(days=n), ["A paper", "Another"], picks=1)
    keep(web, "bob@example.org", DAY + timedelta(days=1), ["Bob's paper"], picks=1)
    archive = links_for(web.settings, "ada@example.org").archive
    first = httpx.get(archive)
    older = re.search(r'href="(\?before=[0-9-]+)"', first.text)
    second = httpx.get(archive + older.group(1)) if older else None

    assert first.status_code == 200 and first.text.count("<li>") == 30
    assert "Monday 23 November 2026" in first.text and "Tuesday 24 November" not in first.text  # bob's is not ada's
    assert second is not None and second.text.count("<li>") == 3 and "Older digests" not in second.text
    assert "Saturday 24 October 2026" in second.text  # the oldest, 32 days before


def test_an_archive_with_nothing_kept_says_so(web: Web) -> None:
    answer = httpx.get(links_for(web.settings, "bob@example.org").archive)
    assert answer.status_code == 200 and "No digest is kept for you yet" in answer.text


@pytest.mark.parametrize("path", ["/archive/{bad}", "/d/{bad}/all", "/archive/{prefs}?before=yesterday"])
def test_a_damaged_link_gets_the_friendly_page_and_nothing_else(web: Web, path: str) -> None:
    prefs = links_for(web.settings, "ada@example.org").preferences.rsplit("/", 1)[1]
    answer = httpx.get(web.url + path.format(bad=prefs[:-3] + "xyz", prefs=prefs))
    assert answer.status_code == 400 and "<h1>That did not work</h1>" in answer.text


@pytest.mark.parametrize("link", ["archive", "whole_list"])
def test_a_reader_not_on_the_list_gets_the_friendly_404(web: Web, link: str) -> None:
    answer = httpx.get(getattr(links_for(web.settings, "eve@example.org", day=DAY), link))
    assert answer.status_code == 404 and "<h1>Not found</h1>" in answer.text and "not on the list" in answer.text


def test_a_digest_no_longer_kept_gets_the_friendly_404(web: Web) -> None:
    answer = httpx.get(links_for(web.settings, "ada@example.org", day=DAY).whole_list)
    assert answer.status_code == 404 and "is not kept any more" in answer.text


def test_the_preferences_page_links_the_archive(web: Web) -> None:
    links = links_for(web.settings, "ada@example.org")
    answer = httpx.get(links.preferences)
    assert f'href="{links.archive.removeprefix(web.url)}">Your past digests</a>' in answer.text


def test_the_view_in_browser_page_does_not_link_to_itself(web: Web) -> None:
    """The page *is* the browser view: the email's "View in your browser" line would open the same page."""
    keep(web, "ada@example.org", DAY, ["The pick", "One more"], picks=1)
    links = links_for(web.settings, "ada@example.org", day=DAY)
    answer = httpx.get(links.view)
    assert answer.status_code == 200 and "The pick" in answer.text
    assert "View in your browser" not in answer.text and f'href="{links.view}"' not in answer.text
    assert f'href="{links.whole_list}"' in answer.text  # its other links stay: "See all 2 in your browser"


@pytest.mark.parametrize(("days", "said"), [(0, "Each digest is kept until the next one"),
                                            (1, "Each digest is kept 1 day"), (90, "Each digest is kept 90 days")])
def test_the_archive_says_how_long_digests_are_kept_in_words_that_fit_the_setting(tmp_path: Path, days: int,
                                                                                  said: str) -> None:
    """DIGEST_ARCHIVE_DAYS=0 keeps the day's digest until the next send: "kept 0 days" beside it was wrong."""
    with running(tmp_path, archive_days=days) as web:
        keep(web, "ada@example.org", DAY, ["The pick"], picks=1)
        page = httpx.get(links_for(web.settings, "ada@example.org").archive).text
        gone = httpx.get(links_for(web.settings, "ada@example.org", day=DAY - timedelta(days=1)).view).text
    assert said in page and "Monday 23 November 2026" in page and not re.search(r"\b[01] days", page + gone)
    assert said.removeprefix("Each digest is ") in gone  # the 404 of a digest no longer kept says the same
