"""Times and days in their own types on PostgreSQL, the same ISO text to the code on both engines.

SQLite keeps times as ISO-8601 text; on PostgreSQL the same columns are
``timestamptz`` and ``date`` (the ``Retype`` step of the migrations), read back
as the text SQLite would give. The epoch-second columns stay numbers on both.
A real PostgreSQL server (tests/pg_server.py), real SQLite files.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from digest.model import Paper
from digest.store import MIGRATIONS, DatabaseURL, Store, schema
from digest.store.bounces import BounceEvent, Rule
from digest.store.dialect import Retype

from .pg_server import pg_server, state_db  # noqa: F401  (fixtures)

TYPED = [column for step in MIGRATIONS if isinstance(step, Retype) for column in step.columns]
ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$")
ISO_DAY = re.compile(r"^\d{4}-\d\d-\d\d$")


def _column_types(store: Store) -> dict[tuple[str, str], str]:
    rows = store.db.execute("SELECT table_name, column_name, data_type FROM information_schema.columns "
                            "WHERE table_schema = current_schema()").fetchall()
    return {(table, column): kind for table, column, kind in rows}


def test_on_postgresql_times_are_timestamptz_days_are_dates_and_epoch_seconds_stay_numbers(tmp_path, pg_server) -> None:
    with Store.open(DatabaseURL(pg_server.new_database(), tmp_path / "local")) as store:
        types = _column_types(store)
    expected = {"timestamptz": "timestamp with time zone", "date": "date"}
    assert {(t, c): types[(t, c)] for t, c, *_ in TYPED} == {(t, c): expected[k] for t, c, k, *_ in TYPED}
    for epoch in (("messages", "created"), ("buckets", "next_at"), ("outbox", "next_try"), ("listed", "arrived")):
        assert types[epoch] in ("bigint", "double precision")


def test_times_and_days_read_back_as_iso_text_in_utc(state_db: Path) -> None:
    with Store.open(state_db) as store:
        store.finish_run(store.start_run("2031-01-06"), 1, 0, 0)
        store.set_status("ada@example.org", "paused")
        store.record_vote("ada@example.org", Paper(id="p1", title="T", abstract="A"), 1)
        store.record_bounce(BounceEvent("k1", "bob@example.org", date(2031, 1, 6), "hard", "550"), Rule(2.0, 7))
        store.save_embeddings("m", {"p1": b"\x00\x01"})
        run = store.last_runs()[0]
        reader = store.reader_state("ada@example.org")
        assert reader is not None
        times = [run.started, run.finished, reader.created, reader.updated,
                 store.votes("ada@example.org")[0].at, store.reader_changes("ada@example.org")[0][0]]
        assert all(isinstance(t, str) and ISO_TIME.match(t) for t in times), times
        assert run.run_date == "2031-01-06"
        assert store.bounce_summary("bob@example.org")["bounces"][0]["day"] == "2031-01-06"
        used = [row[0] for row in store.db.execute("SELECT used FROM embeddings")]
        assert len(used) == 1 and ISO_DAY.match(used[0])


def test_a_time_written_in_another_zone_compares_as_the_same_instant(state_db: Path) -> None:
    with Store.open(state_db) as store:
        store.record_uncertain([("ada@example.org", "<1@x>", ["p1"], "reply lost")])
        now = datetime.now(timezone.utc)
        east = timezone(timedelta(hours=5))
        assert store.uncertain_since((now - timedelta(minutes=5)).astimezone(east)) == {"ada@example.org": 1}
        assert store.uncertain_since((now + timedelta(minutes=5)).astimezone(east)) == {}


def test_a_postgresql_store_made_before_keeps_its_times_when_they_take_their_types(
        tmp_path: Path, pg_server, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    url = DatabaseURL(pg_server.new_database(), tmp_path / "local")
    with monkeypatch.context() as before:
        retype = next(n for n, m in enumerate(MIGRATIONS) if isinstance(m, Retype))
        before.setattr(schema, "MIGRATIONS", MIGRATIONS[:retype])  # the store as the release before the step left it
        with Store.open(url) as old:
            with old.transaction():  # as that release wrote a run (start_run and finish_run write later columns)
                old.db.execute("INSERT INTO runs (started, run_date, started_by, host, pid) "
                               "VALUES ('2031-01-06T07:00:00+00:00', '2031-01-06', 'one-off', 'h', 1)")
                old.db.execute("UPDATE runs SET finished = started, sent = 1")
            old.record_vote("ada@example.org", Paper(id="p1", title="T", abstract="A"), 1)
            with old.transaction():  # a delivery as that release recorded it (record_deliveries writes later columns)
                old.db.execute("INSERT INTO addresses (email) VALUES ('ada@example.org')")
                old.db.execute("INSERT INTO papers (id, title, first_seen) "
                               "VALUES ('p1', '', '2031-01-06T07:00:00+00:00')")
                old.db.execute("INSERT INTO messages (message_id, reader, created, status, papers) "
                               "SELECT '<1@x>', id, 1925535600, 'sent', 1 FROM addresses")
                old.db.execute("INSERT INTO sent (paper, reader) SELECT p.key, a.id FROM papers AS p, addresses AS a")
            assert _column_types(old)[("runs", "started")] == "text"
            was = (_run_times(old), old.votes("ada@example.org"), old.all_sent_ids())

    with Store.open(url) as now:
        assert _column_types(now)[("runs", "started")] == "timestamp with time zone"
        assert (_run_times(now), now.votes("ada@example.org"), now.all_sent_ids()) == was
        assert now._version() == len(MIGRATIONS)


def _run_times(store: Store) -> list[tuple[object, ...]]:
    return [tuple(row) for row in store.db.execute("SELECT started, finished, run_date, sent FROM runs")]


def test_on_sqlite_the_step_changes_nothing(tmp_path: Path) -> None:
    with Store.open(tmp_path / "state.db") as store:
        kinds = {row[1]: row[2] for row in store.db.execute("PRAGMA table_info(runs)")}
    assert kinds["started"] == "TEXT" and kinds["run_date"] == "TEXT"
    assert all(step.statements("sqlite") == [] for step in MIGRATIONS if isinstance(step, Retype))
