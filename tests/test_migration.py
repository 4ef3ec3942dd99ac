"""A state database written by the previous release opens, migrates, and never resends a paper.

The previous release's schema and its writes are spelled out here as SQL, as that
release ran them, so the test does not depend on today's code to build the old file.
"""

from __future__ import annotations

import itertools
import sqlite3
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest.app import Digest
from digest.model import Subscriber
from digest.settings import load_settings
from digest.store import MIGRATIONS, Store

from .conftest import FIXTURES

OLD_SCHEMA = """
CREATE TABLE papers (id TEXT PRIMARY KEY, title TEXT NOT NULL, first_seen TEXT NOT NULL);
CREATE TABLE messages (
    message_id TEXT PRIMARY KEY, email TEXT NOT NULL, created TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('sent', 'failed')), error TEXT, papers INTEGER NOT NULL
);
CREATE TABLE sent (
    email TEXT NOT NULL, paper_id TEXT NOT NULL, message_id TEXT NOT NULL REFERENCES messages,
    sent_at TEXT NOT NULL, PRIMARY KEY (email, paper_id)
);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY, started TEXT NOT NULL, finished TEXT, run_date TEXT NOT NULL,
    sent INTEGER NOT NULL DEFAULT 0, nothing_new INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0, note TEXT
);
ALTER TABLE runs ADD COLUMN slot TEXT;
ALTER TABLE runs ADD COLUMN error TEXT;
CREATE INDEX runs_by_slot ON runs (slot);
CREATE INDEX messages_by_email ON messages (email, created);
PRAGMA user_version = 2;
"""


