"""`digest status` (issue #17): a run that died is told from one still running, and the
last run's deferred and failed readers are named."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from digest.lock import send_lock
from digest.store import Store

from .test_faults import ADA, BOB, CAROL, env_for, send, use_env

pytestmark = pytest.mark.usefixtures("fast_retries")


def start_run(db: Path, pid: int) -> None:
    with Store.open(db) as store:
        run_id = store.start_run("2026-11-23", None, "one-off")
        store.db.execute("UPDATE runs SET pid = :pid WHERE id = :id", {"pid": pid, "id": run_id})


def status(run_cli, monkeypatch, tmp_path: Path, port: int = 2525) -> str:
    use_env(monkeypatch, env_for(port, tmp_path))
    code, out, err = run_cli("status")
    assert code == 0, err
    return out


def dead_pid() -> int:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(child.stdout)


def test_a_run_whose_process_is_gone_is_reported_failed_not_running(tmp_path, monkeypatch, run_cli):
    start_run(tmp_path / "state.db", dead_pid())

    out = status(run_cli, monkeypatch, tmp_path)

    assert "(failed: it ended without recording its end (killed, or the database could not be written))" in out
    assert "still running" not in out


def test_a_run_whose_process_holds_the_send_lock_is_still_running(tmp_path, monkeypatch, run_cli):
    import os

    start_run(tmp_path / "state.db", os.getpid())
    with send_lock(tmp_path / "state.db"):
        out = status(run_cli, monkeypatch, tmp_path)

    assert "(still running)" in out and "(failed" not in out


def test_a_run_killed_while_another_send_holds_the_lock_failed_even_before_it_is_reaped(tmp_path, monkeypatch,
                                                                                        run_cli):
    killed = subprocess.Popen([sys.executable, "-c", "pass"])  # not waited for: a zombie, as a kill -9 leaves it
    deadline = time.monotonic() + 10
    while Path(f"/proc/{killed.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline
    start_run(tmp_path / "state.db", killed.pid)
    try:
        with send_lock(tmp_path / "state.db"):  # the other send
            out = status(run_cli, monkeypatch, tmp_path)
    finally:
        killed.wait()

    assert "(failed: it ended without recording its end" in out and "still running" not in out


def test_a_daemons_earlier_unfinished_run_failed_once_the_same_process_started_another(tmp_path, monkeypatch,
                                                                                      run_cli):
    """A daemon lives on after a run it could not end (its store was down): its next run shows that one is over."""
    import os

    start_run(tmp_path / "state.db", os.getpid())  # 07:00, never ended
    start_run(tmp_path / "state.db", os.getpid())  # the retry, sending now
    with send_lock(tmp_path / "state.db"):
        out = status(run_cli, monkeypatch, tmp_path)

    newest, older = [line for line in out.splitlines() if "recorded so far" in line]
    assert "(still running)" in newest and "(failed: it ended without recording its end" in older


def test_a_run_whose_process_lives_but_holds_no_lock_failed(tmp_path, monkeypatch, run_cli):
    """Its pid was reused, or it survived its send: no send holds the lock, so none is running."""
    import os

    start_run(tmp_path / "state.db", os.getpid())

    assert "(failed: it ended without recording its end" in status(run_cli, monkeypatch, tmp_path)


def test_the_last_runs_deferred_and_failed_readers_are_named_by_address(faulty, faults, tmp_path, monkeypatch,
                                                                          run_cli):
    faults.after_dot_for[BOB] = "452 4.2.2 over quota"
    faults.after_dot_for[CAROL] = "554 5.7.1 refused"
    send(faulty, tmp_path)

    out = status(run_cli, monkeypatch, tmp_path, faulty.port)

    assert "refused in the last run: 2 readers (the next run retries them)\n" in out
    assert f"  deferred: {BOB}: 452 4.2.2 over quota\n" in out
    assert f"  failed: {CAROL}: 554 5.7.1 refused\n" in out
    assert ADA not in out.partition("refused in the last run")[2]


def test_a_killed_run_counts_its_own_messages_even_those_recorded_after_another_send_started(tmp_path) -> None:
    """Two sends at once (another shard, a second send waiting on its own readers): the killed one's
    messages are told from the other's by the process id in their Message-IDs."""
    from datetime import datetime, timezone

    from digest.store.runs import Run

    def at(seconds: int) -> datetime:
        return datetime.fromtimestamp(1_790_000_000 + seconds, timezone.utc)

    with Store.open(tmp_path / "state.db") as store:
        for run_id, pid, started in ((1, 111, 0), (2, 222, 10)):
            store.db.execute("INSERT INTO runs (id, started, run_date, pid) VALUES (:id, :at, '2026-11-23', :pid)",
                             {"id": run_id, "at": at(started).isoformat(timespec="seconds"), "pid": pid})
        for n, (pid, second) in enumerate(((111, 5), (222, 15), (111, 20), (111, 25))):
            store.record_deliveries([(f"r{n}@example.org", f"<17900000{second}.{pid}.99{n}@example.org>", ["p"],
                                      None)], at=at(second))
        killed, other = (Run(1, at(0).isoformat(timespec="seconds"), None, "2026-11-23", 0, 0, 0, None, pid=111),
                         Run(2, at(10).isoformat(timespec="seconds"), None, "2026-11-23", 0, 0, 0, None, pid=222))

        assert store.recorded_during(killed, other.started) == (3, 0)  # by the window alone: 1
        assert store.recorded_during(other) == (1, 0)  # by the window alone: 3


def test_a_run_started_on_another_host_failed_when_no_send_holds_the_lock_anywhere(tmp_path, monkeypatch, run_cli):
    """Its process cannot be looked at from here, but the lock (PostgreSQL's, across hosts) says no send runs."""
    start_run(tmp_path / "state.db", dead_pid())
    with Store.open(tmp_path / "state.db") as store:
        store.db.execute("UPDATE runs SET host = 'worker-b.example.org'")

    out = status(run_cli, monkeypatch, tmp_path)
    assert "(failed: it ended without recording its end" in out and "still running there" not in out
    with send_lock(tmp_path / "state.db"):
        out = status(run_cli, monkeypatch, tmp_path)
    assert "started on worker-b.example.org; interrupted, or still running there" in out
