"""`digest run`: a real daemon in a subprocess, sending to a real aiosmtpd server."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from digest.schedule import RETRY_MINUTES, Daemon, owed_retry
from digest.settings import load_settings
from digest.store import Run, Store

from . import http_server
from .conftest import FIXTURES
from .http_server import PlaybackServer, Reply
from .smtp_server import free_port

READER = "ada@example.org"


def daemon_env(server, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DIGEST_")}
    env.update({
        "DIGEST_SOURCE": str(FIXTURES / "papers.jsonl"),
        "DIGEST_KEYWORDS": "exploration, intrinsic motivation",
        "DIGEST_TO": READER,
        "DIGEST_FROM": "Digest <digest@example.com>",
        "DIGEST_MIN_SCORE": "1",
        "DIGEST_SMTP_HOST": "127.0.0.1",
        "DIGEST_SMTP_PORT": str(server.port),
        "DIGEST_SMTP_SECURITY": "none",
        "DIGEST_SMTP_TIMEOUT": "10",
        "DIGEST_STATE_DB": str(tmp_path / "state.db"),
        "DIGEST_TIMEZONE": "Europe/Berlin",
        "DIGEST_GRACE_HOURS": "0",  # no catch-up run unless a test asks for one
        **extra,
    })
    return env


class Running:
    """A `digest run` process whose log goes to a file the test can poll."""

    def __init__(self, env: dict[str, str], cwd: Path, *args: str) -> None:
        self.log_path = cwd / f"daemon-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "digest", "run", *args],
            env=env, cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT,
        )

    @property
    def log(self) -> str:
        return self.log_path.read_text("utf-8", errors="replace")

    def wait_for_log(self, text: str, timeout: float = 30) -> None:
        wait_until(lambda: text in self.log or self.process.poll() is not None, timeout)
        assert text in self.log, self.log

    def terminate(self, timeout: float = 10, signum: int = signal.SIGTERM) -> tuple[int, float]:
        began = time.monotonic()
        self.process.send_signal(signum)
        code = self.process.wait(timeout)
        self._log.close()
        return code, time.monotonic() - began

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._log.close()


def wait_until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.fixture
def daemons() -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for daemon in started:
        daemon.kill()


def launch(daemons: list[Running], env: dict[str, str], cwd: Path, *args: str) -> Running:
    daemon = Running(env, cwd, *args)
    daemons.append(daemon)
    return daemon


def test_now_delivers_one_digest_and_sigterm_exits_zero(server, inbox, tmp_path, daemons):
    daemon = launch(daemons, daemon_env(server, tmp_path), tmp_path, "--now")

    wait_until(lambda: len(inbox.messages) >= 1, timeout=30)
    daemon.wait_for_log("sent 1, nothing new 0, failed 0")
    code, took = daemon.terminate()

    assert len(inbox.messages) == 1
    assert inbox.messages[0]["To"] == READER
    assert code == 0 and took < 5
    log = daemon.log
    assert "digest daemon starting: source=" in log and "timezone=Europe/Berlin" in log
    assert "next run: " in log and ("CET" in log or "CEST" in log)
    assert "Traceback" not in log


def test_restarting_with_now_the_same_day_sends_nothing_new(server, inbox, tmp_path, daemons):
    env = daemon_env(server, tmp_path)
    first = launch(daemons, env, tmp_path, "--now")
    first.wait_for_log("sent 1, nothing new 0, failed 0")
    assert first.terminate()[0] == 0

    second = launch(daemons, env, tmp_path, "--now")
    second.wait_for_log("sent 0, nothing new 0, failed 0, already had today's 1")
    assert second.terminate()[0] == 0

    assert len(inbox.messages) == 1


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP (the terminal closed)"])
def test_sigterm_during_a_send_finishes_the_message_in_hand_and_records_it(server, inbox, tmp_path, daemons, signum):
    inbox.delay = 2.0  # the server sits on DATA: the signal lands mid-send
    daemon = launch(daemons, daemon_env(server, tmp_path), tmp_path, "--now")
    wait_until(inbox.receiving.is_set, timeout=30)
    assert inbox.receiving.is_set(), daemon.log

    code, _ = daemon.terminate(timeout=20, signum=signum)

    assert code == 0, daemon.log
    assert len(inbox.messages) == 1
    assert "stopping: the messages in hand finish" in daemon.log
    with Store.open(tmp_path / "state.db") as store:
        assert store.sent_ids(READER), "the accepted message must be recorded as sent"
        assert [status for _, status in store.message_status(READER)] == ["sent"]


def test_a_missed_run_within_the_grace_period_runs_once_at_start(server, inbox, tmp_path, daemons):
    missed = datetime.now(timezone.utc) - timedelta(minutes=3)
    env = daemon_env(server, tmp_path, DIGEST_TIMEZONE="UTC", DIGEST_GRACE_HOURS="1",
                     DIGEST_SCHEDULE=f"{missed.minute} {missed.hour} * * *")

    first = launch(daemons, env, tmp_path)  # no --now: only the catch-up may send
    first.wait_for_log("sent 1, nothing new 0, failed 0")
    assert "missed the run at" in first.log
    assert first.terminate()[0] == 0

    second = launch(daemons, env, tmp_path)
    second.wait_for_log("next run: ")
    time.sleep(1.0)
    assert second.terminate()[0] == 0

    assert "missed the run" not in second.log
    assert len(inbox.messages) == 1


def midday_zone() -> str:
    """A zone where it is about noon now: a slot a few minutes ago, its run and the catch-up after a restart all
    fall on one local day, whatever the date and time the tests run at (``Etc/GMT-5`` is UTC+5)."""
    return f"Etc/GMT{datetime.now(timezone.utc).hour - 12:+d}"


def slot_missed_minutes_ago(server, tmp_path: Path, readers: list[str], **extra: str) -> dict[str, str]:
    """The environment of a daemon whose slot was 3 minutes ago (its start catches it up), in a zone where it is
    about noon, for ``readers`` on one connection."""
    (tmp_path / "subscribers.toml").write_text("".join(
        f'[[subscribers]]\nemail = "{email}"\nkeywords = ["exploration"]\n' for email in readers), encoding="utf-8")
    zone = midday_zone()
    slot = datetime.now(ZoneInfo(zone)) - timedelta(minutes=3)
    return daemon_env(server, tmp_path, DIGEST_TO="", DIGEST_SUBSCRIBERS=str(tmp_path / "subscribers.toml"),
                      DIGEST_TIMEZONE=zone, DIGEST_GRACE_HOURS="1", DIGEST_SCHEDULE=f"{slot.minute} {slot.hour} * * *",
                      DIGEST_SMTP_CONNECTIONS="1", **extra)


def slow_server(inbox) -> Callable[[], bool]:
    """The server sits on each message for 2 s: the stop lands with one in hand, the rest queued behind it."""
    inbox.delay = 2.0
    return inbox.receiving.is_set


def backing_off(inbox) -> Callable[[], bool]:
    """451 after the first message's "." five times over (0.5 + 2 + 5 + 10 s of backoff between the tries):
    the stop lands in the 2 s backoff after the second try."""
    inbox.replies = ["451 4.3.0 try again later"] * 5
    return lambda: len(inbox.replies) <= 3


def accepted_one(inbox) -> Callable[[], bool]:
    """With DIGEST_SMTP_RATE=30 (a turn every 2 s): the stop lands while the second message waits for its turn."""
    return lambda: len(inbox.messages) >= 1


@pytest.mark.parametrize(("extra", "stop_when"), [
    pytest.param({}, slow_server, id="a slow server"),
    pytest.param({}, backing_off, id="an SMTP backoff"),
    pytest.param({"DIGEST_SMTP_RATE": "30"}, accepted_one, id="a rate limit"),
])
def test_sigterm_stops_a_scheduled_send_in_seconds_and_the_restart_sends_the_rest_once(
        server, inbox, tmp_path, daemons, extra, stop_when):
    readers = [f"reader{n}@example.org" for n in range(5)]
    env = slot_missed_minutes_ago(server, tmp_path, readers, **extra)
    stop_now = stop_when(inbox)

    first = launch(daemons, env, tmp_path)  # no --now: the slot's run is the catch-up at start
    wait_until(stop_now, timeout=30)
    assert stop_now(), first.log
    code, took = first.terminate(timeout=15)  # without the stop reaching the send: 8 s or more
    left = len(readers) - len(inbox.messages)

    assert code == 0 and took < 5, f"the stop took {took:.1f} s:\n{first.log}"
    assert left > 0 and f"stopped early, {left} left for the next run" in first.log
    inbox.delay, inbox.replies = 0.0, []
    second = launch(daemons, env, tmp_path)
    second.wait_for_log(f"sent {left}, ")
    assert second.terminate()[0] == 0
    assert "missed the run at" in second.log, "the slot the stop cut short is served again"
    assert sorted(m["To"] for m in inbox.messages) == readers, "each reader once: nobody lost, nobody twice"
    with Store.open(tmp_path / "state.db") as store:
        runs = store.last_runs()
    assert [(run.slot, run.left_over, run.already) for run in runs] == [
        (runs[0].slot, 0, len(readers) - left), (runs[0].slot, left, 0)], "the stop's run is recorded as cut short"


def as_if_minutes_ago(db: Path, minutes: int) -> None:
    """The daemon stayed down ``minutes`` longer: every run in the state store started and ended that much
    earlier (a wait of minutes, without waiting)."""
    with sqlite3.connect(db) as connection:
        for run_id, started, finished in connection.execute("SELECT id, started, finished FROM runs").fetchall():
            earlier = [(datetime.fromisoformat(t) - timedelta(minutes=minutes)).isoformat(timespec="seconds")
                       for t in (started, finished)]
            connection.execute("UPDATE runs SET started = ?, finished = ? WHERE id = ?", (*earlier, run_id))
    connection.close()


def fast_backoff(env: dict[str, str]) -> dict[str, str]:
    """``env`` for a ``digest run`` whose SMTP backoff takes hundredths of a second, not 17.5 s
    (tests/fast_backoff/sitecustomize.py)."""
    folder = str(Path(__file__).parent / "fast_backoff")
    return {**env, "PYTHONPATH": os.pathsep.join(p for p in (folder, env.get("PYTHONPATH")) if p)}


def test_a_reader_deferred_before_a_restart_is_retried_on_schedule_after_it_and_gets_one_digest(
        faulty, faults, tmp_path, daemons):
    ada, bob = "ada@example.org", "bob@example.org"
    faults.rcpt[bob] = "452 4.2.2 mailbox full"  # five tries, then deferred
    env = fast_backoff(slot_missed_minutes_ago(faulty, tmp_path, [ada, bob]))

    first = launch(daemons, env, tmp_path)
    first.wait_for_log("deferred 1 (retried next run)")
    first.wait_for_log("will retry at")
    assert first.terminate()[0] == 0
    del faults.rcpt[bob]  # the mailbox has room again
    early = launch(daemons, env, tmp_path)  # back at once: the retry keeps its time, 5 minutes after the deferral
    early.wait_for_log("readers were left for a retry today")
    assert early.terminate()[0] == 0
    assert faults.to(bob) == 0 and "will retry at" not in early.log, early.log
    as_if_minutes_ago(tmp_path / "state.db", RETRY_MINUTES[0])  # the first retry is due when the daemon is back
    second = launch(daemons, env, tmp_path)
    second.wait_for_log("sent 1, nothing new 0, failed 0, already had today's 1", timeout=15)
    assert second.terminate()[0] == 0

    assert "readers were left for a retry today" in second.log and "missed the run at" not in second.log
    assert (faults.to(ada), faults.to(bob)) == (1, 1), "bob gets today's digest after all, and nobody a second"
    with Store.open(tmp_path / "state.db") as store:
        assert [(run.deferred, run.already) for run in store.last_runs()] == [(0, 1), (1, 0)]


def test_a_run_the_smtp_server_was_down_for_is_retried_on_schedule_after_a_restart_and_sends_once(
        faulty, faults, tmp_path, daemons):
    ada, bob = "ada@example.org", "bob@example.org"
    env = slot_missed_minutes_ago(faulty, tmp_path, [ada, bob])
    down = {**env, "DIGEST_SMTP_PORT": str(free_port())}  # nothing listens there

    first = launch(daemons, down, tmp_path)
    first.wait_for_log("run failed: ")
    first.wait_for_log("will retry at")
    assert first.terminate()[0] == 0
    early = launch(daemons, env, tmp_path)  # the server is up again: the retry keeps its time, not the catch-up's
    early.wait_for_log("readers were left for a retry today")
    assert early.terminate()[0] == 0
    assert faults.received == [] and "missed the run at" not in early.log, early.log
    as_if_minutes_ago(tmp_path / "state.db", RETRY_MINUTES[0])  # the first retry is due when the daemon is back
    second = launch(daemons, env, tmp_path)
    second.wait_for_log("sent 2, nothing new 0, failed 0", timeout=15)
    assert second.terminate()[0] == 0

    assert (faults.to(ada), faults.to(bob)) == (1, 1), "each reader gets the day's digest once"
    assert "missed the run at" not in second.log
    with Store.open(tmp_path / "state.db") as store:
        [served, failed] = store.last_runs()
        assert failed.error and served.error is None and store.slot_done(served.slot or "")
        assert owed_retry(store.runs_on(served.run_date)) is None, "served: a restart owes nothing more"


def test_a_reader_whose_reply_was_lost_before_a_restart_gets_it_once_more_after_it(faulty, faults, tmp_path,
                                                                                     daemons):
    ada, bob = "ada@example.org", "bob@example.org"
    faults.after_dot_for[bob] = "drop"  # bob's message reaches the server, its reply never comes back
    env = slot_missed_minutes_ago(faulty, tmp_path, [ada, bob])

    first = launch(daemons, env, tmp_path)
    first.wait_for_log("will retry at")
    assert first.terminate()[0] == 0 and "uncertain 1" in first.log, first.log
    del faults.after_dot_for[bob]
    as_if_minutes_ago(tmp_path / "state.db", RETRY_MINUTES[0])  # the first retry is due when the daemon is back
    second = launch(daemons, env, tmp_path)
    second.wait_for_log("sent 1, nothing new 0, failed 0, already had today's 1", timeout=15)
    assert second.terminate()[0] == 0

    assert "readers were left for a retry today" in second.log
    assert (faults.to(ada), faults.to(bob)) == (1, 2), "bob gets the one extra copy the README allows, ada none"


def deferring_run(number: int, finished: str, slot: str | None = "2031-01-06 08:00 UTC", **counts: Any) -> Run:
    return Run(number, finished, finished, "2031-01-06", sent=3, nothing_new=0, note=None, slot=slot,
               started_by="scheduled" if slot else "daemon", **{"failed": 0, "deferred": 1, **counts})


@pytest.mark.parametrize(("runs", "owed"), [
    pytest.param([deferring_run(1, "2031-01-06T08:01:00+00:00")], (1, "08:06"), id="the first: 5 minutes after"),
    pytest.param([deferring_run(1, "2031-01-06T08:01:00+00:00"), deferring_run(2, "2031-01-06T08:07:00+00:00")],
                 (2, "08:22"), id="the second: 15 minutes after"),
    pytest.param([deferring_run(n, "2031-01-06T08:01:00+00:00") for n in range(1, len(RETRY_MINUTES) + 2)],
                 (len(RETRY_MINUTES) + 1, None), id="used up"),
    pytest.param([deferring_run(1, "2031-01-06T08:01:00+00:00", slot=None)], (1, "08:06"), id="a --now run's"),
])
def test_a_run_that_deferred_readers_owes_the_retry_its_daemon_would_have_made(runs, owed):
    retry = owed_retry(runs)

    assert retry is not None and retry.slot == runs[-1].slot
    assert (retry.number, retry.at and f"{retry.at:%H:%M}") == owed


@pytest.mark.parametrize("left", [
    pytest.param({"error": "cannot connect to the SMTP server 127.0.0.1:25"}, id="failed: SMTP down"),
    pytest.param({"failed": 1}, id="a reader refused (5xx)"),
    pytest.param({"uncertain": 1}, id="a reader's reply lost"),
])
def test_a_run_that_left_readers_otherwise_owes_the_same_retry(left):
    runs = [deferring_run(1, "2031-01-06T08:01:00+00:00", deferred=0, **left),
            deferring_run(2, "2031-01-06T08:07:00+00:00", deferred=0, **left)]

    retry = owed_retry(runs)

    assert retry is not None and (retry.slot, retry.number, f"{retry.at:%H:%M}") == (runs[-1].slot, 2, "08:22")


@pytest.mark.parametrize("last", [
    pytest.param(deferring_run(2, "2031-01-06T08:07:00+00:00", deferred=0), id="served"),
    pytest.param(deferring_run(2, "2031-01-06T08:07:00+00:00", left_over=1), id="cut short: the catch-up's"),
    pytest.param(Run(2, "2031-01-06T08:07:00+00:00", None, "2031-01-06", 0, 0, 0, None, "2031-01-06 08:00 UTC",
                     started_by="scheduled"), id="still running or killed"),
])
def test_a_last_run_that_deferred_nobody_owes_no_retry(last):
    assert owed_retry([deferring_run(1, "2031-01-06T08:01:00+00:00"), last]) is None


@pytest.fixture
def listing_server() -> Iterator[PlaybackServer]:
    """A real HTTP server on 127.0.0.1 for the listing (tests/http_server.py)."""
    web = http_server.start()
    yield web
    web.shutdown()
    web.server_close()


def asks_to_retry_after_30_s(web: PlaybackServer) -> Callable[[Running], bool]:
    """503 with Retry-After: 30 (within the fetcher's 60 s): the stop lands in that wait."""
    web.route(PATH, Reply(503, b"busy", headers={"Retry-After": "30"}))
    return lambda daemon: "retrying in 30.0 s" in daemon.log


def slow_and_down(web: PlaybackServer) -> Callable[[Running], bool]:
    """A 503 after 2 s, each time: the stop lands with the first request in flight, which finishes."""
    web.route(PATH, Reply(503, b"busy", delay=2.0))
    return lambda daemon: bool(web.requests)


PATH = "/papers.jsonl"


@pytest.mark.parametrize("stop_when", [
    pytest.param(asks_to_retry_after_30_s, id="503 with Retry-After"),
    pytest.param(slow_and_down, id="a slow 503"),
])
def test_sigterm_while_the_listing_is_fetched_takes_no_further_attempt_and_the_restart_serves_the_slot(
        server, inbox, tmp_path, daemons, listing_server, stop_when):
    readers = [f"reader{n}@example.org" for n in range(3)]
    env = slot_missed_minutes_ago(server, tmp_path, readers, DIGEST_SOURCE=f"{listing_server.url}{PATH}",
                                  DIGEST_CACHE_DIR=str(tmp_path / "cache"))

    stop_now = stop_when(listing_server)
    first = launch(daemons, env, tmp_path)
    wait_until(lambda: stop_now(first), timeout=30)
    assert stop_now(first), first.log
    code, took = first.terminate(timeout=40)  # without the stop reaching the fetch: 15 s or more

    assert code == 0 and took < 5, f"the stop took {took:.1f} s:\n{first.log}"
    assert "stopped early, 3 left for the next run" in first.log and not inbox.messages
    assert len(listing_server.requests) == 1, "no attempt after the stop"
    listing_server.route(PATH, Reply(body=(FIXTURES / "papers.jsonl").read_bytes()))
    second = launch(daemons, env, tmp_path)
    second.wait_for_log("sent 3, ")
    assert second.terminate()[0] == 0
    assert "missed the run at" in second.log, "the slot the stop cut short is served again"
    assert sorted(m["To"] for m in inbox.messages) == readers


def test_a_now_run_whose_listing_could_not_be_fetched_is_retried_on_schedule_after_a_restart(
        server, inbox, tmp_path, daemons, listing_server):
    """The run failed before it sent anything (the source answered 404): it is recorded as failed, so a restart
    the same day (without --now, and past any grace period) still owes its retry and keeps its time."""
    listing_server.route(PATH, Reply(404, b"not found"))
    env = daemon_env(server, tmp_path, DIGEST_SOURCE=f"{listing_server.url}{PATH}",
                     DIGEST_CACHE_DIR=str(tmp_path / "cache"), DIGEST_TIMEZONE=midday_zone())  # one local day

    first = launch(daemons, env, tmp_path, "--now")
    first.wait_for_log("will retry at")
    assert first.terminate()[0] == 0 and "run failed: " in first.log
    listing_server.route(PATH, Reply(body=(FIXTURES / "papers.jsonl").read_bytes()))
    early = launch(daemons, env, tmp_path)  # back at once: the retry keeps its time, 5 minutes after the failure
    early.wait_for_log("readers were left for a retry today", timeout=10)
    assert early.terminate()[0] == 0 and not inbox.messages
    as_if_minutes_ago(tmp_path / "state.db", RETRY_MINUTES[0])  # the first retry is due when the daemon is back
    second = launch(daemons, env, tmp_path)
    second.wait_for_log("sent 1, nothing new 0, failed 0", timeout=15)
    assert second.terminate()[0] == 0

    assert [m["To"] for m in inbox.messages] == [READER]
    with Store.open(tmp_path / "state.db") as store:
        [served, failed] = store.last_runs()
    assert "404" in (failed.error or "") and failed.started_by == "daemon" and served.error is None


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_second_stop_signal_ends_the_daemon_at_once_and_the_restart_loses_nobody(
        server, inbox, tmp_path, daemons, signum):
    readers = [f"reader{n}@example.org" for n in range(5)]
    env = slot_missed_minutes_ago(server, tmp_path, readers)
    inbox.delay = 6.0  # the first stop would wait for the message in hand
    first = launch(daemons, env, tmp_path)
    wait_until(inbox.receiving.is_set, timeout=30)
    assert inbox.receiving.is_set(), first.log

    first.process.send_signal(signum)
    first.wait_for_log("stopping: the messages in hand finish")
    code, took = first.terminate(timeout=15, signum=signum)

    assert code == -signum and took < 2, f"the second {signal.Signals(signum).name} took {took:.1f} s:\n{first.log}"
    assert "again: ending now" in first.log
    inbox.delay = 0.0
    second = launch(daemons, env, tmp_path)
    second.wait_for_log("sent ")
    assert second.terminate()[0] == 0
    got = [m["To"] for m in inbox.messages]
    assert set(got) == set(readers) and len(got) <= len(readers) + 1, "nobody lost; at most the one in hand twice"


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("DIGEST_SCHEDULE", "0 7 * * 8", "DIGEST_SCHEDULE='0 7 * * 8': weekday 8 out of range"),
        ("DIGEST_SCHEDULE", "every morning", "DIGEST_SCHEDULE='every morning': a cron schedule has 5 fields"),
        ("DIGEST_TIMEZONE", "Europe/Bärlin", "DIGEST_TIMEZONE='Europe/Bärlin': not an IANA time zone"),
        ("DIGEST_SOURCE", "hf:tomorrow", "'tomorrow' is not a date"),
    ],
)
def test_invalid_settings_fail_at_start_with_one_line(monkeypatch, run_cli, key, value, problem):
    monkeypatch.setenv("DIGEST_KEYWORDS", "exploration")
    monkeypatch.setenv("DIGEST_TO", READER)
    monkeypatch.setenv("DIGEST_FROM", "digest@example.com")
    monkeypatch.setenv(key, value)

    code, out, err = run_cli("run")

    assert code == 1
    assert len(err.strip().splitlines()) == 1
    assert problem in err


