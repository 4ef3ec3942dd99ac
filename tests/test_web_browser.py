"""The reader pages in real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from digest.tokens import links_for

from .faketime_plugin import playwright_on_real_clock
from .web_server import running

CHROMIUM = "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else shutil.which("chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
pytestmark = pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"),
                                reason="Debian chromium not installed (.ci/run installs it)")


@pytest.fixture(scope="module")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_on_real_clock(playwright_api.sync_playwright()) as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 800, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    yield opened
    context.close()
    assert [e for e in errors if "Failed to load resource" not in e] == []  # e.g. a CSP violation
    assert not [e for e in errors if "404" in e]  # every stylesheet and icon is there


def test_a_reader_changes_keywords_in_the_browser(page, tmp_path: Path) -> None:
    with running(tmp_path) as web:
        page.goto(web.links("ada@example.org").preferences)
        assert page.input_value("#keywords") == "reward model*\nexploration"
        page.fill("#keywords", "graph neural network*\n-survey")
        page.fill("#max_items", "7")
        page.select_option("#frequency", "fri")
        page.click("button[type=submit]")
        assert "Saved" in page.text_content("[role=status]")
        page.goto(web.links("ada@example.org").preferences)  # a fresh load shows the stored state
        assert page.input_value("#keywords") == "graph neural network*\n-survey"
        assert page.input_value("#max_items") == "7" and page.input_value("#frequency") == "fri"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "preferences.png"), full_page=True)
        with web.store() as store:
            state = store.reader_state("ada@example.org")
    assert state is not None and state.keywords == ("graph neural network*", "-survey") and state.frequency == "fri"


@pytest.mark.parametrize("mode", ["stripped", "kept"])
def test_a_page_behind_a_proxy_under_a_path_loads_its_stylesheet_and_its_form_saves(page, tmp_path: Path,
                                                                                     mode: str) -> None:
    """DIGEST_PUBLIC_URL=http://HOST/papers behind a proxy that forwards /papers/ only, stripped or kept."""
    def proxy(route) -> None:
        url = route.request.url
        path = urlsplit(url).path
        if path == "/favicon.ico":  # the rest of the site's, not the digest's
            route.fulfill(status=204)
        elif not path.startswith("/papers/"):
            route.fulfill(status=404, content_type="text/plain", body="outside the proxy's location /papers/")
        else:
            route.continue_(url=url.replace("/papers/", "/", 1) if mode == "stripped" else url)

    with running(tmp_path, path="/papers") as web:
        page.route(f"{web.url}/**", proxy)
        page.goto(web.links("ada@example.org").preferences)
        styled = "getComputedStyle(document.querySelector('main')).maxWidth"
        assert page.evaluate(styled) == "544px"  # site.css: main { max-width: 34rem }
        page.fill("#keywords", "world model*")
        with page.expect_navigation(wait_until="load"):  # the answer and its stylesheet (a click waits for less)
            page.click("button[type=submit]")
        assert "Saved" in page.text_content("[role=status]") and page.evaluate(styled) == "544px"
        with web.store() as store:
            state = store.reader_state("ada@example.org")
    assert state is not None and state.keywords == ("world model*",)


def test_an_invalid_keyword_is_explained_on_the_page(page, tmp_path: Path) -> None:
    with running(tmp_path) as web:
        page.goto(web.links("ada@example.org").preferences)
        page.fill("#keywords", "-survey")
        page.click("button[type=submit]")
        assert "only exclusions given" in page.text_content("[role=alert]")
        assert web.status("ada@example.org") is None


@pytest.mark.parametrize(("email", "keywords", "field"), [
    ("not an address", "world model*", "#email"), ("new@example.org", "-survey", "#keywords")])
def test_a_refused_sign_up_marks_and_focuses_the_field_it_is_about(page, tmp_path: Path, email, keywords,
                                                                   field) -> None:
    with running(tmp_path, signup=True) as web:
        page.goto(f"{web.url}/subscribe")
        page.fill("#email", email)
        page.fill("#keywords", keywords)
        page.evaluate("document.querySelector('form').noValidate = true")  # the server's check, not the browser's
        page.click("button[type=submit]")
        assert page.get_attribute(field, "aria-invalid") == "true"
        assert "form-error" in page.get_attribute(field, "aria-describedby").split()
        page.wait_for_function(f"document.activeElement.id === '{field[1:]}'", timeout=5000)  # autofocus: a frame later
        assert page.evaluate("document.querySelectorAll('[aria-invalid]').length") == 1


