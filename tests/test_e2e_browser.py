"""End to end, as a reader: links opened in real headless Chromium from the digest aiosmtpd received.

Debian's /usr/bin/chromium driven by Playwright; the reader pages served by
uvicorn and the send recording into the same real SQLite file.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .test_web_browser import CHROMIUM, browser, page  # noqa: F401 (fixtures)
from .test_wiring import ADA, parts, send, site, urls

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium not installed (.ci/run installs it)")


def test_keywords_changed_from_the_digests_preferences_link_shape_the_next_digest(page, tmp_path: Path, server,
                                                                                  inbox) -> None:
    with site(tmp_path, server) as web:
        send(web)
        text, _ = parts(inbox.to(ADA)[0])
        assert "World Models for Robot Manipulation" not in text
        preferences = next(u for u in urls(text) if "/preferences/" in u)
        page.goto(preferences)
        assert page.input_value("#keywords") == "reward model*\nexploration"
        page.fill("#keywords", "world model*")
        page.click("button[type=submit]")
        assert "Saved" in page.text_content("[role=status]")
        send(web, force=True)
    text, html = parts(inbox.to(ADA)[1])
    assert "World Models for Robot Manipulation" in text and "World Models for Robot Manipulation" in html
    assert "follows: world model…" in text and "Reward Models" not in text


def test_less_like_this_from_the_digest_records_the_vote(page, tmp_path: Path, server, inbox) -> None:
    with site(tmp_path, server) as web:
        send(web)
        text, html = parts(inbox.to(ADA)[0])
        less = next(u for u in urls(html) if u.endswith("?vote=down"))
        paper_id = re.search(r"arxiv\.org/abs/(\S+)", text).group(1)  # the first paper: its links come first
        page.goto(less)
        assert page.text_content("h1") == "Fewer papers like this?"
        page.click("button[type=submit]")
        assert page.text_content("h1") == "Thanks, noted"
        with web.store() as store:
            votes = store.votes(ADA)
    assert [(v.paper_id, v.vote) for v in votes] == [(paper_id, -1)]


def test_double_opt_in_then_the_first_digest_reaches_the_new_address(page, tmp_path: Path, server, inbox) -> None:
    new = "new@example.net"
    with site(tmp_path, server, signup=True) as web:
        page.goto(f"{web.url}/subscribe")
        page.fill("#email", new)
        page.fill("#keywords", "world model*")
        page.click("button[type=submit]")
        web.drain()  # the confirmation goes through the outbox, sent in the background
        [confirmation] = inbox.to(new)
        send(web)
        assert len(inbox.to(new)) == 1  # not confirmed yet: only the confirmation email
        page.goto(re.search(r"http://127\.0\.0\.1:\d+/confirm/\S+", confirmation.get_content()).group(0))
        page.click("button[type=submit]")
        assert page.text_content("h1") == "You are subscribed"
        report = send(web)
    assert new in report.sent
    digest = inbox.to(new)[1]
    text, _ = parts(digest)
    assert "World Models for Robot Manipulation" in text and f"{new} follows: world model…" in text
    assert "/unsubscribe/" in str(digest["List-Unsubscribe"])
