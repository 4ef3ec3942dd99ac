"""A send's claims and locks on PostgreSQL are a lease (``digest.lease``): a live host renews it, a
frozen host's (SIGSTOP: its kernel still answers keepalives) goes to the other hosts after the lease,
and the frozen host, on waking, hands no further message to the SMTP server.

Real parts: a PostgreSQL started by tests/pg_server.py, the holder a process of its own that is
really stopped, aiosmtpd on 127.0.0.1 for the sender's side.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from digest.claims import ReaderClaims
from digest.errors import StoreError
from digest.lease import Lease
from digest.sending import PRODUCER_MIN
from digest.store import DatabaseURL, Store

from .pg_server import pg_server  # noqa: F401  (fixture)
from .test_crash import counting, env_for, processes, readers_file, send_command, wait_for  # noqa: F401  (fixtures)

pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'digest[postgres]')")

EMAILS = ["a@example.org", "b@example.org", "c@example.org"]
LEASE = 1.0

# another host's send: claims two readers under a lease of LEASE seconds, then asks before each of its
# "messages" (every 50 ms) whether it still holds them, as the sender threads do
HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from digest.claims import ReaderClaims
    from digest.errors import StoreError
    from digest.lease import Lease
    from digest.store import DatabaseURL

    url = DatabaseURL(sys.argv[1], Path(sys.argv[2]))
    lease = Lease(url, float(sys.argv[3]))
    with ReaderClaims(url) as claims:
        claims.offer(sys.argv[4:])
        taken = claims.take(sys.argv[4:6])
        claims.keep(lease)
        lease.start()
        print("claimed", *sorted(taken), flush=True)
        try:
            while True:
                lease.check()
                time.sleep(0.05)
        except StoreError as err:
            print("stopped:", err, flush=True)
        finally:
            lease.stop()
""")


def free_now(url: DatabaseURL) -> set[str]:
    """What a send starting now can claim."""
    with ReaderClaims(url) as claims:
        claims.offer(EMAILS)
        return claims.take(EMAILS)


def eventually(seconds: float, ask):
    deadline = time.monotonic() + seconds
    while True:
        found = ask()
        if found or time.monotonic() >= deadline:
            return found
        time.sleep(0.1)


@pytest.fixture
def holder(pg_server, tmp_path):  # noqa: F811
    url = DatabaseURL(pg_server.new_database(), tmp_path)
    Store.open(url).close()
    child = subprocess.Popen([sys.executable, "-c", HOLDER, url.url, str(tmp_path), str(LEASE), *EMAILS],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().split() == ["claimed", *EMAILS[:2]]
        yield url, child
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGCONT)
            child.kill()
            child.communicate(timeout=5)


def test_a_live_host_keeps_its_claims_past_the_lease(holder) -> None:
    url, _ = holder
    time.sleep(3 * LEASE)  # renewed meanwhile

    assert free_now(url) == {EMAILS[2]}


def test_a_frozen_hosts_claims_go_to_another_send_after_the_lease_and_it_stops_on_waking(holder) -> None:
    url, child = holder
    os.kill(child.pid, signal.SIGSTOP)  # frozen, not dead: its socket stays open, its kernel answers
    frozen = time.monotonic()

    assert eventually(3 * LEASE + 2, lambda: free_now(url) == set(EMAILS)), "the frozen host still holds them"
    assert time.monotonic() - frozen < 3 * LEASE + 2
    os.kill(child.pid, signal.SIGCONT)
    out, err = child.communicate(timeout=5)  # it stops by itself, before its next message
    assert out.startswith("stopped: the state database ") and "it stopped before its next message" in out, (out, err)


# a send on another host as ``Session`` runs one: the lease is kept before the first claim, then the
# readers are ranked (here: the CPU kept busy) before any message goes out, for as long as that takes
BUSY_HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from digest.claims import ReaderClaims
    from digest.lease import Lease
    from digest.store import DatabaseURL

    url = DatabaseURL(sys.argv[1], Path(sys.argv[2]))
    lease = Lease(url, float(sys.argv[3]))
    with ReaderClaims(url) as claims:
        claims.offer(sys.argv[4:])
        claims.keep(lease)
        taken = claims.take(sys.argv[4:6])
        print("claimed", *sorted(taken), flush=True)
        try:
            ranked = 0
            while True:  # ranking, rendering, embedding: no first message yet
                ranked += sum(range(1000))
        finally:
            lease.stop()