def test_a_refused_preferences_form_focuses_its_error_and_each_box_names_its_hint(page, tmp_path: Path) -> None:
    with running(tmp_path) as web:
        page.goto(web.links("ada@example.org").preferences)
        described = page.evaluate("[...document.querySelectorAll('textarea, select, input:not([type=hidden])')]"
                                  ".filter(e => e.getAttribute('aria-describedby'))"
                                  ".map(e => [e.id, document.getElementById(e.getAttribute('aria-describedby'))"
                                  "?.textContent.length || 0])")
        page.fill("#keywords", "-survey")
        page.click("button[type=submit]")
        page.wait_for_function("document.activeElement.id === 'form-error'", timeout=5000)  # autofocus: a frame later
    assert {name for name, length in described if length > 20} >= {"keywords", "authors", "orgs", "frequency",
                                                                     "language"}


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_a_form_fields_edge_stands_out_from_what_surrounds_it(page, tmp_path: Path, scheme: str) -> None:
    """WCAG 1.4.11: a control's boundary at 3:1 or more against the field and against the panel it sits on."""
    page.emulate_media(color_scheme=scheme)
    with running(tmp_path) as web:
        page.goto(web.links("ada@example.org").preferences)
        colours = page.evaluate("""() => { const s = e => getComputedStyle(e);
            const field = document.querySelector('#keywords');
            return [s(field).borderTopColor, s(field).backgroundColor, s(document.querySelector('main')).backgroundColor];
        }""")
    edge, field, panel = (luminance(colour) for colour in colours)
    assert min(ratio(edge, field), ratio(edge, panel)) >= 3, colours


def luminance(css: str) -> float:
    channels = [int(v) / 255 for v in re.findall(r"\d+", css)[:3]]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def ratio(first: float, second: float) -> float:
    return (max(first, second) + 0.05) / (min(first, second) + 0.05)


def test_double_opt_in_through_the_browser(page, tmp_path: Path, server, inbox) -> None:
    with running(tmp_path, signup=True, smtp_host="127.0.0.1", smtp_port=server.port, smtp_security="none") as web:
        page.goto(f"{web.url}/subscribe")
        page.fill("#email", "new@example.org")
        page.fill("#keywords", "world model*")
        page.click("button[type=submit]")
        assert page.text_content("h1") == "Check your inbox"
        web.drain()  # the confirmation goes through the outbox, sent in the background
        [message] = inbox.to("new@example.org")
        link = re.search(r"http://127\.0\.0\.1:\d+/confirm/\S+", message.get_content()).group(0)
        page.goto(link)
        assert web.status("new@example.org") == "pending"
        page.click("button[type=submit]")
        assert page.text_content("h1") == "You are subscribed"
        assert web.status("new@example.org") == "active"


def test_unsubscribe_button_and_pause_instead(page, tmp_path: Path) -> None:
    with running(tmp_path) as web:
        page.goto(web.links("bob@example.org").unsubscribe)
        page.click("text=Pause instead")
        assert web.status("bob@example.org") == "paused"
        page.goto(web.links("ada@example.org").unsubscribe)
        page.click("button:has-text('Unsubscribe')")
        assert page.text_content("h1") == "You are unsubscribed"
        assert web.status("ada@example.org") == "unsubscribed"


def test_a_form_opened_from_webmail_still_works_after_another_link_of_the_digest_is_opened(page,
                                                                                         tmp_path: Path) -> None:
    """Links clicked in a webmail are cross-site navigations: opening a second one must not expire the first's form."""
    with running(tmp_path) as web:
        links = web.links("ada@example.org", ("2401.00001",))
        more = links.feedback["2401.00001"].up
        mail = f'<a id="preferences" href="{links.preferences}">Preferences</a> <a id="more" href="{more}">More</a>'
        page.context.route("http://webmail.example/**", lambda route: route.fulfill(content_type="text/html",
                                                                                    body=mail))
        other_tab = page.context.new_page()
        for tab, link in ((page, "#preferences"), (other_tab, "#more")):
            tab.goto("http://webmail.example/inbox")
            tab.click(link)
        page.fill("#keywords", "world model*")
        page.click("button[type=submit]")
        assert "Saved: your next digest uses these settings." in page.text_content("main")
        other_tab.click("button[type=submit]")
        assert other_tab.text_content("h1") == "Thanks, noted"
        with web.store() as store:
            state, votes = store.reader_state("ada@example.org"), store.votes("ada@example.org")
    assert state is not None and state.keywords == ("world model*",) and len(votes) == 1


