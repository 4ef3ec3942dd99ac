"""The reader pages index the roster once and read the file again only when it changes."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import digest.subscribers
from digest.model import Subscriber
from digest.settings import Settings
from digest.tokens import reader_id
from digest.web.roster import STORE_REFRESH, Roster

from .web_server import ROSTER, SECRET, Web, running

CAROL = '\n[[subscribers]]\nemail = "carol@example.org"\nkeywords = ["protein folding"]\n'


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every time anything parses a subscribers file (the real parser, counted)."""
    seen: list[Path] = []
    real = digest.subscribers.load_subscribers

    def counted(path: Path) -> list[Subscriber]:
        seen.append(path)
        return real(path)

    monkeypatch.setattr(digest.subscribers, "load_subscribers", counted)
    return seen


@pytest.fixture
def web(tmp_path: Path, reads: list[Path]) -> Iterator[Web]:
    with running(tmp_path) as site:
        yield site


def keywords_on_page(web: Web, email: str) -> str:
    page = httpx.get(web.links(email).preferences)
    assert page.status_code == 200, page.text
    return page.text.split("</textarea>")[0].rsplit(">", 1)[1]


def rewrite(path: Path, text: str) -> None:
    """Save the file as an editor would, its modification time visibly later."""
    before = path.stat().st_mtime_ns
    path.write_text(text)
    os.utime(path, ns=(before + 2_000_000_000, before + 2_000_000_000))


def test_many_pages_read_the_subscribers_file_once(web: Web, reads: list[Path]) -> None:
    for _ in range(5):
        assert keywords_on_page(web, "bob@example.org") == "diffusion"
        assert keywords_on_page(web, "ada@example.org") == "reward model*\nexploration"
    assert len(reads) == 1


def test_a_removed_readers_link_does_not_read_the_file_again(web: Web, reads: list[Path]) -> None:
    for _ in range(5):
        assert httpx.get(web.links("gone@example.org").preferences).status_code == 404
    assert len(reads) == 1


def test_the_next_page_after_the_file_changed_reads_it_again(web: Web, reads: list[Path]) -> None:
    assert keywords_on_page(web, "bob@example.org") == "diffusion"
    assert httpx.get(web.links("carol@example.org").preferences).status_code == 404
    rewrite(web.settings.subscribers, ROSTER.replace('"diffusion"', '"score matching"') + CAROL)  # type: ignore[arg-type]
    assert keywords_on_page(web, "bob@example.org") == "score matching"
    assert keywords_on_page(web, "carol@example.org") == "protein folding"
    assert len(reads) == 2


def test_a_file_rewritten_with_its_old_time_size_and_inode_is_not_read_again(web: Web, reads: list[Path]) -> None:
    path: Path = web.settings.subscribers  # type: ignore[assignment]
    assert keywords_on_page(web, "bob@example.org") == "diffusion"
    stamp = path.stat()
    path.write_text(ROSTER.replace('"diffusion"', '"diffusive"'))  # the same size
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert keywords_on_page(web, "bob@example.org") == "diffusion"
    assert len(reads) == 1


def test_a_file_that_stops_parsing_keeps_the_readers_read_before(web: Web, reads: list[Path]) -> None:
    assert keywords_on_page(web, "ada@example.org") == "reward model*\nexploration"
    rewrite(web.settings.subscribers, "[[subscribers]\nemail = ")  # type: ignore[arg-type]
    for _ in range(3):
        assert keywords_on_page(web, "ada@example.org") == "reward model*\nexploration"
    assert len(reads) == 2  # read once when it changed, not again on every page


def test_a_file_that_does_not_parse_when_first_read_says_why_in_the_log(tmp_path: Path, caplog) -> None:
    """``digest serve`` started on a broken file: no readers read before, and the operator is told."""
    roster_file = tmp_path / "subscribers.toml"
    roster_file.write_text("[[subscribers]\nemail = ")
    caplog.set_level(logging.WARNING, logger="digest.web")
    roster = Roster(Settings(subscribers=roster_file, secret_key=SECRET), SECRET)
    assert roster.reader("ada@example.org") is None
    assert [r.levelno for r in caplog.records] == [logging.WARNING] and str(roster_file) in caplog.text


def test_a_server_without_a_roster_of_its_own_logs_nothing_about_it(caplog) -> None:
    """Sign-ups only: no subscribers file and no DIGEST_TO is not a problem to report."""
    caplog.set_level(logging.WARNING, logger="digest.web")
    roster = Roster(Settings(secret_key=SECRET), SECRET)
    assert roster.reader("ada@example.org") is None and caplog.records == []


def test_a_server_without_a_roster_of_its_own_reads_no_readers_without_an_error_to_catch() -> None:
    """Sign-ups only: the roster's reading answers "nobody", it does not raise "no readers" to be caught."""
    settings = Settings(secret_key=SECRET)
    assert Roster(settings, SECRET).load(settings) == []


def test_a_reader_removed_from_the_file_but_known_to_the_store_still_reaches_their_page(web: Web) -> None:
    with web.store() as store:
        store.set_status("ada@example.org", "paused")
    assert keywords_on_page(web, "ada@example.org") == "reward model*\nexploration"
    rewrite(web.settings.subscribers, ROSTER.split("[[subscribers]]")[0] + "[[subscribers]]"  # type: ignore[arg-type]
            + ROSTER.split("[[subscribers]]")[2])
    page = httpx.get(web.links("ada@example.org").unsubscribe)
    assert page.status_code == 200 and "ada@example.org" in page.text


# the index on its own, with an injected clock ---------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_miss_asks_the_store_at_most_once_per_refresh_period(tmp_path: Path) -> None:
    roster_file = tmp_path / "subscribers.toml"
    roster_file.write_text(ROSTER)
    clock, asked = Clock(), []
    stored = ["old@example.org"]

    def known() -> list[str]:
        asked.append(clock.now)
        return list(stored)

    roster = Roster(Settings(subscribers=roster_file, secret_key=SECRET), SECRET, clock=clock)
    assert roster.email_of(reader_id(SECRET, "old@example.org"), known) == "old@example.org"
    stored.append("new@example.org")
    assert roster.email_of(reader_id(SECRET, "new@example.org"), known) is None  # asked a moment ago
    clock.now += STORE_REFRESH
    assert roster.email_of(reader_id(SECRET, "new@example.org"), known) == "new@example.org"
    assert roster.email_of(reader_id(SECRET, "ada@example.org"), known) == "ada@example.org"  # the file's
    assert asked == [1000.0, 1000.0 + STORE_REFRESH]


def test_without_a_file_the_reader_of_digest_to_is_indexed_once() -> None:
    calls: list[Settings] = []

    def load(settings: Settings) -> list[Subscriber]:
        calls.append(settings)
        return [Subscriber(email="You@Example.com", keywords=("diffusion",))]

    roster = Roster(Settings(to="You@Example.com", keywords="diffusion", secret_key=SECRET), SECRET, load=load)
    for _ in range(3):
        assert roster.reader("you@example.com") is not None
        assert roster.email_of(reader_id(SECRET, "you@example.com"), list) == "you@example.com"
    assert len(calls) == 1
