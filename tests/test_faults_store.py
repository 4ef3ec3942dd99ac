"""The state store under faults: nothing goes out that cannot be recorded, and every
store or lock problem is one line naming the file and the fix (issue #11, items 2 and 8)."""

from __future__ import annotations

import logging
import os
import resource
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from digest.schedule import Daemon
from digest.settings import load_settings
from digest.store import Store

from .conftest import FIXTURES
from .smtp_server import free_port

LISTING = str(FIXTURES / "papers.jsonl")


def readers_file(tmp_path: Path, count: int) -> Path:
    path = tmp_path / "subscribers.toml"
    path.write_text("".join(f'[[subscribers]]\nemail = "r{n}@example.org"\nkeywords = ["exploration"]\n'
                            for n in range(count)), encoding="utf-8")
    return path


def cli_env(port: int, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DIGEST_")}
    env.update({"DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(port), "DIGEST_SMTP_SECURITY": "none",
                "DIGEST_FROM": "digest@example.com", "DIGEST_STATE_DB": str(tmp_path / "state.db"),
                "DIGEST_MIN_SCORE": "1", "DIGEST_SUBSCRIBERS": str(readers_file(tmp_path, 40)),
                "PYTHONDONTWRITEBYTECODE": "1", **extra})
    return env


def small_files(limit: int):
    """In the child: no file may grow past ``limit`` bytes; the database's WAL hits it, the small journal not."""
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def digest_send(env: dict[str, str], cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "digest", "send", "--source", LISTING], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=60, **kwargs)


# 2. a store that cannot record --------------------------------------------------------------

def test_a_store_that_fails_mid_run_stops_sending_and_the_journal_is_recorded_before_the_next_send(
        faulty, faults, tmp_path):
    Store.open(tmp_path / "state.db").close()
    env = cli_env(faulty.port, tmp_path)

    first = digest_send(env, tmp_path, preexec_fn=small_files(64 * 1024))
    sent_first = len(faults.received)
    journal = tmp_path / "state.db.journal"
    journaled = len(journal.read_text().splitlines())
    status = subprocess.run([sys.executable, "-m", "digest", "status"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    second = digest_send(env, tmp_path)

    assert first.returncode == 1 and "Traceback" not in first.stderr
    error = first.stderr.strip().splitlines()
    assert len(error) == 1 and str(tmp_path / "state.db") in error[0] and str(journal) in error[0]
    assert 0 < sent_first < 40, "sending stops at the first failed record"
    assert journaled >= 1
    assert f"journal: {journaled} deliveries wait in {journal} to be recorded" in status.stdout
    assert second.returncode == 0, second.stderr
    assert f"recorded {journaled} deliveries from {journal}" in second.stderr
    assert not journal.exists()
    recipients = [recipient for recipient, _ in faults.received]
    assert sorted(recipients) == sorted(f"r{n}@example.org" for n in range(40)), "each reader exactly once"


def test_a_journal_that_cannot_be_written_either_refuses_to_send(faulty, faults, tmp_path):
    (tmp_path / "state.db.journal").mkdir()

    result = digest_send(cli_env(faulty.port, tmp_path), tmp_path)

    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("digest: error: ") and f"delivery journal {tmp_path / 'state.db.journal'}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert faults.received == [] and faults.mail_commands == 0


def test_the_daemon_does_not_retry_a_run_into_a_store_that_cannot_record(tmp_path, caplog):
    (tmp_path / "state.db").write_bytes(b"this is not a database" * 200)
    settings = load_settings(None, {"DIGEST_SOURCE": LISTING, "DIGEST_TO": "ada@example.org",
                                    "DIGEST_KEYWORDS": "exploration", "DIGEST_FROM": "d@example.com",
                                    "DIGEST_STATE_DB": str(tmp_path / "state.db"), "DIGEST_MIN_SCORE": "1",
                                    "DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(free_port()),
                                    "DIGEST_SMTP_SECURITY": "none"})
    from digest.subscribers import subscribers_from_settings

    daemon = Daemon(settings, subscribers_from_settings(settings))
    caplog.set_level(logging.INFO, logger="digest")

    daemon.run_once(slot="2026-11-23 07:00 UTC")

    assert "is damaged" in caplog.text and "not retrying" in caplog.text
    assert [job.id for job in daemon.scheduler.get_jobs()] == []


# 8. every store and lock problem: one line, the path, the fix ---------------------------------

def _lock_is_a_folder(tmp_path: Path) -> Path:
    (tmp_path / "state.db.lock").mkdir()
    return tmp_path / "state.db.lock"


def _parent_is_a_file(tmp_path: Path) -> Path:
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    return tmp_path / "notes.txt"


def _corrupt(tmp_path: Path) -> Path:
    (tmp_path / "state.db").write_bytes(b"\x00garbage" * 4096)
    return tmp_path / "state.db"


CASES = {
    "lock file unwritable": ("state.db", _lock_is_a_folder, "make its folder writable"),
    "database parent is a file": ("notes.txt/state.db", _parent_is_a_file, "set DIGEST_STATE_DB"),
    "corrupt database": ("state.db", _corrupt, "restore it from a backup"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_broken_store_or_lock_is_one_line_naming_the_path_and_the_fix(tmp_path, monkeypatch, run_cli, case):
    db, make, fix = CASES[case]
    named = make(tmp_path)
    for key, value in cli_env(free_port(), tmp_path, DIGEST_STATE_DB=str(tmp_path / db)).items():
        monkeypatch.setenv(key, value)

    code, _, err = run_cli("send", "--source", LISTING)

    assert code == 1 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert str(named) in err and fix in err


def test_a_database_locked_by_another_program_is_one_line(tmp_path, monkeypatch, run_cli):
    monkeypatch.setattr("digest.store.schema.BUSY_SECONDS", 1)
    Store.open(tmp_path / "state.db").close()
    other = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    for key, value in cli_env(free_port(), tmp_path).items():
        monkeypatch.setenv(key, value)
    try:
        code, _, err = run_cli("send", "--source", LISTING)
    finally:
        other.execute("ROLLBACK")
        other.close()

    assert code == 1 and len(err.strip().splitlines()) == 1
    assert f"the state database {tmp_path / 'state.db'} is locked by another program for more than 1 s" in err


@pytest.fixture
def read_only_folder(tmp_path: Path):
    """A real read-only file system (a tmpfs mounted read-only); needs root, else the test is skipped."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a read-only tmpfs needs root")
    yield folder
    subprocess.run(["umount", str(folder)], check=False)


def test_a_read_only_file_system_is_one_line(read_only_folder, monkeypatch, run_cli, tmp_path):
    for key, value in cli_env(free_port(), tmp_path, DIGEST_STATE_DB=str(read_only_folder / "state.db")).items():
        monkeypatch.setenv(key, value)

    code, _, err = run_cli("send", "--source", LISTING)

    assert code == 1 and len(err.strip().splitlines()) == 1
    assert str(read_only_folder) in err and "Read-only file system" in err and "writable" in err