LONG_WORD = "Supercalifragilistic" * 5  # a gene, a compound, a model name or a URL a title holds unbroken


@pytest.mark.parametrize("mode", ["light", "dark"])
def test_a_title_with_a_long_unbroken_word_never_scrolls_a_page_sideways_on_a_phone(browser, tmp_path: Path,
                                                                                     mode: str) -> None:
    """At 375 px the feedback, save, votes and reading-list pages wrap the title as the email does: a 100-letter
    word ran 800 px past the card's edge, the page scrolled sideways and its background stopped at the card."""
    from datetime import date

    from digest.model import Paper
    from digest.store import KeptDigest, KeptPick

    paper = Paper(id="2611.10001", title=f"Exploration with {LONG_WORD} bonuses", abstract="Exploration. " * 10,
                  url="https://arxiv.org/abs/2611.10001")
    day = date(2026, 11, 23)
    kept = KeptDigest(email="ada@example.org", message_id="<1@x>", sent_on=day, source="arXiv cs.LG", day=day,
                      templates="t", picks=(KeptPick(paper, 4.0, 1, (("exploration", False),)),), total=1,
                      keywords=("exploration",), terms=("exploration",))
    context = browser.new_context(viewport={"width": 375, "height": 800}, color_scheme=mode)
    page = context.new_page()
    with running(tmp_path) as web:
        with web.store() as store:
            store.archive_digests([kept], keep_days=400)
            store.record_seen([paper])  # what a send records of the papers it saw: the feedback page's title
            store.record_vote("ada@example.org", paper, 1)
            store.save_paper("ada@example.org", paper.id)
        links = links_for(web.settings, "ada@example.org", [paper.id], day=day)
        pages = {"more like this": links.feedback[paper.id].up, "less like this": links.feedback[paper.id].down,
                 "save": links.feedback[paper.id].save,
                 "votes": links.preferences.replace("/preferences/", "/votes/"),
                 "reading list": links.preferences.replace("/preferences/", "/reading/")}
        wide = {}
        for name, url in pages.items():
            page.goto(url)
            assert LONG_WORD in page.text_content("main"), name
            wide[name] = page.evaluate("document.scrollingElement.scrollWidth")
    context.close()
    assert wide == dict.fromkeys(pages, 375)


LONG_ADDRESS = "christopher.montgomery@csail.massachusetts.example.edu"  # 54 characters, nowhere to break


@pytest.mark.parametrize("kind", ["preferences", "unsubscribe", "votes", "reading", "archive"])
def test_a_long_address_wraps_on_a_phone_instead_of_widening_the_page(page, tmp_path: Path, kind: str) -> None:
    page.set_viewport_size({"width": 375, "height": 700})
    with running(tmp_path) as web:
        web.settings.subscribers.write_text(f'[[subscribers]]\nemail = "{LONG_ADDRESS}"\nkeywords = ["robot"]\n')
        links = web.links(LONG_ADDRESS)
        page.goto(links.unsubscribe if kind == "unsubscribe" else links.preferences.replace("/preferences/",
                                                                                           f"/{kind}/"))
        assert LONG_ADDRESS in page.text_content("main")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375


def test_a_refused_long_keyword_wraps_on_a_phone_instead_of_widening_the_page(page, tmp_path: Path) -> None:
    page.set_viewport_size({"width": 375, "height": 700})
    with running(tmp_path, signup=True) as web:
        page.goto(f"{web.url}/subscribe")
        page.fill("#email", "new@example.org")
        page.fill("#keywords", "Rindfleischetikettierungsüberwachungsaufgabenübertragungsgesetz*e")  # one German word
        page.click("button[type=submit]")
        assert "only allowed at the end" in page.text_content("[role=alert]")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
