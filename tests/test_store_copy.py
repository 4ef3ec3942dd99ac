"""``digest store copy``: a SQLite history moved into PostgreSQL, and a send on the copy never resends a paper.

A real aiosmtpd server on 127.0.0.1 (tests/smtp_server.py) and a real PostgreSQL
server (tests/pg_server.py).
"""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path

import pytest

from digest.app import Digest
from digest.errors import StoreError
from digest.model import Paper, Subscriber
from digest.settings import load_settings
from digest.store import MIGRATIONS, DatabaseURL, KeptDigest, KeptPick, Store
from digest.store.bounces import BounceEvent, Rule
from digest.store.dialect import Retype

from .conftest import FIXTURES
from .pg_server import pg_server, state_db  # noqa: F401  (fixtures)

NEW = {"id": "2608.00099", "title": "Reward Models for Exploration with Diffusion Language Models",
       "abstract": "A reward model guides exploration; diffusion language models write the plans."}
OLD_TITLES = [json.loads(line)["title"] for line in (FIXTURES / "papers.jsonl").read_text().splitlines()]
TYPED = [column for step in MIGRATIONS if isinstance(step, Retype) for column in step.columns]
READERS = [Subscriber("ada@example.org", ("reward model", "exploration")),
           Subscriber("bob@example.org", ("diffusion", "language model*"))]


def settings_for(server, state_db: str):
    return load_settings(None, {
        "DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(server.port), "DIGEST_SMTP_SECURITY": "none",
        "DIGEST_FROM": "digest@example.com", "DIGEST_STATE_DB": state_db, "DIGEST_MIN_SCORE": "1",
    })


def test_a_send_on_the_copy_never_resends_a_paper(server, inbox, tmp_path, pg_server, run_cli, monkeypatch) -> None:
    sqlite_db = tmp_path / "state.db"
    report = Digest(settings_for(server, str(sqlite_db))).send(READERS, source=str(FIXTURES / "papers.jsonl"))
    assert sorted(report.sent) == ["ada@example.org", "bob@example.org"]
    with Store.open(sqlite_db) as store:
        before = store.all_sent_ids()
    url = pg_server.new_database()
    monkeypatch.setenv("DIGEST_STATE_DB", str(sqlite_db))

    code, out, err = run_cli("store", "copy", "--to", url)

    assert (code, err) == (0, "")
    assert "sent: " in out and "runs: 1 rows" in out
    with Store.open(DatabaseURL(url, tmp_path / "local")) as copy:
        assert copy.all_sent_ids() == before
    received = len(inbox.messages)
    listing = tmp_path / "tomorrow.jsonl"  # the same papers again, and one new one for both readers
    listing.write_text((FIXTURES / "papers.jsonl").read_text() + json.dumps(NEW) + "\n")
    tomorrow = Digest(settings_for(server, url), clock=lambda: time.time() + 86_400)

    again = tomorrow.send(READERS, source=str(listing))

    assert sorted(again.sent) == ["ada@example.org", "bob@example.org"]
    for message in inbox.messages[received:]:
        text = message.get_body(("plain",)).get_content()
        assert NEW["title"] in text
        assert not any(title in text for title in OLD_TITLES), "a paper of the SQLite history came again"
    with Store.open(DatabaseURL(url, tmp_path / "local")) as copy:
        assert copy.all_sent_ids() == {email: ids | {NEW["id"]} for email, ids in before.items()}
        assert [run.id for run in copy.last_runs()] == [2, 1]  # the copy's runs go on from the copied keys