def test_the_start_log_never_shows_the_password(tmp_path, caplog):
    settings = load_settings(None, {
        "DIGEST_KEYWORDS": "x", "DIGEST_TO": READER, "DIGEST_FROM": "d@example.com",
        "DIGEST_SMTP_USER": "ada", "DIGEST_SMTP_PASSWORD": "s3cret-Pa55", "DIGEST_STATE_DB": str(tmp_path / "s.db"),
    })
    caplog.set_level(logging.INFO, logger="digest")

    Daemon(settings, []).log_start()

    assert "smtp_user=ada" in caplog.text
    assert "s3cret" not in caplog.text


def test_status_shows_the_next_run_the_history_and_the_last_runs(server, inbox, tmp_path, monkeypatch, run_cli):
    from digest.app import Digest
    from digest.subscribers import subscribers_from_settings

    for key, value in daemon_env(server, tmp_path, DIGEST_SCHEDULE="30 6 * * 1-5").items():
        if key.startswith("DIGEST_"):
            monkeypatch.setenv(key, value)
    code, out, _ = run_cli("status")
    assert code == 0 and "no history yet" in out

    settings = load_settings(None)
    with Digest(settings) as app:
        app.send(subscribers_from_settings(settings), slot="2026-11-23 06:30 Europe/Berlin")
    code, out, err = run_cli("status")

    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("next run: ") and lines[0].endswith("(30 6 * * 1-5, Europe/Berlin)")
    assert " 06:30 " in lines[0] and ("CET" in lines[0] or "CEST" in lines[0])
    assert lines[1].startswith("history: 1 message to 1 reader, ")
    assert lines[2] == "last runs:"
    assert "scheduled" in lines[3] and "sent 1, nothing new 0, failed 0" in lines[3]


