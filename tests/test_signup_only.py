"""A list whose readers all come from the web app's sign-up (no subscribers file, no DIGEST_TO + DIGEST_KEYWORDS):
the confirmed sign-ups are the readers, for send, check, rank and the daemon alike; "no readers" is said only
when there is nobody, with the ways to add one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from digest.schedule import Daemon
from digest.settings import load_settings
from digest.store import Store

from .test_daemon import daemon_env, daemons, launch  # noqa: F401 (daemons: the fixture)

SIGNED_UP = "web@example.org"


def sign_up(state_db: Path, email: str = SIGNED_UP, confirm: bool = True) -> None:
    """What /subscribe and its confirmation link store (tests/test_web_signup.py goes through the pages)."""
    with Store.open(state_db) as store:
        store.request_signup(email, f"rid-{email}", ["exploration"])
        if confirm:
            store.confirm_signup(email)


def sign_up_env(server, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The daemon tests' settings with no roster at all: every reader signs up on the web."""
    env = daemon_env(server, tmp_path, **extra)
    del env["DIGEST_KEYWORDS"], env["DIGEST_TO"]
    return env


@pytest.fixture
def only_sign_ups(server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """One confirmed sign-up and one never confirmed; nothing else names a reader."""
    for key, value in sign_up_env(server, tmp_path).items():
        if key.startswith("DIGEST_"):
            monkeypatch.setenv(key, value)
    state_db = tmp_path / "state.db"
    sign_up(state_db)
    sign_up(state_db, "pending@example.org", confirm=False)
    return state_db


def test_send_goes_to_the_confirmed_sign_ups(run_cli, only_sign_ups: Path, inbox) -> None:
    code, out, err = run_cli("send")

    assert code == 0, err
    assert [message["To"] for message in inbox.messages] == [SIGNED_UP]
    assert "sent 1," in out


def test_check_counts_the_confirmed_sign_ups_as_the_readers(run_cli, only_sign_ups: Path) -> None:
    code, out, err = run_cli("check", "--no-smtp")

    assert code == 0, err
    assert f"{SIGNED_UP}: exploration (signed up on the web)" in out.splitlines()
    assert "settings ok: 1 reader (1 signed up on the web)" in out


def test_rank_shows_the_confirmed_sign_ups(run_cli, only_sign_ups: Path) -> None:
    code, out, err = run_cli("rank", "--json")

    assert code == 0, err
    assert {json.loads(line)["subscriber"] for line in out.splitlines()} == {SIGNED_UP}


@pytest.mark.parametrize("source", ["sample", "FILE"])
def test_preview_shows_the_first_confirmed_sign_up_of_any_source_the_sample_too(run_cli, only_sign_ups: Path,
                                                                                tmp_path: Path, source: str) -> None:
    """The sample's demo keywords are for nobody at all (a fresh install): with a confirmed sign-up, the sample
    previews that reader's digest, as a send of it would send, and as a listing file's preview does."""
    from .test_cli import SAMPLE_TITLE

    if source == "FILE":
        source = str(tmp_path / "sample.jsonl")
        Path(source).write_bytes((Path(__file__).parents[1] / "digest" / "data" / "sample.jsonl").read_bytes())

    code, out, err = run_cli("preview", "--source", source, "--output", "preview.html")

    assert code == 0, err
    assert "demo keywords" not in err
    html = (tmp_path / "preview.html").read_text(encoding="utf-8")
    assert SAMPLE_TITLE not in html and "xploration" in html


def test_preview_of_the_sample_with_nobody_confirmed_shows_the_demo_keywords(run_cli, server, tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from .test_cli import SAMPLE_TITLE

    for key, value in sign_up_env(server, tmp_path).items():
        if key.startswith("DIGEST_"):
            monkeypatch.setenv(key, value)
    sign_up(tmp_path / "state.db", "pending@example.org", confirm=False)  # not a reader until confirmed

    code, out, err = run_cli("preview", "--source", "sample", "--output", "preview.html")

    assert code == 0, err
    assert "no reader configured" in err and "demo keywords" in err
    assert SAMPLE_TITLE in (tmp_path / "preview.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("command", [("send",), ("check", "--no-smtp"), ("rank",)])
def test_with_nobody_at_all_each_command_says_how_to_add_readers(run_cli, server, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                command: tuple[str, ...]) -> None:
    for key, value in sign_up_env(server, tmp_path).items():
        if key.startswith("DIGEST_"):
            monkeypatch.setenv(key, value)
    sign_up(tmp_path / "state.db", "pending@example.org", confirm=False)  # not a reader until confirmed

    code, out, err = run_cli(*command)

    assert code == 1
    assert err.splitlines()[-1] == (
        "digest: error: no readers: set DIGEST_KEYWORDS (and DIGEST_TO) for one reader, DIGEST_SUBSCRIBERS for a "
        "subscribers file, or DIGEST_SIGNUP=true to let readers sign up at /subscribe (digest serve, or digest "
        "run --serve)")


def test_with_sign_up_on_and_nobody_confirmed_yet_send_says_so(run_cli, server, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in sign_up_env(server, tmp_path, DIGEST_SIGNUP="true").items():
        if key.startswith("DIGEST_"):
            monkeypatch.setenv(key, value)

    code, out, err = run_cli("send")

    assert code == 1
    assert err.splitlines() == [
        "digest: error: no readers yet: nobody has confirmed a sign-up at /subscribe (DIGEST_SIGNUP=true); "
        "or set DIGEST_KEYWORDS (and DIGEST_TO) for one reader, or DIGEST_SUBSCRIBERS for a subscribers file"]


def test_the_daemon_sends_to_the_confirmed_sign_ups(server, inbox, tmp_path: Path, daemons) -> None:
    sign_up(tmp_path / "state.db")
    daemon = launch(daemons, sign_up_env(server, tmp_path), tmp_path, "--now")

    daemon.wait_for_log("sent 1, nothing new 0, failed 0")
    code, _ = daemon.terminate()

    assert code == 0 and [message["To"] for message in inbox.messages] == [SIGNED_UP], daemon.log


def test_a_daemon_started_before_the_first_sign_up_waits_for_it(server, inbox, tmp_path: Path, daemons) -> None:
    daemon = launch(daemons, sign_up_env(server, tmp_path, DIGEST_SIGNUP="true"), tmp_path, "--now")

    daemon.wait_for_log("nothing to send yet")  # its run at start found nobody, and it stays up
    assert daemon.process.poll() is None, daemon.log
    code, _ = daemon.terminate()
    assert code == 0 and inbox.messages == [] and "no readers yet" in daemon.log, daemon.log


def test_the_first_run_after_the_first_sign_up_sends_to_it(server, inbox, tmp_path: Path) -> None:
    from digest.subscribers import roster_from_settings

    settings = load_settings(None, sign_up_env(server, tmp_path, DIGEST_SIGNUP="true"))
    daemon = Daemon(settings, roster_from_settings(settings), reload_readers=lambda: roster_from_settings(settings))
    assert daemon.run_once() is not None and inbox.messages == []

    sign_up(settings.state_db)
    report = daemon.run_once()

    assert report is not None and report.sent == [SIGNED_UP]
    assert [message["To"] for message in inbox.messages] == [SIGNED_UP]


def test_a_daemon_with_nobody_and_no_sign_up_refuses_to_start(server, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "digest", "run"], env=sign_up_env(server, tmp_path), cwd=tmp_path,
                          capture_output=True, text=True, timeout=30)

    assert done.returncode == 1
    assert done.stderr.splitlines()[-1].startswith("digest: error: no readers: set DIGEST_KEYWORDS"), done.stderr
    assert "DIGEST_SIGNUP=true" in done.stderr


def test_no_roster_is_an_empty_one(tmp_path: Path) -> None:
    from digest.subscribers import roster_from_settings

    assert roster_from_settings(load_settings(None, {"DIGEST_STATE_DB": str(tmp_path / "state.db")})) == []


def test_check_says_there_is_nobody_beside_its_other_problems(run_cli, server, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in sign_up_env(server, tmp_path).items():
        if key.startswith("DIGEST_") and key != "DIGEST_FROM":
            monkeypatch.setenv(key, value)

    code, out, err = run_cli("check", "--no-smtp")

    assert code == 1 and out == ""
    assert [line.split(":")[1].strip() for line in err.splitlines()] == ["error", "error"]
    assert "DIGEST_FROM is not set" in err and "no readers: set DIGEST_KEYWORDS" in err


TO_WITHOUT_KEYWORDS = ("DIGEST_TO is set but DIGEST_KEYWORDS is not: owner@example.org gets no digest (only the "
                       "readers who signed up on the web do); set DIGEST_KEYWORDS to send to them too, or leave "
                       "DIGEST_TO empty")


def test_send_to_the_sign_ups_warns_once_that_digest_to_without_keywords_gets_nothing(
        run_cli, only_sign_ups: Path, inbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """DIGEST_TO alone named a reader once (without sign-ups it is still the 'no readers' error); beside confirmed
    sign-ups it was ignored without a word. The send goes to the sign-ups and says so, once."""
    monkeypatch.setenv("DIGEST_TO", "owner@example.org")

    code, out, err = run_cli("send")

    assert code == 0, err
    assert [message["To"] for message in inbox.messages] == [SIGNED_UP]
    assert [line for line in err.splitlines() if "DIGEST_TO" in line] == [f"digest: warning: {TO_WITHOUT_KEYWORDS}"]


def test_check_reports_digest_to_without_keywords_beside_the_sign_ups(run_cli, only_sign_ups: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_TO", "owner@example.org")

    code, out, err = run_cli("check", "--no-smtp")

    assert code == 1
    assert f"{SIGNED_UP}: exploration (signed up on the web)" in out.splitlines()
    assert err.splitlines() == [f"digest: error: {TO_WITHOUT_KEYWORDS}"]


def test_a_daemon_with_digest_to_without_keywords_starts_and_warns(server, tmp_path: Path, caplog) -> None:
    """It is the daemon's start check too, as a warning: the sign-ups' digests still go out."""
    from digest.checks import check_setup, require_ready

    settings = load_settings(None, {**sign_up_env(server, tmp_path), "DIGEST_TO": "owner@example.org"})

    require_ready(settings, [])  # does not raise: not starting would stop the sign-ups' digests

    assert check_setup(settings, []).bearable == (TO_WITHOUT_KEYWORDS,)
    assert f"warning: {TO_WITHOUT_KEYWORDS}" in caplog.text


@pytest.mark.parametrize("keywords", ["", ", "])
def test_readers_list_shows_the_sign_ups_when_the_keywords_name_none(run_cli, only_sign_ups: Path,
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      keywords: str) -> None:
    """Commas alone are no keywords, as for send, check and rank: no roster, not a refusal."""
    monkeypatch.setenv("DIGEST_KEYWORDS", keywords)

    code, out, err = run_cli("readers", "list")

    assert code == 0, err
    assert SIGNED_UP in out and "pending@example.org" in out
