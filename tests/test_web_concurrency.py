"""`digest serve` and a send share the state file: concurrent writes all land, none is `database is locked`."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from digest.store import Store

from .web_server import csrf_of, running

READERS = 100


@pytest.mark.slow
def test_200_unsubscribes_and_votes_while_a_send_records_deliveries(tmp_path: Path) -> None:
    roster = "".join(f'[[subscribers]]\nemail = "r{n}@example.org"\nkeywords = ["diffusion"]\n\n' for n in range(READERS))
    with running(tmp_path) as web:
        web.settings.subscribers.write_text(roster)  # type: ignore[union-attr]
        settings = replace(web.settings)
        stop = threading.Event()
        recorded = []

        def send_in_progress() -> None:
            with Store.open(settings.state_db) as store:
                while not stop.is_set():
                    n = len(recorded)
                    store.record_deliveries([(f"sent{n}@example.org", f"<m{n}@x>", [f"2401.{n:05d}"], None)])
                    recorded.append(n)
                    stop.wait(0.002)  # a real send waits for the SMTP server between batches

        with httpx.Client(timeout=30, limits=httpx.Limits(max_connections=50)) as client:
            csrf = csrf_of(client.get(web.links("r0@example.org").preferences).text)

            def unsubscribe(n: int) -> int:
                return client.post(web.links(f"r{n}@example.org").unsubscribe,
                                   content=b"List-Unsubscribe=One-Click",
                                   headers={"content-type": "application/x-www-form-urlencoded"}).status_code

            def vote(n: int) -> int:
                link = web.links("r0@example.org", (f"2402.{n:05d}",)).feedback[f"2402.{n:05d}"]
                return client.post(link.up if n % 2 else link.down, data={"csrf": csrf, "vote": "up" if n % 2 else "down"}).status_code

            writer = threading.Thread(target=send_in_progress)
            writer.start()
            try:
                with ThreadPoolExecutor(max_workers=32) as pool:
                    codes = [*pool.map(unsubscribe, range(READERS)), *pool.map(vote, range(READERS))]
            finally:
                stop.set()
                writer.join()
    assert codes == [200] * (2 * READERS)
    with Store.open(settings.state_db) as store:
        states = store.reader_states()
        assert sum(s.status == "unsubscribed" for s in states.values()) == READERS
        votes = store.votes("r0@example.org")
        assert len(votes) == READERS and sum(v.vote for v in votes) == 0
        assert store.counts()["messages"] == len(recorded) > 0