""")


def test_a_servers_shorter_idle_in_transaction_limit_does_not_end_a_live_sends_claims(pg_server, tmp_path) -> None:  # noqa: F811
    """The claims are one open transaction, but the claiming connection sets its own limit (the lease): a
    database default shorter than the renewals (100 ms, renewed every LEASE / 6) does not end them."""
    import psycopg

    url = DatabaseURL(pg_server.new_database(), tmp_path)
    Store.open(url).close()
    with psycopg.connect(url.url, autocommit=True) as conn:
        name = conn.execute("SELECT current_database()").fetchone()[0]
        conn.execute(f'ALTER DATABASE "{name}" SET idle_in_transaction_session_timeout = 100')
    child = subprocess.Popen([sys.executable, "-c", HOLDER, url.url, str(tmp_path), str(LEASE), *EMAILS],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().split() == ["claimed", *EMAILS[:2]]
        time.sleep(3 * LEASE)

        assert free_now(url) == {EMAILS[2]}
    finally:
        child.kill()
        child.communicate(timeout=5)


def test_claims_taken_before_the_first_message_are_a_lease_too(pg_server, tmp_path) -> None:  # noqa: F811
    """Between a send's first claim and its first message (the forked producer ranks a big list, or embeds
    the day's papers, for seconds to minutes) a live host keeps its claims, and a frozen one's go after the
    lease."""
    url = DatabaseURL(pg_server.new_database(), tmp_path)
    Store.open(url).close()
    child = subprocess.Popen([sys.executable, "-c", BUSY_HOLDER, url.url, str(tmp_path), str(LEASE), *EMAILS],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().split() == ["claimed", *EMAILS[:2]]
        time.sleep(3 * LEASE)
        assert free_now(url) == {EMAILS[2]}  # busy, not frozen: still its claims
        os.kill(child.pid, signal.SIGSTOP)
        assert eventually(3 * LEASE + 2, lambda: free_now(url) == set(EMAILS)), "the frozen host still holds them"
    finally:
        os.kill(child.pid, signal.SIGCONT)
        child.kill()
        child.communicate(timeout=5)


def test_a_send_that_slept_past_half_its_lease_hands_nothing_more_to_the_server(pg_server, tmp_path, server,
                                                                                inbox) -> None:  # noqa: F811
    from digest.mail import Mailer
    from digest.sending.deliver import Outgoing, SendQueue
    from digest.settings import load_settings

    url = DatabaseURL(pg_server.new_database(), tmp_path)
    Store.open(url).close()
    now = [100.0]
    lease = Lease(url, 30.0, clock=lambda: now[0])
    settings = load_settings(None, {"DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(server.port),
                                    "DIGEST_SMTP_SECURITY": "none", "DIGEST_FROM": "digest@example.com"})
    message = b"From: digest@example.com\r\nTo: a@example.org\r\nSubject: x\r\n\r\nhello\r\n"
    with ReaderClaims(url) as claims:
        claims.offer(EMAILS)
        claims.take(EMAILS)
        claims.keep(lease)
        lease.start()
        outgoing = SendQueue(Mailer(settings), "digest@example.com", held=lease.check)
        try:
            outgoing.submit(Outgoing(EMAILS[0], "<0@x>", message, ["p1"]))
            assert eventually(5, lambda: len(inbox.messages) == 1)
            now[0] += 16.0  # the host slept: whether it still holds its claims is unknown
            for number in (1, 2):
                outgoing.submit(Outgoing(EMAILS[number], f"<{number}@x>", message, ["p1"]))
        finally:
            outgoing.close()
            lease.stop()

    assert len(inbox.messages) == 1 and outgoing.dropped >= 1
    assert isinstance(outgoing.error, StoreError) and "not renewed this send's hold for 16 s" in str(outgoing.error)


def test_a_send_whose_lock_connection_dropped_notices_before_its_next_message(pg_server, tmp_path) -> None:  # noqa: F811
    import psycopg

    from digest.lock import ServerLock

    url = DatabaseURL(pg_server.new_database(), tmp_path)
    Store.open(url).close()
    lease = Lease(url)
    with ServerLock(url, slot="2031-01-06 08:00") as mine:
        mine.keep(lease)
        lease.start()
        try:
            lease.check()  # held
            with psycopg.connect(url.url, autocommit=True) as admin:  # a restart, a dropped network, a DBA
                admin.execute("SELECT pg_terminate_backend(%s)", (mine.conn.info.backend_pid,))
            with ServerLock(url, slot="2031-01-06 08:00") as theirs:
                assert not theirs.slot_elsewhere  # another host's daemon takes the slot
            started = time.monotonic()
            with pytest.raises(StoreError, match="cannot be reached .*; this send lost its send and slot locks with"):
                lease.check()  # at once, not at the next renewal
            assert time.monotonic() - started < 2
        finally:
            lease.stop()


LOCK_HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from digest.lease import Lease
    from digest.lock import ServerLock
    from digest.store import DatabaseURL

    url = DatabaseURL(sys.argv[1], Path(sys.argv[2]))
    lease = Lease(url, float(sys.argv[3]))
    with ServerLock(url, together=True, slot="2031-01-06 08:00") as lock:
        lock.keep(lease)
        lease.start()
        print("locked", lock.slot_elsewhere, flush=True)
        time.sleep(60)
""")


