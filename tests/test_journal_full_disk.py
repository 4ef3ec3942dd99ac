"""A store that cannot record and a journal that cannot be written either (issue #17):
nothing more is handed to the server, and the readers recorded nowhere are counted exactly,
so the duplicates counted at the server are exactly the ones the error names."""

from __future__ import annotations

import re
import shutil
import sqlite3
from pathlib import Path

import pytest

from digest.app import Digest
from digest.errors import StoreError
from digest.model import Subscriber
from digest.settings import load_settings
from digest.store import Store

from .conftest import FIXTURES

READERS = [Subscriber(f"r{n}@example.org", ("exploration",)) for n in range(60)]

pytestmark = pytest.mark.usefixtures("fast_retries")


def send(port: int, tmp_path: Path, connections: int = 4):
    settings = load_settings(None, {
        "DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(port), "DIGEST_SMTP_SECURITY": "none",
        "DIGEST_FROM": "digest@example.com", "DIGEST_STATE_DB": str(tmp_path / "state.db"),
        "DIGEST_MIN_SCORE": "1", "DIGEST_SMTP_TIMEOUT": "5", "DIGEST_SMTP_CONNECTIONS": str(connections)})
    with Digest(settings) as app:
        return app.send(READERS, source=str(FIXTURES / "papers.jsonl"))


def fill_the_disk(db: Path) -> None:
    """From now on the database refuses every delivery and the journal cannot be written.

    The journal's place is taken first: a batch the store refuses in between would otherwise be journaled
    (seen on a loaded machine, where the recorder ran between the two steps)."""
    Path(f"{db}.journal").mkdir()
    other = sqlite3.connect(db, timeout=10, isolation_level=None)
    other.execute("CREATE TRIGGER full BEFORE INSERT ON messages BEGIN SELECT RAISE(ABORT, 'disk is full'); END")
    other.close()


def free_the_disk(db: Path) -> None:
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("DROP TRIGGER full")
    other.close()
    shutil.rmtree(f"{db}.journal")


@pytest.mark.parametrize("connections", [1, 4])
def test_with_no_room_for_the_journal_the_duplicates_are_exactly_the_readers_the_error_counts(
        faulty, faults, tmp_path, connections):
    db = tmp_path / "state.db"
    Store.open(db).close()
    faults.on_received.append((5, lambda: fill_the_disk(db)))

    with pytest.raises(StoreError) as caught:
        send(faulty.port, tmp_path, connections)
    handed = len(faults.received)
    with Store.open(db) as store:
        recorded = len(store.all_sent_ids())
    free_the_disk(db)
    send(faulty.port, tmp_path, connections)

    message = str(caught.value)
    counted = re.search(r"(\d+) readers? whose digest the server accepted could be recorded nowhere", message)
    assert counted, message
    named = re.search(r"on the next run \(([^)]*)\)", message)[1].split(" and ")[0].split(", ")
    twice = {r.email for r in READERS if faults.to(r.email) == 2}
    assert len(twice) == int(counted[1]) and set(named) <= twice, (twice, message)
    assert handed == recorded + len(twice), "every message handed to the server is recorded or counted"
    assert handed < len(READERS), "the queue was halted: the rest was never handed to the server"
    assert all(faults.to(r.email) in (1, 2) for r in READERS), "every reader got the digest, none three times"


def test_the_error_is_one_line_naming_both_files(faulty, faults, tmp_path):
    db = tmp_path / "state.db"
    Store.open(db).close()
    faults.on_received.append((3, lambda: fill_the_disk(db)))

    with pytest.raises(StoreError) as caught:
        send(faulty.port, tmp_path, 1)

    message = str(caught.value)
    assert "\n" not in message and str(db) in message and f"{db}.journal" in message
    assert "disk is full" in message and "stopped sending" in message
