"""PostgreSQL failing under the store: each failure is one line naming the database (never its
password) and what to do, and the store works again once the server does. A real server
(tests/pg_server.py); a closed port for a server that is not there."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from digest.errors import StoreError
from digest.store import DatabaseURL, Store
from digest.settings import default_state_db
from digest.store.journal import journal_path

from .conftest import FIXTURES
from .pg_server import pg_server  # noqa: F401  (fixture)
from .smtp_server import free_port
from .test_crash import counting, env_for, processes, readers_file, send_command, wait_for  # noqa: F401

EXPECTED = {"2608.00001", "2608.00002", "2608.00003"}

pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'digest[postgres]')")


def test_a_server_that_is_not_there_is_one_line_without_the_password(tmp_path) -> None:
    url = DatabaseURL(f"postgresql://digest:s3cret-pw@127.0.0.1:{free_port()}/digest", tmp_path)
    with pytest.raises(StoreError) as caught:
        Store.open(url)
    message = str(caught.value)
    assert "s3cret-pw" not in message and "\n" not in message
    assert message.startswith("the state database postgresql://digest:***@127.0.0.1:")
    assert "cannot be reached" in message and "DIGEST_STATE_DB" in message


@pytest.mark.parametrize("password", ["p", "refused", "pa%24s"])
def test_a_short_or_common_password_is_hidden_without_garbling_the_reason(tmp_path, password) -> None:
    url = DatabaseURL(f"postgresql://digest:{password}@127.0.0.1:{free_port()}/digest", tmp_path)
    with pytest.raises(StoreError) as caught:
        Store.open(url)
    message = str(caught.value)
    assert "port" in message and "***ort" not in message and "TCP/IP" in message  # "p" was masked in every word
    words = message.replace(",", " ").replace(")", " ").split()
    assert password not in words and password.replace("%24", "$") not in words
    assert ("Connection ***" in message) == (password == "refused")  # the password itself, as a word, still hidden


def test_digest_status_says_so_in_one_line_and_exits_non_zero(tmp_path, run_cli, monkeypatch) -> None:
    monkeypatch.setenv("DIGEST_STATE_DB", f"postgresql://digest:s3cret-pw@127.0.0.1:{free_port()}/digest")
    code, out, err = run_cli("status")
    assert code != 0 and "s3cret-pw" not in out + err and "Traceback" not in err
    assert err.strip().count("\n") == 0 and "cannot be reached" in err


def test_the_daemon_tries_again_later_when_the_server_is_out_of_reach(tmp_path, caplog) -> None:
    import logging

    from digest.schedule import Daemon
    from digest.settings import load_settings
    from digest.subscribers import subscribers_from_settings

    settings = load_settings(None, {
        "DIGEST_SOURCE": str(FIXTURES / "papers.jsonl"), "DIGEST_TO": "ada@example.org",
        "DIGEST_KEYWORDS": "exploration", "DIGEST_FROM": "d@example.com", "DIGEST_SMTP_HOST": "127.0.0.1",
        "DIGEST_SMTP_PORT": str(free_port()), "DIGEST_SMTP_SECURITY": "none",
        "DIGEST_STATE_DB": f"postgresql://digest:s3cret-pw@127.0.0.1:{free_port()}/digest"})
    daemon = Daemon(settings, subscribers_from_settings(settings))
    caplog.set_level(logging.INFO, logger="digest")

    daemon.run_once(slot="2026-11-23 07:00 UTC")

    assert "cannot be reached" in caplog.text and "will retry at" in caplog.text and "not retrying" not in caplog.text
    assert [job.id for job in daemon.scheduler.get_jobs()] == ["retry-2026-11-23 07:00 UTC"]
    assert "s3cret-pw" not in caplog.text


def test_a_dropped_connection_is_a_store_error_and_the_next_store_works(pg_server, tmp_path) -> None:  # noqa: F811
    url = DatabaseURL(pg_server.new_database(), tmp_path)
    with Store.open(url) as store, Store.open(url) as other:
        store.record_sent("ada@example.org", "<1@x>", ["p1"])
        pid = store.db.raw.info.backend_pid  # type: ignore[union-attr]
        other.db.execute("SELECT pg_terminate_backend(:pid)", {"pid": pid})
        with pytest.raises(StoreError, match="cannot be reached"):
            store.record_sent("ada@example.org", "<2@x>", ["p2"])
    with Store.open(url) as again:
        assert again.sent_ids("ada@example.org") == {"p1"}  # the failed write left nothing half-done


def test_a_statement_over_the_servers_timeout_is_one_line_naming_it(pg_server, tmp_path) -> None:  # noqa: F811
    url = DatabaseURL(pg_server.new_database() + "?options=-c%20statement_timeout%3D200", tmp_path)
    with Store.open(url) as store:
        with pytest.raises(StoreError, match="did not answer in time .*statement_timeout"):
            store.db.execute("SELECT pg_sleep(2)")
        assert store.counts()["messages"] == 0  # and the connection goes on


@pytest.mark.slow
def children(parent: int) -> list[int]:
    """The processes ``parent`` started (from /proc: no tool needed)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == parent:
                        found.append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    return found