def test_every_table_comes_over_row_for_row(tmp_path, pg_server) -> None:
    source = tmp_path / "state.db"
    day = date(2031, 1, 6)
    with Store.open(source) as store:
        store.record_deliveries([("ada@example.org", "<1@x>", ["p1", "p2"], None)])
        store.set_status("bob@example.org", "paused")
        store.record_vote("ada@example.org", Paper(id="p1", title="T", abstract="A"), 1)
        store.archive_many([("ada@example.org", "<1@x>", day, "<p>old page</p>")])
        store.db.execute("INSERT INTO archive (email, message_id, day, html, created) "
                         "VALUES ('old@example.org', '<0@x>', '2031-01-05', '<p>plain, from before</p>', '2031-01-05T07:30:00+00:00')")
        store.archive_digests([KeptDigest("ada@example.org", "<1@x>", day, "sample", day, "t1",
                                          (KeptPick(Paper(id="p1", title="T", abstract="A"), 1.0, 1),), terms=())])
        store.save_embeddings("m", {"p1": b"\x00\x01"})
        store.remember_listing([Paper(id="p1", title="T", abstract="A")])
        store.record_uncertain([("bob@example.org", "<2@x>", ["p2"], "lost")])
        store.finish_run(store.start_run("2031-01-06", sources=["hf"], failed_sources=["arxiv:cs.LG"]), 1, 0, 0)
        store.record_bounce(BounceEvent("k1", "bob@example.org", day, "hard", "550"), Rule(2.0, 7))
        store.remember_papers([Paper(id="p1", title="T", abstract="A")])
        counts = {t: store.db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in (
            "addresses", "papers", "messages", "sent", "readers", "reader_changes", "votes", "archive",
            "archive_records", "embeddings", "listed", "reader_marks", "uncertain", "runs")}
    from digest.store.copy import copy_store

    url = DatabaseURL(pg_server.new_database(), tmp_path / "local")
    with Store.open(source) as store, Store.open(url) as target:
        copied = copy_store(store, target)
        assert {t: copied[t] for t in counts} == counts
        assert target.archived("ada@example.org", "2031-01-06") == "<p>old page</p>"
        assert target.archived("old@example.org", "2031-01-05") == "<p>plain, from before</p>"
        assert target.export_reader("ada@example.org")["votes"][0]["paper_id"] == "p1"
        assert target.kept_digest("ada@example.org", "2031-01-06") is not None
        assert [run.read_sources() for run in target.served_runs()] == [{"hf"}]  # what it read, for the look-back
        assert [run.sources_failed() for run in target.served_runs()] == [{"arxiv:cs.LG"}]  # for digest status
        for table, column, *_ in TYPED:  # timestamptz and date on the copy, the same ISO text read back
            assert _values(target, table, column) == _values(store, table, column), (table, column)


def _values(store: Store, table: str, column: str) -> list[object]:
    return sorted((row[0] for row in store.db.execute(f"SELECT {column} FROM {table}")),
                  key=lambda value: (value is None, str(value)))


def test_a_copy_into_a_database_with_a_history_is_refused(tmp_path, pg_server, run_cli, monkeypatch) -> None:
    source = tmp_path / "state.db"
    with Store.open(source) as store:
        store.record_sent("ada@example.org", "<1@x>", ["p1"])
    url = pg_server.new_database()
    monkeypatch.setenv("DIGEST_STATE_DB", str(source))
    assert run_cli("store", "copy", "--to", url)[0] == 0

    code, out, err = run_cli("store", "copy", "--to", url)

    assert code != 0 and err.count("\n") == 1 and "already holds data (" in err and "Traceback" not in err


HELD = {  # data a target may hold without any delivery history
    "suppressions": "INSERT INTO suppressions (email, reason, at) VALUES ('bob@example.org', 'complaint', "
                    "'2031-01-06T07:00:00+00:00')",
    "signup_holds": "INSERT INTO signup_holds (email, keywords, created) VALUES ('cy@example.org', '[]', 1.0)",
    "keyword_hints": "INSERT INTO keyword_hints (email, at, hints) VALUES ('cy@example.org', 1.0, '[]')",
}


@pytest.mark.parametrize("table", HELD)
def test_a_copy_into_a_target_holding_any_data_is_refused_naming_the_table(tmp_path, state_db, table) -> None:
    """Not only a delivery history: a copy merges nothing, so a target with a suppression (say) is refused
    before anything is written, instead of failing on a duplicate key or quietly mixing two stores."""
    from digest.store.copy import copy_store

    source = tmp_path / "source.db"
    with Store.open(source) as store:
        store.record_sent("ada@example.org", "<1@x>", ["p1"])
        store.db.execute(HELD["suppressions"])
    with Store.open(state_db) as target:
        target.db.execute(HELD[table])

    with Store.open(source) as store, Store.open(state_db) as target:
        with pytest.raises(StoreError, match=rf"already holds data \({table}\); copy into an empty database"):
            copy_store(store, target)
        assert target.all_sent_ids() == {}


