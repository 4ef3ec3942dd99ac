"""Limits that hold across processes: the SMTP rate and the arXiv spacing, kept in the state store.

Measured as an operator meets them: four real shards (or four processes on one
fetcher each) against one local server, counting what arrives in any window.
The rates are scaled up so the tests are short: 600 a minute is at most 11 in
any second, as 60 a minute is at most 61 in any minute.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from digest.limits import LocalTurns, Turns
from digest.store import Store

from .conftest import FIXTURES
from .http_server import Reply
from .pg_server import pg_server  # noqa: F401  (fixture)
from .smtp_server import free_port

RSS = (FIXTURES / "arxiv_rss.xml").read_bytes()


class Arrivals:
    """A real aiosmtpd handler that notes when each message arrived."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.recipients: list[str] = []
        self._lock = threading.Lock()

    async def handle_MAIL(self, server, session, envelope, address, options):  # noqa: N802
        with self._lock:
            self.times.append(time.monotonic())  # a transaction begins: the sender's turn has come
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        with self._lock:
            self.recipients += envelope.rcpt_tos
        return "250 OK"


def most_in_any_window(times: list[float], window: float) -> int:
    times = sorted(times)
    return max((sum(1 for t in times[i:] if t - start <= window) for i, start in enumerate(times)), default=0)


def clean_env(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}, **extra}


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """DIGEST_STATE_DB for processes that share a store: a SQLite file, or a PostgreSQL database (as
    processes on several hosts would)."""
    if request.param == "sqlite":
        return str(tmp_path / "state.db")
    return str(request.getfixturevalue("pg_server").new_database())


