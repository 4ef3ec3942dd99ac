"""With the store on PostgreSQL, the send locks are advisory locks in the database: they hold across
hosts (here: across processes and connections) and die with their holder. A real server (tests/pg_server.py)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from digest.errors import LockedError
from digest.lock import Shard, send_lock, send_running
from digest.store import DatabaseURL

from .pg_server import pg_server  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def url(pg_server, tmp_path) -> DatabaseURL:  # noqa: F811
    return DatabaseURL(pg_server.new_database(), tmp_path / "local")


def test_a_second_send_waits_then_gives_up_naming_the_holder(url) -> None:
    with send_lock(url):
        assert send_running(url)
        started = time.monotonic()
        with pytest.raises(LockedError, match=r"another digest send \(digest send on .+, process \d+\) holds"):
            with send_lock(url, wait=0.5):
                pass
        assert 0.4 < time.monotonic() - started < 5
    assert not send_running(url)
    with send_lock(url, wait=0):  # free again once the first let go
        pass


def test_shards_run_side_by_side_but_not_twice_nor_beside_a_whole_send(url) -> None:
    with send_lock(url, Shard(1, 2)), send_lock(url, Shard(2, 2), wait=0):
        with pytest.raises(LockedError):
            with send_lock(url, Shard(1, 2), wait=0.2):
                pass
        with pytest.raises(LockedError):
            with send_lock(url, wait=0.2):
                pass
        assert send_running(url)


def test_the_lock_of_a_killed_worker_is_free_at_once(url) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom digest.lock import send_lock\nfrom digest.store import DatabaseURL\n"
         f"with send_lock(DatabaseURL({url.url!r})):\n    print('held', flush=True)\n    time.sleep(60)\n"],
        stdout=subprocess.PIPE, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert send_running(url)
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        with send_lock(url, wait=5):  # the server saw the socket close: no timeout to wait out
            pass
    finally:
        holder.kill()
        holder.wait()


def test_a_forked_helper_dropping_its_copy_leaves_the_parents_lock_held(url) -> None:
    import os

    with send_lock(url) as lock:
        child = os.fork()
        if child == 0:  # the renderer's way: drop the inherited lock, then live and die normally
            lock.close_inherited()
            import gc

            gc.collect()
            os._exit(0)
        os.waitpid(child, 0)
        assert send_running(url)
        with pytest.raises(LockedError):
            with send_lock(url, wait=0.2):
                pass


def test_a_scheduled_slot_is_sent_once_even_by_two_daemons(url, server, inbox, tmp_path) -> None:
    """Two daemons (two hosts) that both found the slot open: the second, once it has the lock,
    finds the slot's run in the database and sends nothing."""
    from digest.app import Digest
    from digest.model import Subscriber
    from digest.settings import load_settings

    from .conftest import FIXTURES

    settings = load_settings(None, {
        "DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(server.port), "DIGEST_SMTP_SECURITY": "none",
        "DIGEST_FROM": "digest@example.com", "DIGEST_STATE_DB": url.url, "DIGEST_MIN_SCORE": "1"})
    readers = [Subscriber("ada@example.org", ("reward model", "exploration"))]
    slot = "2031-01-06 08:00 UTC"

    first = Digest(settings).send(readers, source=str(FIXTURES / "papers.jsonl"), slot=slot)
    second = Digest(settings).send(readers, source=str(FIXTURES / "papers.jsonl"), slot=slot, force=True)

    assert first.sent == ["ada@example.org"] and second.sent == [] and len(inbox.messages) == 1
    assert "already happened" in second.note
    from digest.store import Store

    with Store.open(url) as store:
        assert [run.slot for run in store.last_runs()] == [slot]


def test_six_workers_opening_a_new_database_at_once_all_get_it(pg_server, tmp_path) -> None:  # noqa: F811
    """The first open makes the schema; the others wait for it and find it made, none fails."""
    for _ in range(3):
        url = pg_server.new_database()
        code = ("from pathlib import Path\nfrom digest.store import DatabaseURL, Store\n"
                f"with Store.open(DatabaseURL({url!r}, Path({str(tmp_path)!r}))) as s:\n    s.counts()\n")
        openers = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stderr=subprocess.PIPE, text=True,
                                    env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}) for _ in range(6)]
        errors = [opener.communicate(timeout=60)[1] for opener in openers]
        assert [opener.returncode for opener in openers] == [0] * 6, errors


def test_a_second_daemon_skips_at_once_a_slot_another_host_is_running(url, server, inbox, tmp_path) -> None:
    """Another host's daemon is mid-way through the slot (a real process, a slow relay): this one's run
    of the same slot neither waits for it nor sends anything, and says why; once the first has
    finished, the slot is done."""
    import os

    from digest.app import Digest
    from digest.model import Subscriber
    from digest.settings import load_settings

    from .conftest import FIXTURES

    values = {"DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(server.port), "DIGEST_SMTP_SECURITY": "none",
              "DIGEST_FROM": "digest@example.com", "DIGEST_STATE_DB": url.url, "DIGEST_MIN_SCORE": "1",
              "DIGEST_SMTP_CONNECTIONS": "1"}
    source, slot = str(FIXTURES / "papers.jsonl"), "2031-01-06 08:00 UTC"
    readers = [Subscriber(f"r{n}@example.org", ("reward model", "exploration")) for n in range(20)]
    inbox.hold = threading.Event()  # the first host's run waits on its first message until the second has tried
    # ... or 5 s at most: a second daemon that waited for the first would then take that long
    give_up = threading.Timer(5.0, inbox.hold.set)
    give_up.start()
    first_host = subprocess.Popen(
        [sys.executable, "-c", "import sys\nfrom digest.app import Digest\nfrom digest.model import Subscriber\n"
         "from digest.settings import load_settings\n"
         f"settings = load_settings(None, {values!r})\n"
         f"readers = [Subscriber(f'r{{n}}@example.org', ('reward model', 'exploration')) for n in range(20)]\n"
         f"print(Digest(settings).send(readers, source={source!r}, slot={slot!r}).summary())\n"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)})
    try:
        assert inbox.receiving.wait(30)
        started = time.monotonic()
        second = Digest(load_settings(None, values)).send(readers, source=source, slot=slot)
        took = time.monotonic() - started
        inbox.hold.set()
        out, err = first_host.communicate(timeout=60)
    finally:
        give_up.cancel()
        inbox.hold.set()
        first_host.kill()
        first_host.wait()
    assert took < 3, f"the second daemon waited {took:.1f} s"
    assert second.sent == [] and "under way on another host" in second.note
    assert first_host.returncode == 0 and out.startswith("sent 20,"), (out, err)
    assert sorted(m["To"] for m in inbox.messages) == sorted(r.email for r in readers)  # each once
    third = Digest(load_settings(None, values)).send(readers, source=source, slot=slot)
    assert third.sent == [] and "already happened" in third.note