def test_a_frozen_hosts_slot_lock_goes_to_another_daemon_after_the_lease(pg_server, tmp_path) -> None:  # noqa: F811
    from digest.lock import ServerLock

    url = DatabaseURL(pg_server.new_database(), tmp_path)
    Store.open(url).close()
    child = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, url.url, str(tmp_path), str(LEASE)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def taken() -> bool:
        with ServerLock(url, together=True, slot="2031-01-06 08:00", wait=0) as other:
            return not other.slot_elsewhere

    try:
        assert child.stdout is not None and child.stdout.readline().split() == ["locked", "False"]
        time.sleep(2 * LEASE)
        assert not taken()  # renewed: still the first host's
        os.kill(child.pid, signal.SIGSTOP)
        assert eventually(3 * LEASE + 2, taken), "the frozen host still holds the slot"
    finally:
        os.kill(child.pid, signal.SIGCONT)
        child.kill()
        child.communicate(timeout=5)


@pytest.mark.flaky(reruns=1)  # under faketime on a loaded machine the second send once waited past its 60 s bound
def test_a_send_frozen_mid_list_is_taken_over_and_on_waking_sends_only_what_it_had_in_hand(
        counting, tmp_path, processes, pg_server) -> None:  # noqa: F811
    """Real ``digest send`` processes under a lease of LEASE seconds: the first is frozen (its whole
    process group SIGSTOPped) mid-list, a second send run meanwhile delivers everything it had not
    recorded, and the first, woken, stops before its next message: a reader gets a second copy only
    from what the frozen send had with the SMTP server or unrecorded when it froze."""
    url = pg_server.new_database()
    env = env_for(counting.port, tmp_path, DIGEST_STATE_DB=url)
    subscribers = readers_file(tmp_path / "readers.toml", "f")
    # the lease, and the wait before a writer ends a frozen one (below), shortened to a test's length
    leased = [sys.executable, "-c", "import runpy, digest.lease, digest.store.postgres as pg; "
              f"digest.lease.LEASE_SECONDS = {LEASE}; pg.IDLE_IN_WRITE_SECONDS = 2.0; "
              "runpy.run_module('digest', run_name='__main__')", *send_command(subscribers)[3:]]
    counting.delay = 0.05
    first = subprocess.Popen(leased, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, start_new_session=True)
    processes.append(first)
    assert wait_for(lambda: sum(len(copies) for copies in counting.got.values()) >= 20, 30)
    os.killpg(first.pid, signal.SIGSTOP)
    try:
        time.sleep(2 * LEASE)  # the server ends its sessions: its claims and locks go
        at_freeze = sum(len(copies) for copies in counting.got.values())
        counting.delay = 0.0
        second = subprocess.run(leased, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    finally:
        os.killpg(first.pid, signal.SIGCONT)
    out, err = first.communicate(timeout=30)

    assert second.returncode == 0, second.stderr
    # woken, it stops: at the lease's check before its next message, or first at recording the answers it
    # had in hand (its session is gone: they go to the journal), whichever its threads reach first
    last = err.strip().splitlines()[-1]
    assert first.returncode == 1 and ("it stopped before its next message" in last or "stopped sending" in last), err
    twice = []
    for n in range(300):
        copies = counting.copies(f"f{n}@example.org")
        assert copies == (0 if n % 3 == 0 else copies) and (n % 3 == 0 or 1 <= copies <= 2), (n, copies)
        if copies == 2:
            twice.append(n)
    assert at_freeze < 200 and len(twice) <= 8, (at_freeze, twice)  # 4 connections' messages and a batch's answers


def test_a_host_frozen_mid_statement_in_a_write_holds_the_other_hosts_writes_no_longer_than_an_idle_one(
        pg_server, tmp_path, monkeypatch) -> None:  # noqa: F811
    """The recording thread's batch goes to the server as one pipeline; a host frozen while sending it
    left the server waiting for the rest ("active", reading), which no idle timeout ends, with the
    store's write lock held: every other host's writes waited until it woke (seen in the test above)."""
    import threading

    import psycopg

    from digest.store.postgres import WRITE_LOCK

    monkeypatch.setattr("digest.store.postgres.IDLE_IN_WRITE_SECONDS", 1.0)
    url = DatabaseURL(pg_server.new_database(), tmp_path)
    Store.open(url).close()
    frozen = psycopg.connect(url.url, autocommit=True)
    try:
        frozen.execute("BEGIN")
        frozen.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
        frozen.pgconn.enter_pipeline_mode()  # the first statements of a batch sent, the rest never comes
        frozen.pgconn.send_query_params(b"SELECT 1", None)
        frozen.pgconn.flush()
        done = threading.Event()

        def write() -> None:
            with Store.open(url) as store:
                store.record_sent("ada@example.org", "<1@x>", ["p1"])
            done.set()

        started = time.monotonic()
        threading.Thread(target=write, daemon=True).start()
        assert done.wait(10), "the frozen host still holds every other host's writes"
        assert time.monotonic() - started < 5
    finally:
        frozen.close()  # its session was ended: its lock went with it
    with Store.open(url) as store:
        assert store.all_sent_ids() == {"ada@example.org": {"p1"}}


# a host's daemon running one slot (``Daemon.run_once``) under a lease of argv[1] seconds; run with
# tests/slow_embedder on its path, DIGEST_SEMANTIC's stand-in model takes a second for 64 texts and says
# "embedding" on stderr: the day's papers are embedded after the send and slot locks are taken and before
# the first reader is claimed (in this process, for a list below PRODUCER_MIN; in the forked producer above)
DAEMON_HOST = textwrap.dedent("""
    import logging, sys
    import digest.lease
    digest.lease.LEASE_SECONDS = float(sys.argv[1])
    from digest.schedule import Daemon
    from digest.settings import load_settings
    from digest.subscribers import subscribers_from_settings

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    settings = load_settings(None)
    report = Daemon(settings, subscribers_from_settings(settings)).run_once(slot=sys.argv[2])
    print(report.summary() if report is not None else "no run", flush=True)
""")
SLOT = "2031-01-06 08:00 UTC"


def daemon_host(counting, tmp_path, url: str, readers: int, papers: int) -> tuple[list[str], dict[str, str]]:  # noqa: F811
    """The command and environment of a host's daemon that sends ``readers`` readers (every one of them matches)
    ``papers`` papers, whose embedding takes ``papers / 64`` seconds."""
    (tmp_path / "readers.toml").write_text("".join(
        f'[[subscribers]]\nemail = "r{n}@example.org"\nkeywords = ["exploration"]\n' for n in range(readers)))
    (tmp_path / "papers.jsonl").write_text("".join(
        f'{{"id": "2603.{n:05d}", "title": "Exploration study {n}", "abstract": "On exploration, part {n}."}}\n'
        for n in range(papers)))
    folder = str(Path(__file__).parent / "slow_embedder")
    env = env_for(counting.port, tmp_path, DIGEST_STATE_DB=url, DIGEST_SEMANTIC="true",
                  DIGEST_SUBSCRIBERS=str(tmp_path / "readers.toml"), DIGEST_SOURCE=str(tmp_path / "papers.jsonl"),
                  PYTHONPATH=os.pathsep.join(p for p in (folder, os.environ.get("PYTHONPATH")) if p))
    return [sys.executable, "-c", DAEMON_HOST, str(LEASE), SLOT], env


def slot_free(url: str, tmp_path) -> bool:
    """Whether another host's daemon starting the slot now would run it (no daemon holds it)."""
    from digest.lock import ServerLock

    with ServerLock(DatabaseURL(url, tmp_path), together=True, slot=SLOT, wait=0) as other:
        return not other.slot_elsewhere


def embedding(host: subprocess.Popen, seconds: float) -> str:
    """What ``host`` said on stderr until its model started embedding (bounded by ``seconds``)."""
    seen = ""
    deadline = time.monotonic() + seconds
    while "embedding" not in seen and host.poll() is None and time.monotonic() < deadline:
        seen += host.stderr.readline()
    return seen


def test_a_host_frozen_between_taking_its_slot_and_its_first_claim_lets_the_slot_go_after_the_lease(
        counting, tmp_path, processes, pg_server) -> None:  # noqa: F811
    """A daemon ranks a list below PRODUCER_MIN in its own process, after it took the send and slot locks and
    before it claims a reader: embedding the day's papers there takes minutes with a real model. Frozen
    then, it lost its slot only when it woke: no other host's daemon could run the slot, and the readers
    missed their digest. Now the locks are renewed from the moment they are taken: the slot goes after the
    lease, another host's daemon sends every reader once, and the frozen one, woken, sends nothing."""
    url = pg_server.new_database()
    command, env = daemon_host(counting, tmp_path, url, readers=20, papers=192)  # three seconds of the model
    first = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    processes.append(first)
    seen = embedding(first, 20)
    assert "embedding" in seen, seen
    os.kill(first.pid, signal.SIGSTOP)  # with its locks, before its first claim
    try:
        assert eventually(3 * LEASE + 2, lambda: slot_free(url, tmp_path)), "the frozen host still holds the slot"
        second = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30)
    finally:
        os.kill(first.pid, signal.SIGCONT)
    out, err = first.communicate(timeout=20)

    assert second.returncode == 0 and "sent 20" in second.stdout, second.stdout + second.stderr
    assert [counting.copies(f"r{n}@example.org") for n in range(20)] == [1] * 20, (out, err)
    # woken, it claims nothing: its run failed, and is tried again later (the slot's run is done by then)
    assert "this send lost its send and slot locks" in err and "will retry at" in err, err
    assert "not retrying" not in err and first.returncode == 0, err


