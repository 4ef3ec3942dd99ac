"""axe-core over every reader page, served by uvicorn, in real Chromium, in the light and the dark scheme.

The copy of axe-core bundled with ``axe-playwright-python``; no serious or
critical violation is allowed on any page a reader reaches from a digest (or
from the site's front page), in any of the states it is shown in.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import pytest

from digest.model import Paper
from digest.store import KeptDigest, KeptPick
from digest.tokens import Signer, links_for, reader_id

from .test_web_browser import CHROMIUM, browser  # noqa: F401 (fixtures)
from .web_server import SECRET, Web, running

axe_playwright = pytest.importorskip("axe_playwright_python.sync_playwright")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium not installed (.ci/run installs it)")

ADA = "ada@example.org"
NEW = "new@example.net"
DAY = date(2026, 11, 23)
PAPER = Paper(id="2611.10001", title="Reward models that know what they don't know",
              abstract="We calibrate reward models for RLHF so that exploration follows their uncertainty.",
              url="https://arxiv.org/abs/2611.10001", authors=("A. Lovelace", "C. Babbage"))


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory):
    with running(tmp_path_factory.mktemp("axe"), signup=True) as served:
        fill(served)
        yield served


def fill(web: Web) -> None:
    """A kept digest with papers beyond its pick, and a vote: every page has something to show."""
    ranked = tuple(KeptPick(Paper(id=f"2611.1000{n}", title=f"{PAPER.title} ({n})", abstract=PAPER.abstract,
                                  url=f"https://arxiv.org/abs/2611.1000{n}", authors=PAPER.authors), 4.0 - n / 10, n,
                            (("reward model", n == 3), ("exploration", False))) for n in range(1, 4))
    kept = KeptDigest(email=ADA, message_id="<1@x>", sent_on=DAY, source="arXiv cs.LG", day=DAY, templates="t",
                      picks=ranked[:1], more=ranked[1:], total=3, keywords=("reward model*", "exploration"),
                      terms=("reward model", "exploration"))
    with web.store() as store:
        store.archive_digests([kept], keep_days=400)
        store.record_vote(ADA, PAPER, 1)
        store.request_signup(NEW, reader_id(SECRET, NEW), ["graph neural network*", "-survey"])  # confirm shows them
        store.hold_signup(NEW, ["graph neural network*", "-survey"], time.time())


def pages(web: Web) -> dict[str, str]:
    links = links_for(web.settings, ADA, [PAPER.id], day=DAY)
    return {
        "index": f"{web.url}/",
        "subscribe": f"{web.url}/subscribe",
        "confirm": f"{web.url}/confirm/{Signer(SECRET).dumps('confirm', reader_id(SECRET, NEW))}",
        "preferences": links.preferences,
        "unsubscribe": links.unsubscribe,
        "feedback": links.feedback[PAPER.id].up,
        "votes": links.preferences.replace("/preferences/", "/votes/"),
        "view in browser": links.view,
        "whole list": links.whole_list,
        "archive": links.archive,
        "not found": links_for(web.settings, "eve@example.org").archive,
    }


NAMES = ["index", "subscribe", "confirm", "preferences", "unsubscribe", "feedback", "votes", "view in browser",
         "whole list", "archive", "not found"]


@pytest.fixture
def tab(browser):  # noqa: F811
    """A fresh page; whatever it logs as an error (a CSP violation, a missing stylesheet) fails the test."""
    context = browser.new_context(viewport={"width": 800, "height": 900})
    opened = context.new_page()
    opened.errors = []
    opened.on("console", lambda message: opened.errors.append(message.text) if message.type == "error" else None)
    yield opened
    context.close()


def serious(response: dict) -> list[str]:
    return [f"{v['id']} ({v['impact']}): {v['help']}, at " + " | ".join(n["html"][:120] for n in v["nodes"][:4])
            for v in response["violations"] if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("name", NAMES)
def test_axe_core_finds_no_serious_violation(web: Web, tab, name: str, scheme: str) -> None:
    tab.emulate_media(color_scheme=scheme)
    answer = tab.goto(pages(web)[name])
    response = axe_playwright.Axe().run(tab).response
    assert answer is not None and answer.status == (404 if name == "not found" else 200)
    assert response["passes"], "axe-core checked nothing"
    assert not serious(response), f"{name} ({scheme}): " + "; ".join(serious(response))
    assert tab.errors == (["Failed to load resource: the server responded with a status of 404 (Not Found)"]
                          if name == "not found" else [])  # the page's own status, nothing else


def test_every_reader_page_is_checked(web: Web) -> None:
    assert set(pages(web)) == set(NAMES)


@pytest.mark.parametrize("state", ["saved", "refused"])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_preferences_page_after_a_save_has_no_serious_violation(web: Web, tab, state: str, scheme: str) -> None:
    tab.emulate_media(color_scheme=scheme)
    tab.goto(pages(web)["preferences"])
    tab.fill("#language", "German" if state == "saved" else "not a language 42")
    tab.click("button[type=submit]")
    answer = tab.locator("[role=status]" if state == "saved" else "[role=alert]")
    answer.first.wait_for(timeout=15_000)  # the answer page, however loaded the machine (click does not wait for it)
    assert answer.count() == 1
    assert not serious(axe_playwright.Axe().run(tab).response)
