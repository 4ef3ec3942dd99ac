"""The delivery journal shared by the shards of a list (issue #17): a replay never removes
what another process appends meanwhile, and a failed or torn append never swallows a line."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from digest.store import Store
from digest.store.journal import Entry, Journal


def entry(number: int) -> Entry:
    return Entry(f"r{number}@example.org", f"<{number}@example.org>", ["2611.00001"], "sent")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    Store.open(tmp_path / "state.db").close()
    return tmp_path / "state.db"


def test_an_append_during_a_replay_is_kept_for_the_next_replay(db, monkeypatch):
    monkeypatch.setattr("digest.store.schema.BUSY_SECONDS", 10)
    Journal.beside(db).append([entry(1)])
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # the database is busy: the replay waits with the journal read
    replayed: list[int] = []

    def replay() -> None:  # one shard, starting: its own connection
        with Store.open(db) as store:
            replayed.append(Journal.beside(db).replay(store))

    replaying = threading.Thread(target=replay)
    replaying.start()
    time.sleep(0.3)
    append = threading.Thread(target=Journal.beside(db).append, args=([entry(2)],))  # another shard, store broken
    append.start()
    time.sleep(0.3)
    other.execute("ROLLBACK")
    replaying.join(10)
    append.join(10)
    other.close()

    assert replayed == [1]
    assert [e.email for e in Journal.beside(db).pending()] == ["r2@example.org"], "the other shard's entry survives"
    with Store.open(db) as store:
        assert Journal.beside(db).replay(store) == 1
        assert set(store.all_sent_ids()) == {"r1@example.org", "r2@example.org"}


def test_the_writability_check_never_removes_a_journal_another_shard_wrote(db):
    journal = Journal.beside(db)
    journal.append([entry(1)])

    journal.check_writable()

    assert [e.email for e in journal.pending()] == ["r1@example.org"]


def test_the_writability_check_leaves_no_empty_journal_behind(db):
    Journal.beside(db).check_writable()
    assert not Journal.beside(db).path.exists()


def test_a_line_torn_by_a_crash_does_not_swallow_the_next_append(db):
    journal = Journal.beside(db)
    journal.append([entry(1)])
    with journal.path.open("ab") as torn:
        torn.write(b'{"email": "r2@exam')  # the process died mid-write

    journal.append([entry(3)])

    assert [e.email for e in journal.pending()] == ["r1@example.org", "r3@example.org"]


def test_a_replay_says_how_many_lines_it_could_not_read(db, caplog):
    journal = Journal.beside(db)
    journal.append([entry(1)])
    with journal.path.open("ab") as torn:
        torn.write(b'{"email": "r2@exam\n')  # the process died mid-write
    journal.append([entry(3)])

    with Store.open(db) as store:
        assert journal.replay(store) == 2

    assert "recorded 2 deliveries" in caplog.text
    assert f"skipped 1 unreadable line(s) of {journal.path}" in caplog.text and "may get that digest again" in caplog.text


def test_an_append_that_hits_a_file_size_limit_is_cut_back_and_says_so(db):
    """In a child process: no file may grow past 300 bytes, so the second append cannot fit whole."""
    script = f"""
import resource, signal, sys
from pathlib import Path
sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
from digest.errors import StoreError
from digest.store.journal import Entry, Journal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (300, 300))
journal = Journal.beside(Path({str(db)!r}))
journal.append([Entry("a@example.org", "<a@x>", ["2611.00001"], "sent")])
try:
    journal.append([Entry("b%d@example.org" % n, "<b%d@x>" % n, ["2611.00001"], "sent") for n in range(3)])
except StoreError as err:
    print(err)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)

    assert "cannot write the delivery journal" in result.stdout, result.stderr
    assert [e.email for e in Journal.beside(db).pending()] == ["a@example.org"]
    assert Journal.beside(db).path.read_bytes().endswith(b"\n"), "no partial line left behind"
