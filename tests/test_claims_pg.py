"""Sends on several hosts split one list by claiming readers (``SELECT ... FOR UPDATE SKIP LOCKED``):
plain ``digest send`` processes, no ``--shard``, against one PostgreSQL, deliver each reader's digest
once; a killed one's readers are taken over by the next run, at once.

Real parts: a PostgreSQL started by tests/pg_server.py, aiosmtpd on 127.0.0.1 counting what each
reader receives, ``digest send`` in processes of their own sharing nothing else.
"""

from __future__ import annotations

import re
import subprocess
import time

import pytest

from digest.claims import ReaderClaims
from digest.store import DatabaseURL, Store

from .pg_server import pg_server  # noqa: F401  (fixture)
from .test_crash import counting, env_for, processes, readers_file, send_command, wait_for  # noqa: F401  (fixtures)

WORKERS = 3
EXPECTED = {"2608.00001", "2608.00002", "2608.00003"}

pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'digest[postgres]')")


def start(subscribers, env, tmp_path, count: int = WORKERS) -> list[subprocess.Popen]:
    return [subprocess.Popen(send_command(subscribers), env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(count)]


def sent_by(output: str) -> int:
    found = re.search(r"^sent (\d+),", output, re.M)
    assert found, output
    return int(found[1])


def test_a_claimed_reader_is_skipped_by_another_send_until_the_first_ends(pg_server, tmp_path) -> None:  # noqa: F811
    url = DatabaseURL(pg_server.new_database(), tmp_path)
    Store.open(url).close()
    emails = [f"r{n}@example.org" for n in range(6)]
    with ReaderClaims(url) as first, ReaderClaims(url) as second:
        first.offer(emails)
        second.offer(emails)
        assert first.take(emails[:4]) == set(emails[:4])
        assert second.take(emails) == set(emails[4:])  # never waits: the others are skipped
        first.__exit__(None, None, None)  # a send ending (or killed): its claims go with its connection
        with ReaderClaims(url) as third:
            third.offer(emails)
            assert third.take(emails) == set(emails[:4])


def test_three_sends_without_shards_split_the_list_and_each_reader_gets_one_copy(
        counting, tmp_path, processes, pg_server) -> None:  # noqa: F811
    url = pg_server.new_database()
    env = env_for(counting.port, tmp_path, DIGEST_STATE_DB=url)
    subscribers = readers_file(tmp_path / "readers.toml", "r")
    counting.delay = 0.03
    # the relay holds every message until the three sends have connections open (each opens up to
    # 4 and two hold at most 8), so a send that starts late on a loaded machine still finds readers
    counting.gate = 2 * 4 + 1
    workers = start(subscribers, env, tmp_path)
    processes.extend(workers)
    started = time.monotonic()
    outputs = [worker.communicate(timeout=60) for worker in workers]

    assert [worker.returncode for worker in workers] == [0] * WORKERS, outputs
    assert time.monotonic() - started < 45
    assert not [err for _, err in outputs if "waiting for another digest send" in err]  # side by side
    shares = [sent_by(out) for out, _ in outputs]
    assert sum(shares) == 200 and min(shares) > 0, shares  # each took part of the list
    for n in range(300):
        address = f"r{n}@example.org"
        assert counting.copies(address) == (0 if n % 3 == 0 else 1), (address, counting.copies(address))
    with Store.open(DatabaseURL(url, tmp_path / "local")) as store:
        recorded = store.all_sent_ids()
    assert {address for address in recorded} == {f"r{n}@example.org" for n in range(300) if n % 3}
    assert all(papers == EXPECTED for papers in recorded.values())


def test_a_killed_sends_readers_are_taken_over_by_the_next_run_at_once(
        counting, tmp_path, processes, pg_server) -> None:  # noqa: F811
    url = pg_server.new_database()
    env = env_for(counting.port, tmp_path, DIGEST_STATE_DB=url)
    subscribers = readers_file(tmp_path / "readers.toml", "k")
    counting.delay = 0.05
    workers = start(subscribers, env, tmp_path)
    processes.extend(workers)
    assert wait_for(lambda: sum(len(copies) for copies in counting.got.values()) >= 20, 30)
    workers[0].kill()  # mid-send, holding its claims and its messages in flight
    outputs = [worker.communicate(timeout=60) for worker in workers[1:]]
    assert [worker.returncode for worker in workers[1:]] == [0, 0], outputs
    counting.delay = 0.0
    began = time.monotonic()

    after = subprocess.run(send_command(subscribers), env=env, cwd=tmp_path, capture_output=True, text=True,
                           timeout=60)

    assert after.returncode == 0, after.stderr
    assert time.monotonic() - began < 20 and "waiting for another digest send" not in after.stderr  # no lock to wait out
    with Store.open(DatabaseURL(url, tmp_path / "local")) as store:
        recorded = store.all_sent_ids()
    twice = []
    for n in range(300):
        address = f"k{n}@example.org"
        if n % 3 == 0:
            assert counting.copies(address) == 0
            continue
        assert 1 <= counting.copies(address) <= 2, (address, counting.copies(address))  # nothing lost
        assert recorded[address] == EXPECTED, address
        if counting.copies(address) == 2:
            twice.append(address)
    # only what the killed send had in flight: its 4 SMTP connections, and the answers of at most 25 ms
    # (one batch) not yet recorded; its other readers were either recorded (done) or never sent
    assert len(twice) <= 15, twice


def test_the_server_itself_probes_a_claiming_or_locking_connection_so_a_vanished_hosts_hold_ends_in_a_minute(
        pg_server, tmp_path) -> None:  # noqa: F811
    from digest.lock import ServerLock

    url = DatabaseURL(pg_server.new_database(), tmp_path)
    names = ("tcp_keepalives_idle", "tcp_keepalives_interval", "tcp_keepalives_count")
    with ReaderClaims(url) as claims, ServerLock(url) as lock:
        for conn in (claims.conn, lock.conn):  # the backend's end of the socket: the client's probes free nothing
            assert [conn.execute(f"SHOW {name}").fetchone()[0] for name in names] == ["30", "10", "3"]


def test_a_reader_another_send_had_meanwhile_is_not_sent_again_even_when_its_reply_was_lost(
        pg_server, tmp_path) -> None:  # noqa: F811
    from datetime import datetime, timezone

    from digest.sending import _sent_meanwhile

    class App:
        def start_of_today(self) -> datetime:
            return datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)

    url = DatabaseURL(pg_server.new_database(), tmp_path)
    with Store.open(url) as mine, Store.open(url) as other:
        other.record_uncertain([("ada@example.org", "<1@x>", ["p1"], "reply lost")])  # this morning's run
        recheck = _sent_meanwhile(App(), mine)  # this send decides: ada is due her one extra copy
        other.record_uncertain([("ada@example.org", "<2@x>", ["p1"], "reply lost")])  # another host had her first
        other.record_sent("bob@example.org", "<3@x>", ["p1"])
        assert recheck(["ada@example.org", "bob@example.org", "carol@example.org"]) == {
            "ada@example.org", "bob@example.org"}, "ada's reply was lost twice today: no third copy"
