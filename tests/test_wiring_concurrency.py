"""Readers act on the web while a big send runs: every action lands, no unsubscribe is overtaken.

A 1,000-reader ``digest send`` (a subprocess; its messages built by the forked
child) delivers to aiosmtpd while 200 one-click unsubscribes and 200 votes are
posted to the reader pages (uvicorn, in this process), all on one real SQLite file.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from digest.tokens import links_for

from .test_wiring import ONE_CLICK, site
from .web_server import csrf_of

READERS = 1000
KEYWORDS = ["reward model*", "exploration", "diffusion", "world model*", "language model*"]
pytestmark = pytest.mark.slow


def roster(path: Path) -> Path:
    lines = []
    for n in range(READERS):
        lines += ["[[subscribers]]", f'email = "r{n}@example.org"', f'keywords = ["{KEYWORDS[n % len(KEYWORDS)]}"]', ""]
    path.write_text("\n".join(lines))
    return path


STAMP_LAG = 0.25  # seconds from the producer's status check to the Message-ID's time stamp, at most: a few ms
# on a quiet machine, over 50 ms on a loaded one (faketime, two test workers); a status read once for the
# whole send would be overtaken by seconds


def build_time(message) -> float:
    """When the message was built: its Message-ID starts with the time in hundredths of a second."""
    return int(re.match(r"<(\d+)\.", message["Message-ID"]).group(1)) / 100


def test_unsubscribes_and_votes_during_a_1000_reader_send(tmp_path: Path, server, inbox) -> None:
    inbox.delay = 0.004  # a server that takes its time: the send lasts a few seconds
    with site(tmp_path, server, subscribers=roster(tmp_path / "readers.toml")) as web:
        before = [f"r{n}@example.org" for n in range(7, READERS, 50)]  # 20, unsubscribed before the send
        during = [f"r{n}@example.org" for n in range(0, READERS, 5)]  # 200, while it runs
        voters = [f"r{n}@example.org" for n in range(1, READERS, 5)]  # 200 "less like this"
        for email in before:
            assert httpx.post(links_for(web.settings, email).unsubscribe, **ONE_CLICK).status_code == 200
        send = subprocess.Popen([sys.executable, "-m", "digest", "send"], env=_env(web.settings),
                                cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert inbox.receiving.wait(60), "the send never reached the server"
            committed, answers, overlapped = _act(web, during, voters, send)
            out, err = send.communicate(timeout=120)
        finally:
            if send.poll() is None:
                send.kill()
        with web.store() as store:
            statuses = {email: store.reader_status(email) for email in before + during}
            votes = {email: [v.vote for v in store.votes(email)] for email in voters}
    assert send.returncode == 0, err
    assert "locked" not in err.lower() and "locked" not in out.lower()
    assert set(answers) == {200}, answers  # the pages never failed (a locked store is a 500)
    assert overlapped >= 50, f"only {overlapped} actions landed while the send ran"
    assert set(statuses.values()) == {"unsubscribed"} and all(v == [-1] for v in votes.values())
    received = {message["To"]: message for message in inbox.messages}
    assert not set(before) & set(received), "a reader unsubscribed before the send got the digest"
    # The status is asked just before the message is built and its Message-ID stamped (in 1/100 s): an
    # unsubscribe committed between the two is not an overtaking; one more than STAMP_LAG later would be.
    overtaken = [email for email in during
                 if email in received and build_time(received[email]) > committed[email] + STAMP_LAG]
    assert overtaken == [], "built after the reader's unsubscribe was committed"
    skipped = re.search(r"skipped (\d+)", out)
    assert skipped and int(skipped.group(1)) == len(before) + sum(email not in received for email in during)
    assert len(received) + int(skipped.group(1)) == READERS


def _act(web, during: list[str], voters: list[str], send: subprocess.Popen) -> tuple[dict[str, float], list[int], int]:
    """Post every unsubscribe and vote from 8 threads; when each unsubscribe was committed (answered).

    Each thread keeps one HTTP client (a browser's keep-alive connection): making an httpx client
    takes some 20 ms of CPU (its TLS context), which for 400 of them was most of the test's time."""
    committed: dict[str, float] = {}
    answers: list[int] = []
    overlapped = 0
    lock = threading.Lock()
    local = threading.local()
    clients: list[httpx.Client] = []

    def client() -> httpx.Client:
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=60)
            with lock:
                clients.append(local.client)
        return local.client

    def unsubscribe(email: str) -> None:
        nonlocal overlapped
        answer = client().post(links_for(web.settings, email).unsubscribe, **ONE_CLICK)
        with lock:
            committed[email] = time.time()
            answers.append(answer.status_code)
            overlapped += send.poll() is None

    def vote(email: str) -> None:
        nonlocal overlapped
        link = links_for(web.settings, email, ["2611.00101"]).feedback["2611.00101"].down
        page = client().get(link)
        answer = client().post(link, data={"csrf": csrf_of(page.text), "vote": "down"})
        with lock:
            answers.extend([page.status_code, answer.status_code])
            overlapped += send.poll() is None

    try:
        with ThreadPoolExecutor(8) as pool:
            for done in [pool.submit(unsubscribe, e) for e in during] + [pool.submit(vote, e) for e in voters]:
                done.result()
    finally:
        for each in clients:
            each.close()
    return committed, answers, overlapped


def _env(settings) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DIGEST_")}
    env.update({
        "DIGEST_SOURCE": "sample", "DIGEST_SUBSCRIBERS": str(settings.subscribers),
        "DIGEST_FROM": "Digest <digest@example.com>", "DIGEST_MIN_SCORE": "1",
        "DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(settings.smtp_port),
        "DIGEST_SMTP_SECURITY": "none", "DIGEST_SMTP_TIMEOUT": "10",
        "DIGEST_STATE_DB": str(settings.state_db), "DIGEST_PUBLIC_URL": settings.public_url,
        "DIGEST_SECRET_KEY": settings.secret_key,
    })
    return env
