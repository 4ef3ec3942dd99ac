"""Served under a path behind a reverse proxy: DIGEST_PUBLIC_URL=https://example.org/papers.

The emails' links carry /papers/, and so must every link, form, stylesheet and
redirect of the pages, or the browser leaves the proxy's location. The proxy
forwards /papers/... with the prefix stripped (nginx ``location /papers/ {
proxy_pass http://127.0.0.1:8026/; }``) or kept (``proxy_pass
http://127.0.0.1:8026;``): the app answers both. The real app, in process through
Starlette's httpx client behind a stand-in for the proxy, and served by uvicorn.
"""

from __future__ import annotations

import re
from datetime import date
from html import unescape
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest
from starlette.testclient import TestClient

from digest.errors import ConfigError
from digest.model import Paper
from digest.settings import Settings
from digest.store import KeptDigest, KeptPick, Store
from digest.tokens import ReaderLinks, links_for
from digest.web import make_app

from .web_server import csrf_of, make_settings, running

ORIGIN = "https://example.org"
PUBLIC = f"{ORIGIN}/papers"
ADA = "ada@example.org"
PAPER = Paper(id="2611.10001", title="Reward models, kept", abstract="About reward models.",
              url="https://arxiv.org/abs/2611.10001")
URL_IN_PAGE = re.compile(r'(href|action|src)="([^"]*)"')


class Proxy:
    """What a reader's browser reaches: only URLs under PUBLIC, forwarded to the app stripped or kept."""

    def __init__(self, settings: Settings, mode: str) -> None:
        self.client = TestClient(make_app(settings), base_url=ORIGIN, follow_redirects=False)
        self.mode = mode

    def request(self, method: str, url: str, **kwargs: object) -> httpx.Response:
        if not url.startswith(PUBLIC + "/"):
            return httpx.Response(404, text=f"{url} is outside the proxy's location /papers/")
        path = url.removeprefix(ORIGIN)
        return self.client.request(method, path.removeprefix("/papers") if self.mode == "stripped" else path,
                                   **kwargs)  # type: ignore[arg-type]

    def get(self, url: str) -> httpx.Response:
        return self.request("GET", url)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, 8026, public_url=PUBLIC, signup=True)


@pytest.fixture(params=["stripped", "kept"])
def proxy(request: pytest.FixtureRequest, settings: Settings) -> Proxy:
    served = Proxy(settings, request.param)
    with Store.open(settings.state_db) as store:  # a kept digest, a vote and a saved paper: every page has content
        pick = KeptPick(PAPER, 5.0, 1, (("reward model", False),))
        store.archive_digests([KeptDigest(email=ADA, message_id="<1@x>", sent_on=date.today(), source="arXiv",
                                          day=date.today(), templates="t", picks=(pick,), total=1,
                                          keywords=("reward model",), terms=("reward model",))], keep_days=400)
        store.record_vote(ADA, PAPER, 1)
        store.save_paper(ADA, PAPER.id)
    return served


def links(settings: Settings) -> ReaderLinks:
    return links_for(settings, ADA, [PAPER.id])


def urls_in(page: httpx.Response, url: str) -> list[tuple[str, str]]:
    """(attribute, absolute URL) of every link, form and source of a page the proxy answered for ``url``."""
    return [(kind, urljoin(url, unescape(value))) for kind, value in URL_IN_PAGE.findall(page.text)]


def own(found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(kind, url) for kind, url in found if url.startswith(ORIGIN + "/")]


# the pages' own URLs -----------------------------------------------------------------------------------

