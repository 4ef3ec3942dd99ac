"""Followed authors and labs on the preferences page: the real app served by uvicorn over a real SQLite
file, a real send to aiosmtpd after, and the kept digest's page."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from digest.app import Digest
from digest.readers import effective_readers
from digest.subscribers import load_subscribers

from .test_follow_authors import DAY, LISTING, NOW
from .test_web_browser import CHROMIUM, browser, page  # noqa: F401 (fixtures)
from .test_wiring import ADA, parts, send, site, urls
from .web_server import ROSTER, Web, csrf_of, running

FOLLOWING_ROSTER = ROSTER.replace('keywords = ["reward model*", "exploration"]\n',
                                  'keywords = ["reward model*", "exploration"]\nauthors = ["Alan Turing"]\n')


@pytest.fixture
def web(tmp_path: Path, server):
    with running(tmp_path, smtp_host="127.0.0.1", smtp_port=server.port, smtp_security="none", min_score=0.5,
                 max_items=5) as site:
        assert site.settings.subscribers is not None
        site.settings.subscribers.write_text(FOLLOWING_ROSTER)  # before the first page reads it
        yield site


def save(web: Web, email: str, **form: str) -> httpx.Response:
    with web.client() as client:
        link = web.links(email).preferences
        fields = {"keywords": "diffusion", "max_items": "", "frequency": "run", "status": "active", **form}
        return client.post(link, data={"csrf": csrf_of(client.get(link).text), **fields})


def textarea(page: str, name: str) -> str:
    found = re.search(rf'<textarea id="{name}"[^>]*>(.*?)</textarea>', page, re.S)
    assert found, page
    return found.group(1)


def test_the_page_shows_the_files_authors_until_the_reader_changes_them(web: Web) -> None:
    page = httpx.get(web.links("ada@example.org").preferences)
    assert textarea(page.text, "authors") == "Alan Turing" and textarea(page.text, "orgs") == ""

    answer = save(web, "ada@example.org", authors="LeCun, Yann\n\n  @ylecun  \nLeCun, Yann", orgs="Meta")

    assert answer.status_code == 200 and "Saved" in answer.text
    assert textarea(answer.text, "authors") == "LeCun, Yann\n@ylecun" and textarea(answer.text, "orgs") == "Meta"
    with web.store() as store:
        state = store.reader_state("ada@example.org")
    assert state is not None and state.authors == ("LeCun, Yann", "@ylecun") and state.orgs == ("Meta",)


def test_emptying_the_box_follows_nobody_whatever_the_file_says(web: Web) -> None:
    save(web, "ada@example.org", authors="", orgs="")
    roster = load_subscribers(web.settings.subscribers)  # type: ignore[arg-type]
    with web.store() as store:
        [ada, bob] = effective_readers(roster, store, DAY)
    assert roster[0].authors == ("Alan Turing",) and ada.authors == () and ada.orgs == ()
    assert bob.authors == () and bob.keywords == ("diffusion",)  # another reader's row is untouched


@pytest.mark.parametrize(("authors", "orgs", "problem"), [
    ("@@ylecun", "", "followed authors: &#34;@@ylecun&#34; is not a Hugging Face user name"),
    ("1234", "", "followed authors: &#34;1234&#34; is not a name"),
    ("", "...", "followed labs: &#34;...&#34; is not an organisation name"),
    ("\n".join(f"Author{n} Smith" for n in range(101)), "", "too many followed authors (at most 100)"),
])
def test_a_bad_follow_is_refused_and_nothing_is_saved(web: Web, authors: str, orgs: str, problem: str) -> None:
    answer = save(web, "ada@example.org", authors=authors, orgs=orgs)
    assert answer.status_code == 400 and problem in answer.text
    with web.store() as store:
        assert store.reader_state("ada@example.org") is None


def test_a_name_is_shown_back_as_text_never_as_markup(web: Web) -> None:
    answer = save(web, "ada@example.org", authors="<script>alert(1)</script> Smith", orgs='"Meta" <b>AI</b>')
    assert answer.status_code == 200
    assert "<script>alert" not in answer.text and "&lt;script&gt;alert(1)&lt;/script&gt; Smith" in answer.text
    assert "<b>AI</b>" not in answer.text


def test_a_follow_saved_on_the_page_is_used_by_the_next_send(web: Web, inbox, tmp_path: Path) -> None:
    listing = tmp_path / "listing.jsonl"
    listing.write_text("".join(json.dumps(p.to_json()) + "\n" for p in LISTING), encoding="utf-8")
    save(web, "ada@example.org", authors="Y. LeCun", orgs="meta")

    report = Digest(web.settings, clock=lambda: NOW).send(load_subscribers(web.settings.subscribers),  # type: ignore[arg-type]
                                                          source=str(listing))

    assert sorted(report.sent) == ["ada@example.org", "bob@example.org"]
    [ada] = inbox.to("ada@example.org")
    text = ada.get_body(("plain",)).get_content()
    assert "Self-supervised world models for planning" in text and "Followed: by Yann LeCun" in text
    assert "Followed: from AI at Meta" in text and "Energy-based objectives" not in text  # Alan LeCun: not him
    assert "Followed: by Yann LeCun" in ada.get_body(("html",)).get_content()
    [bob] = inbox.to("bob@example.org")
    assert "Followed" not in bob.get_body(("plain",)).get_content()

    view = re.search(r"View in your browser: (\S+)", text)
    assert view, text
    page = httpx.get(view.group(1))  # the kept digest, rendered again: it says why too
    assert page.status_code == 200 and "Followed: by Yann LeCun" in page.text and "Followed: from AI at Meta" in page.text


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium not installed (.ci/run installs it)")
def test_an_author_followed_from_the_digests_preferences_link_is_in_the_next_digest(page, tmp_path: Path, server,
                                                                                     inbox) -> None:
    with site(tmp_path, server) as web:
        send(web)
        text, _ = parts(inbox.to(ADA)[0])
        assert "World Models for Robot Manipulation" not in text  # none of Ada's keywords
        page.goto(next(u for u in urls(text) if "/preferences/" in u))
        page.fill("#authors", "Schmidt, J.")
        page.fill("#orgs", "nordic ai")
        page.click("button[type=submit]")
        assert "Saved" in page.text_content("[role=status]")
        assert page.input_value("#authors") == "Schmidt, J."
        send(web, force=True)
    text, html = parts(inbox.to(ADA)[1])
    for body in (text, html):
        assert "World Models for Robot Manipulation" in body and "Followed: by Julia Schmidt" in body
        assert "Followed: from Nordic AI Lab" in body