def test_the_database_restarted_mid_send_loses_nothing_and_duplicates_at_most_once(
        counting, tmp_path, processes, pg_server) -> None:  # noqa: F811
    """The server stops at once (as a crash would) while a 300-reader send is handing messages
    over, and starts again: the send ends with one line or finishes through the journal; the
    next send completes the list.

    A send that does not end within 120 s has every thread's stack printed (faulthandler). That is
    how the hang this test used to hit was found: the recording thread, halting the queue when the
    store failed, dropped the end marks ``close`` had already queued (tests/test_journal_timer.py)."""
    url = pg_server.new_database()
    env = env_for(counting.port, tmp_path, DIGEST_STATE_DB=url, PYTHONFAULTHANDLER="1")
    subscribers = readers_file(tmp_path / "readers.toml", "r")
    counting.delay = 0.01
    first = subprocess.Popen(send_command(subscribers), env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    processes.append(first)
    assert wait_for(counting.receiving.is_set, 60)
    pg_server.restart()
    try:
        _, err = first.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        for pid in [*children(first.pid), first.pid]:  # faulthandler prints every thread's stack, then it ends
            os.kill(pid, signal.SIGABRT)
        _, err = first.communicate(timeout=30)
        pytest.fail(f"the send did not end within 120 s of the restart; where it waited:\n{err[-6000:]}")
    last = err.strip().splitlines()[-1] if err.strip() else ""
    assert first.returncode == 0 or (last.startswith("digest: error: the state database") and "cannot be reached" in last)
    assert "Traceback" not in err
    counting.delay = 0.0

    after = subprocess.run(send_command(subscribers), env=env, cwd=tmp_path, capture_output=True, text=True,
                           timeout=120)

    assert after.returncode == 0, after.stderr
    with Store.open(DatabaseURL(url, tmp_path / "data" / "digest")) as store:
        recorded = store.all_sent_ids()
    for n in range(300):
        address = f"r{n}@example.org"
        if n % 3 == 0:
            assert counting.copies(address) == 0
            continue
        assert 1 <= len(counting.got[address]) <= 2, (address, len(counting.got[address]))
        assert recorded[address] == EXPECTED, address


@pytest.mark.slow
def test_a_database_too_slow_for_its_statement_timeout_mid_send_is_one_line_and_no_duplicate(
        counting, tmp_path, processes, pg_server) -> None:  # noqa: F811
    """The database stops answering writes in time while a send is handing messages over: another
    session holds the store's write lock, and the send's ``statement_timeout`` (0.5 s, set in the
    URL as an operator would) cancels its next write. The send stops with one line naming the
    setting and a non-zero exit; the next run replays what was accepted and sends the rest, each
    digest exactly once."""
    import psycopg

    from digest.store.postgres import WRITE_LOCK

    url = pg_server.new_database()
    env = env_for(counting.port, tmp_path, DIGEST_STATE_DB=url + "?options=-c%20statement_timeout%3D500")
    subscribers = readers_file(tmp_path / "readers.toml", "s")
    counting.delay = 0.05
    first = subprocess.Popen(send_command(subscribers), env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    processes.append(first)
    assert wait_for(counting.receiving.is_set, 60)
    with psycopg.connect(url, autocommit=True) as blocker:
        blocker.execute("BEGIN")
        blocker.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))  # a long write elsewhere
        _, err = first.communicate(timeout=60)
        blocker.execute("ROLLBACK")
    counting.delay = 0.0
    errors = [line for line in err.splitlines() if line.startswith("digest: error")]
    assert first.returncode != 0 and "Traceback" not in err
    assert len(errors) == 1 and errors[0].startswith("digest: error: the state database postgresql://"), err
    assert "did not answer in time" in errors[0] and "statement_timeout" in errors[0]
    journal = journal_path(DatabaseURL(url, default_state_db().parent))  # where the send's process kept answers
    kept = journal.exists() and journal.read_text(encoding="utf-8").strip()
    assert ("are kept in" in errors[0]) == bool(kept), (errors[0], kept)  # whichever query timed out first
    sent_before = sum(counting.copies(f"s{n}@example.org") for n in range(300))
    assert 0 < sent_before < 200, sent_before  # it stopped mid-send

    after = subprocess.run(send_command(subscribers), env=env, cwd=tmp_path, capture_output=True, text=True,
                           timeout=120)

    assert after.returncode == 0, after.stderr
    with Store.open(DatabaseURL(url, tmp_path / "local")) as store:
        recorded = store.all_sent_ids()
    for n in range(300):
        address = f"s{n}@example.org"
        assert counting.copies(address) == (0 if n % 3 == 0 else 1), (address, counting.copies(address))
        if n % 3:
            assert recorded[address] == EXPECTED, address
