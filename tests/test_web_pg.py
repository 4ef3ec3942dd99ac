"""The reader pages on PostgreSQL: ``digest serve`` (uvicorn, the real app) in a process of its own
with ``DIGEST_STATE_DB=postgresql://...``, as on a web host beside the sending hosts.

A real PostgreSQL (tests/pg_server.py), a real aiosmtpd for the confirmation mail, plain HTTP
through httpx. What each page does is read back from the database itself (psycopg), not
through the app: the state is where every other host sees it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest

from digest.model import make_paper
from digest.store import DatabaseURL, Store
from digest.tokens import ReaderLinks, links_for

from .pg_server import pg_server  # noqa: F401  (fixture)
from .smtp_server import free_port
from .test_web_signup import link_in
from .test_wiring import ONE_CLICK
from .web_server import SECRET, csrf_of, make_settings, wait_until

pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'digest[postgres]')")


@dataclass
class Site:
    """``digest serve`` on a free port over one PostgreSQL database."""

    url: str
    database: str
    settings: object
    process: subprocess.Popen

    def links(self, email: str, papers: tuple[str, ...] = ()) -> ReaderLinks:
        return links_for(self.settings, email, list(papers))  # type: ignore[arg-type]

    def row(self, sql: str, *parameters: object) -> tuple | None:
        import psycopg

        with psycopg.connect(self.database) as conn:
            return conn.execute(sql, parameters).fetchone()


@pytest.fixture
def site(tmp_path: Path, pg_server, server) -> Iterator[Site]:  # noqa: F811
    database = pg_server.new_database()
    port = free_port()
    settings = replace(make_settings(tmp_path, port), state_db=DatabaseURL(database, tmp_path / "web-host"))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")},
           "DIGEST_STATE_DB": database, "DIGEST_SECRET_KEY": SECRET, "DIGEST_PUBLIC_URL": settings.public_url,
           "DIGEST_SUBSCRIBERS": str(settings.subscribers), "DIGEST_FROM": "Digest <digest@example.com>",
           "DIGEST_SIGNUP": "true", "DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(server.port),
           "DIGEST_SMTP_SECURITY": "none", "HOME": str(tmp_path), "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    process = subprocess.Popen([sys.executable, "-m", "digest", "serve", "--port", str(port)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and "reader pages at" in process.stdout.readline()
        yield Site(f"http://127.0.0.1:{port}", database, settings, process)
    finally:
        process.terminate()
        _, err = process.communicate(timeout=15)
    assert "Traceback" not in err, err


def test_a_sign_up_confirmed_by_its_link_is_an_active_reader_in_postgresql(site: Site, inbox) -> None:
    with httpx.Client(timeout=10) as client:
        form = client.get(f"{site.url}/subscribe")
        answer = client.post(f"{site.url}/subscribe", data={"csrf": csrf_of(form.text), "email": "new@example.net",
                                                             "keywords": "diffusion"})
        assert answer.status_code == 200 and "Check your inbox" in answer.text
        assert site.row("SELECT status FROM readers WHERE email = %s", "new@example.net") == ("pending",)
        wait_until(lambda: inbox.to("new@example.net"), 15, "no confirmation arrived")  # sent from the outbox
        link = link_in(inbox.to("new@example.net")[0])
        done = client.post(link, data={"csrf": csrf_of(client.get(link).text)})
    assert done.status_code == 200 and "You are subscribed" in done.text
    assert site.row("SELECT status, origin, keywords FROM readers WHERE email = %s", "new@example.net") == (
        "active", "web", '["diffusion"]')
    assert site.row("SELECT count(*) FROM outbox") == (0,)  # the mail went out and left the queue


def test_saved_preferences_are_in_postgresql(site: Site) -> None:
    link = site.links("ada@example.org").preferences
    with httpx.Client(timeout=10) as client:
        page = client.get(link)
        assert page.status_code == 200 and "reward model*" in page.text  # from the roster
        saved = client.post(link, data={"csrf": csrf_of(page.text), "keywords": "world model*\nrobotics",
                                        "max_items": "5", "frequency": "run", "status": "active"})
    assert saved.status_code == 200 and "Saved" in saved.text
    assert site.row("SELECT keywords, max_items FROM readers WHERE email = %s", "ada@example.org") == (
        '["world model*", "robotics"]', 5)


def test_a_vote_is_in_postgresql(site: Site) -> None:
    paper = make_paper("Reward Models for RLHF", "We study reward models.", id="2401.00001")
    with Store.open(site.settings.state_db) as store:  # type: ignore[attr-defined]
        store.record_seen([paper])  # as a send on another host would
    link = site.links("ada@example.org", (paper.id,)).feedback[paper.id].down
    with httpx.Client(timeout=10) as client:
        page = client.get(link)
        answer = client.post(link, data={"csrf": csrf_of(page.text), "vote": "down"})
    assert answer.status_code == 200 and "fewer" in answer.text
    assert site.row("SELECT paper_id, title, vote FROM votes WHERE email = %s", "ada@example.org") == (
        "2401.00001", "Reward Models for RLHF", -1)


def test_a_one_click_unsubscribe_is_in_postgresql(site: Site) -> None:
    answer = httpx.post(site.links("bob@example.org").unsubscribe, timeout=10, **ONE_CLICK)
    assert answer.status_code == 200
    assert site.row("SELECT status FROM readers WHERE email = %s", "bob@example.org") == ("unsubscribed",)
    assert site.row("SELECT status FROM readers WHERE email = %s", "ada@example.org") is None  # only bob