def test_each_run_rereads_the_subscribers_file_and_keeps_the_old_list_if_it_breaks(tmp_path, caplog):
    from digest.subscribers import load_subscribers

    path = tmp_path / "subscribers.toml"
    path.write_text('[[subscribers]]\nemail = "ada@example.org"\nkeywords = ["x"]\n', encoding="utf-8")
    settings = load_settings(None, {"DIGEST_SUBSCRIBERS": str(path), "DIGEST_FROM": "d@example.com",
                                    "DIGEST_STATE_DB": str(tmp_path / "s.db")})
    daemon = Daemon(settings, load_subscribers(path), reload_readers=lambda: load_subscribers(path))

    path.write_text(path.read_text() + '[[subscribers]]\nemail = "bob@example.org"\nkeywords = ["y"]\n')
    daemon.refresh_readers()
    assert [r.email for r in daemon.readers] == ["ada@example.org", "bob@example.org"]

    path.write_text("[[subscribers]\nbroken")
    caplog.set_level(logging.ERROR, logger="digest")
    daemon.refresh_readers()
    assert [r.email for r in daemon.readers] == ["ada@example.org", "bob@example.org"]
    assert "keeping the previous 2 reader(s)" in caplog.text


def test_a_stalled_bounce_mailbox_holds_up_neither_the_digest_nor_the_stop(server, inbox, tmp_path, daemons):
    """An IMAP server that accepts and never greets (or trickles its greeting): its read waits on its own thread."""
    import socket

    stalled = socket.socket()
    stalled.bind(("127.0.0.1", 0))
    stalled.listen(5)
    env = daemon_env(server, tmp_path, DIGEST_BOUNCE_ADDRESS="bounces@example.com",
                     DIGEST_SECRET_KEY="a-test-secret-key-of-some-length",
                     DIGEST_BOUNCE_IMAP_URL=f"imap://bounces:pw@127.0.0.1:{stalled.getsockname()[1]}/INBOX")
    try:
        daemon = launch(daemons, env, tmp_path, "--now")
        daemon.wait_for_log("sent 1, nothing new 0, failed 0")
        code, took = daemon.terminate()
    finally:
        stalled.close()

    assert len(inbox.messages) == 1 and code == 0 and took < 5, daemon.log