@pytest.mark.parametrize("readers", [20, PRODUCER_MIN + 10], ids=["ranked in the daemon", "forked producer"])
def test_a_live_host_ranking_longer_than_the_lease_keeps_its_slot_and_sends_every_reader_once(
        counting, tmp_path, processes, pg_server, readers) -> None:  # noqa: F811
    """The renewals run from the moment the locks are taken through the ranking (a thread in the daemon's
    process, paused across the fork of a big list's producer, which still forks): a live host keeps them."""
    url = pg_server.new_database()
    command, env = daemon_host(counting, tmp_path, url, readers=readers, papers=256)  # four seconds of the model
    first = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    processes.append(first)
    seen = embedding(first, 20)
    assert "embedding" in seen, seen
    time.sleep(2 * LEASE)
    assert not slot_free(url, tmp_path), "a live host lost its slot while it ranked"
    out, err = first.communicate(timeout=30)

    assert first.returncode == 0 and f"sent {readers}" in out, out + seen + err
    assert ("building" in seen + err and "in a second process" in seen + err) == (readers >= PRODUCER_MIN), err
    assert [counting.copies(f"r{n}@example.org") for n in range(readers)] == [1] * readers


def test_claims_let_go_are_no_longer_renewed_while_the_sends_locks_still_are(pg_server, tmp_path) -> None:  # noqa: F811
    """The lease runs from the send's locks, which outlive its claims (a send that fails before its first
    message lets go of the claims first): a renewal of the closed claiming connection was a lost hold, and
    a warning that the send had lost its claims."""
    from digest.lock import ServerLock

    url = DatabaseURL(pg_server.new_database(), tmp_path)
    Store.open(url).close()
    lease = Lease(url, LEASE)
    with ServerLock(url, together=True, slot=SLOT) as lock:
        lock.keep(lease)
        lease.start()
        try:
            with ReaderClaims(url) as claims:
                claims.offer(EMAILS)
                claims.keep(lease)
                assert claims.take(EMAILS) == set(EMAILS)
            lease.renew()  # as the thread does, any moment now

            assert lease.lost is None
            lease.check()
        finally:
            lease.stop()