class OldRelease:
    """The previous release's writes, as SQL: a database only it could have written."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.executescript(OLD_SCHEMA)

    def seen(self, paper_id: str, title: str, when: datetime) -> None:
        self.db.execute("INSERT OR IGNORE INTO papers (id, title, first_seen) VALUES (?, ?, ?)",
                        (paper_id, title, when.isoformat(timespec="seconds")))

    def delivered(self, email: str, message_id: str, paper_ids: list[str], error: str | None, when: datetime) -> None:
        now = when.astimezone(timezone.utc).isoformat(timespec="seconds")
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute("INSERT OR REPLACE INTO messages (message_id, email, created, status, error, papers) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (message_id, email.lower(), now, "failed" if error else "sent", error, len(paper_ids)))
        if not error:
            self.db.executemany("INSERT OR REPLACE INTO sent (email, paper_id, message_id, sent_at) VALUES (?, ?, ?, ?)",
                                [(email.lower(), pid, message_id, now) for pid in paper_ids])
        self.db.execute("COMMIT")

    def full_load(self) -> dict[str, set[str]]:
        """What the previous release loaded before every send."""
        out: dict[str, set[str]] = {}
        for email, paper_id in self.db.execute("SELECT email, paper_id FROM sent"):
            out.setdefault(email, set()).add(paper_id)
        return out

    def close(self) -> None:
        self.db.close()


YESTERDAY = datetime.now(timezone.utc) - timedelta(days=1)


def test_the_old_database_migrates_to_the_current_schema_keeping_every_record(tmp_path) -> None:
    old = OldRelease(tmp_path / "state.db")
    old.seen("2608.00003", "Reward Models for RLHF", YESTERDAY)
    old.delivered("Ada@example.org", "<1@example.com>", ["2608.00003", "2608.00001"], None, YESTERDAY)
    old.delivered("bob@example.org", "<2@example.com>", ["2608.00001"], "550 mailbox unavailable", YESTERDAY)
    old.delivered("bob@example.org", "<3@example.com>", ["2608.00002"], None, YESTERDAY + timedelta(hours=1))
    before = old.full_load()
    old.close()

    with Store.open(tmp_path / "state.db") as store:
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert store.all_sent_ids() == before == {"ada@example.org": {"2608.00001", "2608.00003"},
                                                  "bob@example.org": {"2608.00002"}}
        assert store.message_status("ada@example.org") == [("<1@example.com>", "sent")]
        assert store.message_status("bob@example.org") == [("<2@example.com>", "failed"), ("<3@example.com>", "sent")]
        assert store.readers_sent_since(YESTERDAY - timedelta(minutes=1)) == {"ada@example.org", "bob@example.org"}
        assert store.readers_sent_since(YESTERDAY + timedelta(minutes=30)) == {"bob@example.org"}
        assert store.db.execute("SELECT title FROM papers WHERE id = '2608.00003'").fetchone() == ("Reward Models for RLHF",)
        assert store.db.execute("PRAGMA foreign_key_check").fetchall() == []
        assert store.db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["ada@example.org", "BOB@example.org", "chloé@example.fr"]),
                          st.lists(st.sampled_from(["2608.00001", "2608.00002", "hep-th/9901001", "a'b"]), max_size=3),
                          st.booleans()), max_size=12),
       st.sets(st.sampled_from(["2608.00001", "2608.00002", "hep-th/9901001", "a'b", "2699.00001"])))
def test_any_old_history_answers_todays_query_as_the_old_full_load_did(deliveries, today) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        old = OldRelease(Path(tmp) / "state.db")
        numbers = itertools.count()
        for email, papers, failed in deliveries:
            old.delivered(email, f"<{next(numbers)}@x>", papers, "550 no" if failed else None, YESTERDAY)
        before = old.full_load()
        old.close()
        with Store.open(Path(tmp) / "state.db") as store:
            assert store.sent_among(today) == {e: ids & today for e, ids in before.items() if ids & today}


def test_after_migrating_a_send_never_resends_what_the_old_release_sent(server, inbox, tmp_path) -> None:
    old = OldRelease(tmp_path / "state.db")
    old.seen("2608.00003", "Reward Models for RLHF", YESTERDAY)
    old.delivered("ada@example.org", "<1@example.com>", ["2608.00003"], None, YESTERDAY)
    old.close()
    settings_ = load_settings(None, {
        "DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(server.port), "DIGEST_SMTP_SECURITY": "none",
        "DIGEST_FROM": "digest@example.com", "DIGEST_STATE_DB": str(tmp_path / "state.db"), "DIGEST_MIN_SCORE": "1",
    })
    readers = [Subscriber("ada@example.org", ("reward model",)), Subscriber("bob@example.org", ("reward model",))]

    report = Digest(settings_).send(readers, source=str(FIXTURES / "papers.jsonl"))

    assert report.sent == ["bob@example.org"] and report.nothing_new == ["ada@example.org"]
    assert [m["To"] for m in inbox.messages] == ["bob@example.org"]
    with Store.open(tmp_path / "state.db") as store:
        assert store.sent_among(["2608.00003"]) == {"ada@example.org": {"2608.00003"},
                                                    "bob@example.org": {"2608.00003"}}


def test_opening_a_migrated_database_again_changes_nothing(tmp_path) -> None:
    OldRelease(tmp_path / "state.db").close()
    with Store.open(tmp_path / "state.db") as store:
        store.record_sent("ada@example.org", "<1@x>", ["2608.00001"])
    with Store.open(tmp_path / "state.db") as store:
        assert store.all_sent_ids() == {"ada@example.org": {"2608.00001"}}


def test_the_old_releases_runs_count_for_the_look_back_of_every_source(tmp_path) -> None:
    """Runs kept no source before: each of them still counts for whatever source the next run reads, so an
    upgrade never shortens a look-back (and a newer run of another source does not count for this one)."""
    friday = datetime(2031, 3, 7, 7, tzinfo=timezone.utc)
    old = OldRelease(tmp_path / "state.db")
    old.db.execute("INSERT INTO runs (started, finished, run_date, sent, slot) VALUES (?, ?, ?, 1, ?)",
                   (friday.isoformat(timespec="seconds"), friday.isoformat(timespec="seconds"), "2031-03-07",
                    "2031-03-07 07:00 UTC"))
    old.close()
    settings_ = load_settings(None, {"DIGEST_FROM": "digest@example.com",
                                     "DIGEST_STATE_DB": str(tmp_path / "state.db")})
    monday = friday + timedelta(days=3)
    with Store.open(tmp_path / "state.db") as store:
        [run] = store.last_runs()
        assert run.read_sources() is None and run.unreadable() is None
        store.finish_run(store.start_run("2031-03-09", sources=["sample"]), 1, 0, 0)  # a one-off try on Sunday

    with Digest(settings_, clock=lambda: monday.timestamp()) as app:
        assert app.last_run_day("hf") == app.last_run_day("arxiv:cs.LG") == friday.date()
        assert app.last_run_day("sample") == friday.date() + timedelta(days=2)