class _Sleeper:
    """A daemon serving in a thread whose wall clock (``WallClock``) stands at 06:00 UTC today until ``sleep``
    moves it on, as a suspended machine's does on waking; its scheduled run only sets ``ran``."""

    def __init__(self, tmp_path, monkeypatch) -> None:
        import threading

        import apscheduler.executors.base
        import apscheduler.schedulers.base

        from digest.subscribers import subscribers_from_settings

        settings = load_settings(None, {**daemon_env(_NoServer(), tmp_path), "DIGEST_TIMEZONE": "UTC",
                                        "DIGEST_SCHEDULE": "0 7 * * *", "DIGEST_GRACE_HOURS": "2"})
        real_now = datetime.now(timezone.utc)
        offset = {"now": real_now.replace(hour=6, minute=0, second=0, microsecond=0) - real_now}

        class WallClock(datetime):  # the wall clock as the process sees it, before and after the sleep
            @classmethod
            def now(cls, tz=None):  # type: ignore[override]
                return datetime.now(tz) + offset["now"]

        self.offset, self.WallClock = offset, WallClock
        monkeypatch.setattr(apscheduler.schedulers.base, "datetime", WallClock)
        monkeypatch.setattr(apscheduler.executors.base, "datetime", WallClock)
        monkeypatch.setattr("digest.schedule.utcnow", lambda: WallClock.now(timezone.utc))
        self.daemon = Daemon(settings, subscribers_from_settings(settings, None))
        self.ran = threading.Event()
        self.daemon.scheduled_run = self.ran.set  # type: ignore[method-assign]
        self.serving = threading.Thread(target=self.daemon.serve, daemon=True)

    def __enter__(self) -> _Sleeper:
        self.serving.start()
        wait_until(lambda: self.daemon.scheduler.running, 10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.daemon.stop()
        self.serving.join(10)

    def sleep(self, how_long: timedelta) -> None:
        self.offset["now"] += how_long


def test_a_run_due_while_the_machine_slept_happens_when_it_wakes(tmp_path, monkeypatch):
    """A suspended machine stops the monotonic clock timed waits count on, not the wall clock the schedule is
    in: a daemon that went to sleep at 06:00 waiting for 07:00 and woke at 07:01 runs then, not at 08:01."""
    with _Sleeper(tmp_path, monkeypatch) as machine:
        time.sleep(1.5)
        assert not machine.ran.is_set(), "07:00 has not come yet"
        machine.sleep(timedelta(hours=1, minutes=1))  # the lid closed at 06:00 and opened at 07:01
        assert machine.ran.wait(5), "the 07:00 run must happen on waking, not an hour of monotonic time later"


def test_a_run_slept_through_for_longer_than_the_grace_period_is_skipped_with_a_line_saying_so(
        tmp_path, monkeypatch, caplog):
    """The lid closed at 06:00 and opened at 10:01: the 07:00 run is three hours too late for a grace of two."""
    caplog.set_level(logging.INFO, logger="digest")
    with _Sleeper(tmp_path, monkeypatch) as machine:
        machine.sleep(timedelta(hours=4, minutes=1))
        wait_until(lambda: "asleep" in caplog.text, 5)

    assert not machine.ran.is_set()
    day = machine.WallClock.now(timezone.utc).date()
    assert (f"skipped the run at {day} 07:00 UTC: the machine was asleep or the clock was set, and it is 3 h 01 min "
            "late, more than DIGEST_GRACE_HOURS=2 (raise it to catch up that late); next run: ") in caplog.text


@pytest.mark.parametrize(("hour", "skipped"), [(10, True), (8, False)])
def test_a_start_after_a_run_older_than_the_grace_period_says_it_skips_it(tmp_path, monkeypatch, caplog,
                                                                           hour, skipped):
    """Off at 07:00, started at 10:00 with a grace of two hours: one line says 07:00 is not run, and why."""
    settings = load_settings(None, {**daemon_env(_NoServer(), tmp_path), "DIGEST_TIMEZONE": "UTC",
                                    "DIGEST_SCHEDULE": "0 7 * * *", "DIGEST_GRACE_HOURS": "2"})
    monkeypatch.setattr("digest.schedule.utcnow", lambda: datetime(2031, 3, 4, hour, 0, tzinfo=timezone.utc))
    caplog.set_level(logging.INFO, logger="digest")

    Store.open(settings.state_db).close()  # not the first start
    Daemon(settings, []).add_start_jobs(now=False)

    line = ("skipped the run at 2031-03-04 07:00 UTC: the daemon was not running then, and it is 3 h 00 min late, "
            "more than DIGEST_GRACE_HOURS=2 (raise it to catch up that late); next run: 2031-03-05 07:00 UTC")
    assert (line in caplog.text) is skipped
    assert ("missed the run at 2031-03-04 07:00 UTC; running it now" in caplog.text) is not skipped


def test_a_start_says_nothing_of_an_old_run_that_happened(tmp_path, monkeypatch, caplog):
    settings = load_settings(None, {**daemon_env(_NoServer(), tmp_path), "DIGEST_TIMEZONE": "UTC",
                                    "DIGEST_SCHEDULE": "0 7 * * *", "DIGEST_GRACE_HOURS": "2"})
    monkeypatch.setattr("digest.schedule.utcnow", lambda: datetime(2031, 3, 4, 10, 0, tzinfo=timezone.utc))
    daemon = Daemon(settings, [])
    monkeypatch.setattr(daemon.slots, "done", lambda slot: slot == "2031-03-04 07:00 UTC")
    caplog.set_level(logging.INFO, logger="digest")

    daemon.add_start_jobs(now=False)

    assert "skipped" not in caplog.text and "missed" not in caplog.text


def test_a_first_start_says_nothing_of_the_runs_before_it(tmp_path, monkeypatch, caplog):
    settings = load_settings(None, {**daemon_env(_NoServer(), tmp_path), "DIGEST_TIMEZONE": "UTC",
                                    "DIGEST_SCHEDULE": "0 7 * * *", "DIGEST_GRACE_HOURS": "2"})
    monkeypatch.setattr("digest.schedule.utcnow", lambda: datetime(2031, 3, 4, 10, 0, tzinfo=timezone.utc))
    caplog.set_level(logging.INFO, logger="digest")

    Daemon(settings, []).add_start_jobs(now=False)

    assert "skipped" not in caplog.text and not settings.state_db.exists()


class _NoServer:  # a test that sends nothing
    port = 25
