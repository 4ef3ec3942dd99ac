"""A PostgreSQL server or network that stalls (the backend stopped, a partition) never holds a host
for ever: a statement the server has not answered within ``STALL_SECONDS`` (or the session's
statement_timeout and 10 s more) is a store error, as a dropped connection is, and the send
goes on to its journal and its end. A real server (tests/pg_server.py), its backend SIGSTOPped."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from digest.claims import ReaderClaims
from digest.errors import StoreError
from digest.store import DatabaseURL, Store

from .pg_server import pg_server  # noqa: F401  (fixture)

pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'digest[postgres]')")


@contextmanager
def stopped(pid: int) -> Iterator[None]:
    """The server process ``pid`` stopped (its kernel still acknowledges: no keepalive notices)."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def within(seconds: float, call) -> BaseException | None:
    """What ``call`` raised, run on a thread given ``seconds`` (it fails the test if it is still waiting)."""
    raised: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
            raised.append(None)
        except BaseException as err:  # noqa: BLE001
            raised.append(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert raised, f"still waiting for the stalled server after {seconds} s"
    return raised[0]


@pytest.fixture
def quick_stall(monkeypatch) -> None:
    monkeypatch.setattr("digest.store.postgres.STALL_SECONDS", 1.0, raising=False)


def test_a_write_the_stalled_server_never_answers_is_a_store_error(pg_server, tmp_path, quick_stall) -> None:  # noqa: F811
    url = DatabaseURL(pg_server.new_database(), tmp_path)
    with Store.open(url) as store:
        with stopped(store.db.raw.info.backend_pid):  # type: ignore[union-attr]
            started = time.monotonic()
            err = within(15, lambda: store.record_sent("ada@example.org", "<1@x>", ["p1"]))
        assert isinstance(err, StoreError) and "cannot be reached" in str(err) and "stalled" in str(err), err
        assert time.monotonic() - started < 10
    with Store.open(url) as again:
        assert again.counts()["messages"] == 0


def test_a_claim_the_stalled_server_never_answers_is_a_store_error(pg_server, tmp_path, quick_stall) -> None:  # noqa: F811
    url = DatabaseURL(pg_server.new_database(), tmp_path)
    Store.open(url).close()
    with ReaderClaims(url) as claims:
        claims.offer(["ada@example.org", "bo@example.org"])
        with stopped(claims.conn.info.backend_pid):
            err = within(15, lambda: claims.take(["ada@example.org"]))
        assert isinstance(err, StoreError) and "stalled" in str(err), err


def test_a_session_statement_timeout_longer_than_the_stall_limit_is_waited_for(pg_server, tmp_path, quick_stall) -> None:  # noqa: F811
    url = DatabaseURL(pg_server.new_database() + "?options=-c%20statement_timeout%3D3000", tmp_path)
    with Store.open(url) as store:
        store.db.execute("SELECT pg_sleep(2)")  # past 1 s, within the server's own 3 s: answered, not cut
        assert store.counts()["messages"] == 0


def test_a_host_frozen_inside_a_write_does_not_hold_the_other_hosts_writes(pg_server, tmp_path, monkeypatch) -> None:  # noqa: F811
    """Host A stops (SIGSTOP, a paused VM whose kernel still answers) between the statements of a write
    transaction, holding the store's write turn; host B's writes go on once the server has ended A's
    idle transaction, and A, when it wakes, finds its session gone (a store error: its journal)."""
    monkeypatch.setattr("digest.store.postgres.IDLE_IN_WRITE_SECONDS", 1.0, raising=False)
    url = DatabaseURL(pg_server.new_database(), tmp_path)
    with Store.open(url) as frozen, Store.open(url) as other:
        frozen.db.begin()  # holds the write turn, then never says another word
        err = within(15, lambda: other.record_sent("ada@example.org", "<1@x>", ["p1"]))
        assert err is None, err
        assert other.sent_ids("ada@example.org") == {"p1"}
        with pytest.raises(StoreError):
            frozen.db.execute("SELECT 1")  # its transaction, and session, are gone


def test_a_send_ending_lets_go_of_a_stalled_claiming_connection_in_seconds(pg_server, tmp_path) -> None:  # noqa: F811
    """The last word to the server (ROLLBACK of the claims, the send locks' unlock) is not waited for over
    the stall limit: the server frees them anyway when the session ends."""
    url = DatabaseURL(pg_server.new_database(), tmp_path)
    Store.open(url).close()
    claims = ReaderClaims(url).__enter__()
    claims.offer(["ada@example.org"])
    assert claims.take(["ada@example.org"]) == {"ada@example.org"}
    with stopped(claims.conn.info.backend_pid):
        assert within(15, lambda: claims.__exit__(None, None, None)) is None