def test_a_copy_waits_for_a_send_already_running_on_the_target_and_then_gives_up(tmp_path, pg_server, run_cli,
                                                                                    monkeypatch) -> None:
    """The copy takes the target's whole-list lock alone, as compact does: a send on another host that holds
    it shared may have read the empty ledger, and would send again what the copied history says went out."""
    from digest.lock import send_lock

    source = tmp_path / "state.db"
    with Store.open(source) as store:
        store.record_sent("ada@example.org", "<1@x>", ["p1"])
    url = pg_server.new_database()
    monkeypatch.setenv("DIGEST_STATE_DB", str(source))

    with send_lock(DatabaseURL(url, tmp_path / "local"), together=True):  # a plain send on the target, running
        code, out, err = run_cli("store", "copy", "--to", url, "--wait", "1")

    assert code == 1 and err.count("\n") == 1 and "another digest send" in err and "Traceback" not in err
    with Store.open(DatabaseURL(url, tmp_path / "local")) as target:
        assert target.all_sent_ids() == {}


def test_a_time_postgresql_cannot_read_stops_the_copy_naming_the_table(tmp_path, pg_server, run_cli,
                                                                        monkeypatch) -> None:
    source = tmp_path / "state.db"
    with Store.open(source) as store:
        store.record_sent("ada@example.org", "<1@x>", ["p1"])
        store.db.execute("INSERT INTO suppressions (email, reason, at) VALUES ('bob@example.org', 'hard', 'soon')")
    url = pg_server.new_database()
    monkeypatch.setenv("DIGEST_STATE_DB", str(source))

    code, out, err = run_cli("store", "copy", "--to", url)

    assert code != 0 and err.count("\n") == 1 and "Traceback" not in err
    assert "suppressions" in err and "soon" in err
    with Store.open(DatabaseURL(url, tmp_path / "local")) as target:  # nothing half-copied
        assert target.all_sent_ids() == {}


def test_a_copy_target_that_cannot_be_reached_is_named_as_the_to_option(tmp_path, run_cli, monkeypatch) -> None:
    with Store.open(tmp_path / "state.db") as store:
        store.record_sent("ada@example.org", "<1@x>", ["p1"])
    monkeypatch.setenv("DIGEST_STATE_DB", str(tmp_path / "state.db"))

    code, out, err = run_cli("store", "copy", "--to", "postgresql://digest:hunter2@127.0.0.1:1/digest")

    assert code == 1 and err.count("\n") == 1 and "hunter2" not in err
    assert "cannot be reached" in err and "check that the server is running and --to" in err
    assert "DIGEST_STATE_DB" not in err


@pytest.mark.parametrize("url", ["postgresql://digest:hunter/2@db.example.org/digest",
                                 "postgresql://digest:hunter2@db.example.org:notaport/digest",
                                 "postgresql://digest:hun@ter2@db.example.org/digest"])
def test_a_to_url_whose_password_ends_the_host_part_early_is_one_line(tmp_path, run_cli, monkeypatch, url) -> None:
    """As DIGEST_STATE_DB is: it was urllib's ValueError traceback ("Port could not be cast to integer")."""
    with Store.open(tmp_path / "state.db") as store:
        store.record_sent("ada@example.org", "<1@x>", ["p1"])
    monkeypatch.setenv("DIGEST_STATE_DB", str(tmp_path / "state.db"))

    code, out, err = run_cli("store", "copy", "--to", url)

    assert code == 1 and err.count("\n") == 1 and "hunter" not in err and "ter2" not in err
    assert err.startswith("digest: error: --to: cannot tell the host from the password: percent-encode /")