def test_a_preferences_pages_stylesheet_form_and_links_are_under_the_path(proxy: Proxy, settings: Settings) -> None:
    url = links(settings).preferences
    page = proxy.get(url)
    assert page.status_code == 200
    stylesheet = re.search(r'<link rel="stylesheet" href="([^"]+)"', page.text)
    action = re.search(r'<form method="post" action="([^"]+)"', page.text)
    assert stylesheet and stylesheet[1] == "/papers/static/site.css"
    assert action and unescape(action[1]) == url.removeprefix(ORIGIN)
    for name in ("votes", "reading", "archive", "feed", "unsubscribe"):
        assert f'href="/papers/{name}/' in page.text, name
    css = proxy.get(f"{PUBLIC}/static/site.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


def test_every_link_and_form_of_every_page_stays_under_the_path_and_opens(proxy: Proxy, settings: Settings) -> None:
    mine = links(settings)
    pages = [f"{PUBLIC}/", f"{PUBLIC}/subscribe", mine.preferences, mine.unsubscribe, mine.feedback[PAPER.id].up,
             mine.feedback[PAPER.id].save, mine.archive, mine.view + "/all",
             mine.archive.replace("/archive/", "/votes/"), mine.archive.replace("/archive/", "/reading/")]
    for url in pages:
        page = proxy.get(url)
        assert page.status_code == 200, url
        found = own(urls_in(page, url))
        assert found and all(link.startswith(PUBLIC + "/") for _, link in found), (url, found)
        for kind, link in found:
            assert kind == "action" or proxy.get(link).status_code == 200, link


def test_the_feeds_links_are_under_the_path(proxy: Proxy, settings: Settings) -> None:
    feed = proxy.get(links(settings).feed)
    assert feed.status_code == 200
    hrefs = re.findall(r'<link [^>]*href="([^"]+)"', feed.text)  # the feed's own and its entry's
    assert len(hrefs) == 2 and all(unescape(href).startswith(PUBLIC + "/") for href in hrefs)
    assert proxy.get(unescape(hrefs[1])).status_code == 200  # the entry: that digest in the browser


# forms ------------------------------------------------------------------------------------------------

def post_form(proxy: Proxy, url: str, **fields: str) -> httpx.Response:
    """A page's first form, posted where it says, with its CSRF field, as a browser behind the proxy does."""
    page = proxy.get(url)
    action = re.search(r'<form method="post" action="([^"]+)"', page.text)
    assert action, page.text
    return proxy.request("POST", urljoin(url, unescape(action[1])), data={"csrf": csrf_of(page.text), **fields})


def test_saving_preferences_through_the_pages_form_saves(proxy: Proxy, settings: Settings) -> None:
    saved = post_form(proxy, links(settings).preferences, keywords="world model*", max_items="", frequency="run",
                      status="active")
    assert saved.status_code == 200 and "Saved" in saved.text
    with Store.open(settings.state_db) as store:
        state = store.reader_state(ADA)
    assert state is not None and state.keywords == ("world model*",)


@pytest.mark.parametrize("page", ["votes", "reading"])
def test_removing_from_a_list_redirects_under_the_path(proxy: Proxy, settings: Settings, page: str) -> None:
    url = links(settings).archive.replace("/archive/", f"/{page}/")
    answer = post_form(proxy, url, paper=PAPER.id)
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.startswith(f"/papers/{page}/") and location.endswith("?removed=1")
    shown = proxy.get(urljoin(url, location))
    assert shown.status_code == 200 and PAPER.title not in shown.text


def test_a_webhook_under_the_path_takes_the_bodies_it_takes_at_the_root(settings: Settings) -> None:
    """The 256 KB cap of an SES notification, not the pages' 64 KB, whichever way the proxy forwards."""
    body = b"{" + b" " * 100_000 + b"}"
    answers = [Proxy(settings, mode).request("POST", f"{PUBLIC}/webhooks/ses", content=body)
               for mode in ("stripped", "kept")]
    assert answers[0].status_code == answers[1].status_code != 413


# what the path may be, and none ---------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/d", "/static/pages", "/feed", "/webhooks"])
def test_a_path_that_begins_like_a_pages_own_is_refused_saying_why(tmp_path: Path, path: str) -> None:
    """/d/TOKEN from a stripping proxy would read as /TOKEN under /d: ambiguous, so serving refuses to start."""
    settings = make_settings(tmp_path, 8026, public_url=ORIGIN + path)
    with pytest.raises(ConfigError, match=f"path {path} begins with /{path.split('/')[1]}/.*another path"):
        make_app(settings)


def test_without_a_path_the_pages_links_start_at_the_root(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, 8026, public_url=ORIGIN)
    client = TestClient(make_app(settings), base_url=ORIGIN)
    page = client.get(links_for(settings, ADA).preferences)
    assert 'href="/static/site.css"' in page.text and 'action="/preferences/' in page.text


# served by uvicorn --------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["stripped", "kept"])
def test_uvicorn_serves_the_pages_and_stylesheet_under_the_path(tmp_path: Path, mode: str) -> None:
    with running(tmp_path, path="/papers") as web:
        def forwarded(url: str) -> str:
            return url.replace("/papers/", "/", 1) if mode == "stripped" else url

        preferences = web.links(ADA).preferences
        assert preferences.startswith(web.url + "/papers/preferences/")
        page = httpx.get(forwarded(preferences))
        css = httpx.get(forwarded(f"{web.url}/papers/static/site.css"))
    assert page.status_code == 200 and 'href="/papers/static/site.css"' in page.text
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