def test_four_shards_together_keep_one_smtp_rate(tmp_path: Path, shared_store: str) -> None:
    from aiosmtpd.controller import Controller

    arrivals = Arrivals()
    controller = Controller(arrivals, hostname="127.0.0.1", port=free_port())
    controller.start()
    readers = [f"reader{n}@example.org" for n in range(30)]
    subscribers = tmp_path / "subscribers.toml"
    subscribers.write_text("".join(f'[[subscribers]]\nemail = "{e}"\nkeywords = ["reward model"]\n\n' for e in readers))
    env = clean_env(DIGEST_SMTP_HOST="127.0.0.1", DIGEST_SMTP_PORT=str(controller.port), DIGEST_SMTP_SECURITY="none",
                    DIGEST_FROM="digest@example.com", DIGEST_SUBSCRIBERS=str(subscribers), DIGEST_MIN_SCORE="1",
                    DIGEST_STATE_DB=shared_store, DIGEST_SMTP_RATE="600", DIGEST_SMTP_CONNECTIONS="2")
    command = [sys.executable, "-m", "digest", "send", "--source", str(FIXTURES / "papers.jsonl"), "--shard"]
    try:
        procs = [subprocess.Popen([*command, f"{k}/4"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for k in (1, 2, 3, 4)]
        results = [proc.communicate(timeout=120) + (proc.returncode,) for proc in procs]
    finally:
        controller.stop()
    assert [code for _, _, code in results] == [0] * 4, results
    assert not [err for _, err, _ in results if "holds for this process only" in err]  # the store's bucket, shared
    assert sorted(arrivals.recipients) == sorted(readers)
    # 600 a minute: 10 turns a second, and the first of the next. Turns are kept to the millisecond, but the
    # first message of each new connection reaches the server after its greeting, about one 0.1 s turn late
    # here, and can land beside the next turn's: two messages of slack at this scale. At 60 a minute the
    # same delay is a tenth of a turn (at most 61 in any minute). Each process pacing itself alone: some 25
    # (its 7 or 8 readers in under a second, the four at once). 30 readers: the processes overlap for seconds.
    assert most_in_any_window(arrivals.times, 1.0) <= 13
    assert arrivals.times[-1] - arrivals.times[0] >= 2.5  # 30 messages, one every 0.1 s, whatever the shards


FETCH = """
import sys
from digest.settings import load_settings
from digest.sources.http import Fetcher
fetcher = Fetcher.from_settings(load_settings())
for _ in range(2):
    fetcher.get(sys.argv[1])
fetcher.close()
"""


def test_four_processes_make_one_arxiv_request_per_interval(tmp_path: Path, shared_store: str) -> None:
    from .http_server import start

    server = start()
    server.route("/rss/cs.LG", Reply(body=RSS))
    base = server.url
    env = clean_env(DIGEST_ARXIV_BASE_URL=base, DIGEST_ARXIV_DELAY="0.5", DIGEST_STATE_DB=shared_store,
                    DIGEST_CACHE_DIR=str(tmp_path / "cache"))
    try:
        procs = [subprocess.Popen([sys.executable, "-c", FETCH, f"{base}/rss/cs.LG"], env=env, stderr=subprocess.PIPE,
                                  text=True) for _ in range(4)]
        errors = [proc.communicate(timeout=60)[1] for proc in procs]
    finally:
        server.shutdown()
    assert [proc.returncode for proc in procs] == [0] * 4, errors
    times = sorted(request.at for request in server.requests)
    assert len(times) == 8
    # The turns space the requests' starts by 0.5 s to the millisecond; each reaches the server 5-80 ms
    # after its start on a loaded 2-core machine (over 200 ms under faketime with the suite on two
    # workers), so one gap can shrink by that much while its neighbours grow. Unshared pacing (each
    # process alone) would send four at once: gaps of a few milliseconds.
    assert min(later - earlier for earlier, later in zip(times, times[1:])) >= 0.2
    assert most_in_any_window(times, 0.85) <= 2  # never three requests within two intervals
    assert times[-1] - times[0] >= 7 * 0.5 - 0.3


def test_a_turn_waits_with_the_store_unlocked(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    turns = Turns(db, "smtp", interval=30.0)
    assert turns.take() == 0.0
    assert 29.0 < turns.take() <= 30.0  # reserved: the caller sleeps 30 s, the store is not held meanwhile
    other = sqlite3.connect(db, timeout=0)
    other.execute("BEGIN IMMEDIATE")  # would fail at once ("database is locked") if the waiter held it
    other.execute("COMMIT")
    other.close()


def test_a_process_killed_while_waiting_or_inside_the_transaction_leaves_nothing_stuck(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    Store.open(db).close()
    waiter = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom pathlib import Path\n"
                               "from digest.limits import Turns, wait_for_turn\n"
                               "turns = Turns(Path(sys.argv[1]), 'smtp', 1.0)\n"
                               "while True: wait_for_turn(turns)\n", str(db)], env=clean_env())
    holder = subprocess.Popen([sys.executable, "-c", "import sqlite3, sys, time\n"
                               "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
                               "db.execute('BEGIN IMMEDIATE'); db.execute('UPDATE buckets SET next_at = 1e12')\n"
                               "print('holding', flush=True); time.sleep(600)\n", str(db)],
                              env=clean_env(), stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
    time.sleep(0.5)
    for proc in (waiter, holder):
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    # at most the turns the dead waiter had reserved: none if the holder locked the store before the waiter's
    # first turn, else the one it was waiting for and the next (a loaded machine starts the waiter first);
    # the holder's uncommitted 1e12 would be a wait of decades
    assert Turns(db, "smtp", 1.0).take() <= 2.0


def test_on_postgresql_a_turn_waits_with_the_store_unlocked(tmp_path: Path, pg_server) -> None:  # noqa: F811
    import psycopg

    from digest.store import DatabaseURL
    from digest.store.postgres import WRITE_LOCK

    url = pg_server.new_database()
    turns = Turns(DatabaseURL(url, tmp_path), "smtp", interval=30.0)
    assert turns.take() == 0.0
    assert 29.0 < turns.take() <= 30.0
    with psycopg.connect(url, autocommit=True) as other:  # any host's writer gets the store's write lock at once
        assert other.execute("SELECT pg_try_advisory_lock(%s)", (WRITE_LOCK,)).fetchone() == (True,)
        ahead = "SELECT next_at - extract(epoch FROM clock_timestamp()) FROM buckets WHERE name = 'smtp'"
        assert 29.0 < other.execute(ahead).fetchone()[0] <= 60  # on the server's clock, which the bucket keeps


def test_on_postgresql_a_process_killed_inside_the_transaction_leaves_nothing_stuck(tmp_path: Path,
                                                                                    pg_server) -> None:  # noqa: F811
    from digest.store import DatabaseURL
    from digest.store.postgres import WRITE_LOCK

    url = pg_server.new_database()
    Store.open(DatabaseURL(url, tmp_path)).close()
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time, psycopg\n"
                               "db = psycopg.connect(sys.argv[1], autocommit=True)\n"
                               "db.execute('BEGIN'); db.execute('SELECT pg_advisory_xact_lock(%s)', (int(sys.argv[2]),))\n"
                               "db.execute('INSERT INTO buckets VALUES (%s, 1e12)', ('smtp',))\n"
                               "print('holding', flush=True); time.sleep(600)\n", url, str(WRITE_LOCK)],
                              env=clean_env(), stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    started = time.monotonic()
    assert Turns(DatabaseURL(url, tmp_path), "smtp", 1.0).take() == 0.0  # its row was never committed
    assert time.monotonic() - started < 5  # and its lock went with its connection


def test_a_bucket_stepped_far_ahead_by_the_clock_starts_again_from_now(tmp_path: Path) -> None:
    with Store.open(tmp_path / "state.db") as store:
        assert store.take_turn("smtp", 1.0, lambda: 1_000_000.0) == 1_000_000.0
        assert store.take_turn("smtp", 1.0, lambda: 1_000_000.0) == 1_000_001.0  # one turn per interval
        assert store.take_turn("smtp", 1.0, lambda: 1_000_010.0) == 1_000_010.0  # idle time is not saved up
        assert store.take_turn("smtp", 1.0, lambda: 100.0) == 100.0  # the clock went back hours: not stuck until then
        assert store.take_turn("arxiv", 3.0, lambda: 100.0) == 100.0  # each bucket on its own


def test_the_clock_is_injected(tmp_path: Path) -> None:
    now = [5_000.0]
    turns = Turns(tmp_path / "state.db", "http:export.arxiv.org", 3.0, clock=lambda: now[0])
    assert [turns.take(), turns.take(), turns.take()] == [0.0, 3.0, 6.0]
    now[0] += 100
    assert turns.take() == 0.0


def test_a_store_that_cannot_be_written_keeps_the_limit_for_this_process(tmp_path: Path, caplog) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    turns = Turns(blocker / "state.db", "smtp", 10.0)
    assert turns.take() == 0.0 and 9.0 < turns.take() <= 10.0
    assert "holds for this process only" in caplog.text


def test_local_turns_space_the_threads_of_one_process() -> None:
    now = [0.0]
    turns = LocalTurns(2.0, clock=lambda: now[0])
    assert [turns.take(), turns.take()] == [0.0, 2.0]


def test_a_turn_is_reserved_from_the_time_the_lock_is_had_not_the_time_it_was_asked_for(tmp_path: Path) -> None:
    """A process that waits for the store's write lock must not reserve a turn in the past: the next
    process could then go less than an interval after it."""
    db = tmp_path / "state.db"
    Store.open(db).close()
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # another process inside its short transaction, slow for once
    released: list[float] = []

    def release() -> None:
        time.sleep(0.5)
        released.append(time.time())
        holder.execute("COMMIT")

    thread = threading.Thread(target=release)
    thread.start()
    with Store.open(db) as store:
        turn = store.take_turn("http:export.arxiv.org", 3.0, time.time)
    thread.join()
    holder.close()
    assert turn >= released[0] - 0.05


def test_on_postgresql_hosts_whose_clocks_differ_still_keep_one_turn_per_interval(tmp_path: Path,
                                                                                  pg_server) -> None:  # noqa: F811
    from digest.store import DatabaseURL

    url = DatabaseURL(pg_server.new_database(), tmp_path)
    behind = Turns(url, "smtp", 1.0)  # this host's clock is right
    ahead = Turns(url, "smtp", 1.0, clock=lambda: time.time() + 300)  # that one's runs five minutes fast
    waits = [behind.take(), ahead.take(), behind.take()]
    assert waits[0] == 0.0
    assert 0.5 < waits[1] <= 1.0 and 1.5 < waits[2] <= 2.0, waits  # one turn a second between them, not three at once
