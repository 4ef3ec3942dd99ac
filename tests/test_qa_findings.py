"""What a user's-eye audit found (issue #11's promises): one readable line and exit 1 for bad
input, no traceback; a truthful ``digest status``; junk in a listing stays out of the table."""

from __future__ import annotations

import errno
import json
import re
from pathlib import Path

import pytest

from digest.errors import OutputError, why_not_writable

from digest.model import Subscriber
from digest.store import Store

from .conftest import FIXTURES

ADA, BOB, CAROL = "ada@example.org", "bob@example.org", "carol@example.org"
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")
READERS = [Subscriber(email, ("reward model", "exploration")) for email in (ADA, BOB, CAROL)]


def one_line_error(code: int, err: str) -> str:
    assert code == 1
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("digest: error: "), err
    return lines[0]


# bad output paths ---------------------------------------------------------------------------

def test_a_preview_output_in_a_missing_folder_is_one_line_naming_the_folder(run_cli, tmp_path):
    target = tmp_path / "nonexistent" / "dir" / "pv.html"

    code, out, err = run_cli("preview", "--source", "sample", "--keywords", "reward model", "--output", str(target))

    line = one_line_error(code, err)
    assert f"the folder {target.parent} does not exist" in line and "--output" in line


def test_a_dry_run_outbox_that_is_a_file_is_one_line_naming_the_file(run_cli, monkeypatch, tmp_path):
    (tmp_path / "base.env").write_text("X=1\n", encoding="utf-8")
    monkeypatch.setenv("DIGEST_FROM", "d@example.com")
    monkeypatch.setenv("DIGEST_TO", "ada@example.org")
    monkeypatch.setenv("DIGEST_KEYWORDS", "reward model")
    monkeypatch.setenv("DIGEST_STATE_DB", str(tmp_path / "state.db"))
    Store.open(tmp_path / "state.db").close()  # no note that the dry run has no history

    code, out, err = run_cli("send", "--source", "sample", "--dry-run", "--outbox", "base.env")

    line = one_line_error(code, err)
    assert "base.env is a file, not a folder" in line and "--outbox" in line


@pytest.mark.parametrize(("number", "words"), [
    (errno.EROFS, "the file system is read-only"),
    (errno.EACCES, "permission denied"),
    (errno.ENOSPC, "the disk is full"),
])
def test_a_write_that_the_system_refuses_is_named_in_words(tmp_path, number, words):
    err = OSError(number, "whatever the C library says")

    message = str(OutputError.writing(tmp_path / "pv.html", err, "choose another file with --output FILE"))

    assert message == f"cannot write {tmp_path / 'pv.html'}: {words}; choose another file with --output FILE"


# a truthful digest status ------------------------------------------------------------------

def status_runs(run_cli) -> list[str]:
    code, out, err = run_cli("status")
    assert code == 0, err
    lines = out.splitlines()
    return lines[lines.index("last runs:") + 1:]


def faulty_send(port: int, tmp_path: Path, readers, **kwargs):
    from digest.app import Digest
    from digest.settings import load_settings

    from .test_faults import env_for

    settings = load_settings(None, env_for(port, tmp_path))
    with Digest(settings, started_by=kwargs.pop("started_by", "one-off")) as app:
        if kwargs.pop("stop_after_first", False):
            kwargs["progress"] = lambda done, total: app.stopping.set()
        return app.send(readers, source=str(FIXTURES / "papers.jsonl"), **kwargs)


def use_faulty_env(monkeypatch, faulty, tmp_path):
    from .test_faults import env_for

    for key, value in env_for(faulty.port, tmp_path).items():
        monkeypatch.setenv(key, value)


def test_a_run_killed_midway_shows_what_it_recorded_before_it_ended(faulty, faults, tmp_path, monkeypatch, run_cli):
    import sqlite3

    faulty_send(faulty.port, tmp_path, READERS)
    with sqlite3.connect(tmp_path / "state.db") as db:  # what kill -9 leaves: the run's end never written
        db.execute("UPDATE runs SET finished = NULL, sent = 0, nothing_new = 0, failed = 0")
    use_faulty_env(monkeypatch, faulty, tmp_path)

    [line] = status_runs(run_cli)

    assert "sent 3, failed 0 recorded so far (failed: it ended without recording its end" in line
    assert "still running" not in line, "no send holds the lock: the run is not running (issue #17)"


def test_readers_who_already_had_todays_digest_are_not_nothing_new(faulty, faults, tmp_path, monkeypatch, run_cli):
    faulty_send(faulty.port, tmp_path, READERS)
    again = faulty_send(faulty.port, tmp_path, READERS)
    use_faulty_env(monkeypatch, faulty, tmp_path)

    assert again.summary() == "sent 0, nothing new 0, failed 0, already had today's 3"
    second, first = status_runs(run_cli)
    assert "sent 0, nothing new 0, failed 0, already had today's 3" in second
    assert "sent 3, nothing new 0, failed 0" in first and "already" not in first


@pytest.mark.usefixtures("fast_retries")
def test_failed_and_deferred_readers_are_counted_apart(faulty, faults, tmp_path, monkeypatch, run_cli):
    faults.rcpt[ADA] = "550 5.1.1 no such user"
    faults.rcpt[BOB] = "452 4.2.2 mailbox full"

    report = faulty_send(faulty.port, tmp_path, READERS)
    use_faulty_env(monkeypatch, faulty, tmp_path)

    assert list(report.failed) == [ADA] and list(report.deferred) == [BOB]
    [line] = status_runs(run_cli)
    assert "sent 1, nothing new 0, failed 1, deferred 1" in line


def test_a_run_stopped_by_a_signal_shows_as_stopped_with_how_many_were_left(faulty, faults, tmp_path, monkeypatch,
                                                                            run_cli):
    report = faulty_send(faulty.port, tmp_path, READERS, stop_after_first=True)
    use_faulty_env(monkeypatch, faulty, tmp_path)

    assert report.stopped >= 2 and len(report.sent) + report.stopped == 3
    [line] = status_runs(run_cli)
    assert f"sent {len(report.sent)}, " in line
    assert f"(stopped early: {report.stopped} left for the next run)" in line


def test_runs_are_labelled_by_who_started_them(faulty, faults, tmp_path, monkeypatch, run_cli):
    faulty_send(faulty.port, tmp_path, READERS[:1])
    faulty_send(faulty.port, tmp_path, READERS[1:2], started_by="daemon")
    faulty_send(faulty.port, tmp_path, READERS[2:], slot="2026-11-23 07:00 UTC", started_by="daemon")
    use_faulty_env(monkeypatch, faulty, tmp_path)

    kinds = [line.split()[3] for line in status_runs(run_cli)]

    assert kinds == ["scheduled", "daemon", "one-off"]


def test_a_digest_run_now_run_is_labelled_the_daemons(server, inbox, tmp_path, monkeypatch, run_cli):
    from .test_daemon import daemon_env, launch

    env = daemon_env(server, tmp_path, DIGEST_SCHEDULE="0 7 29 2 *")  # no slot to catch up at start
    started = []
    try:
        daemon = launch(started, env, tmp_path, "--now")
        daemon.wait_for_log("sent 1, nothing new 0, failed 0")
        assert daemon.terminate()[0] == 0
    finally:
        for running in started:
            running.kill()
    for key, value in env.items():
        if key.startswith("DIGEST_"):
            monkeypatch.setenv(key, value)

    [line] = status_runs(run_cli)

    assert line.split()[3] == "daemon"


def test_status_on_a_damaged_store_says_the_history_cannot_be_read(run_cli, monkeypatch, tmp_path):
    (tmp_path / "state.db").write_bytes(b"this is not a database, just some bytes" * 40)
    monkeypatch.setenv("DIGEST_STATE_DB", str(tmp_path / "state.db"))

    code, out, err = run_cli("status")

    line = one_line_error(code, err)
    assert out.startswith("next run: ")
    assert line.startswith("digest: error: cannot show the run history: ")
    assert str(tmp_path / "state.db") in line and "restore it from a backup" in line


# junk in a saved page, control characters on the terminal ------------------------------------

ABSTRACT = ("We study how agents explore sparse-reward environments and show that a simple count-based "
            "bonus matches far more elaborate methods on every benchmark we tried.")
PAGE = f"""Daily Papers

Exploration Bonuses Revisited

{ABSTRACT}

Reward Models That Know What They Do Not Know

{ABSTRACT.replace("explore", "learn rewards in")}
"""
JUNK = "lorem ipsum \x1b[31m junk\n<script>alert(1)</script>\n"


@pytest.mark.parametrize("where", ["end", "middle"])
def test_a_junk_line_in_a_saved_page_is_skipped_with_a_warning_not_listed_as_a_paper(run_cli, tmp_path, where):
    first, second = PAGE.split("Reward Models")
    page = PAGE + JUNK if where == "end" else first + JUNK + "Reward Models" + second
    (tmp_path / "page.txt").write_text(page, encoding="utf-8")

    code, out, err = run_cli("papers", "--source", "page.txt")

    assert code == 0, err
    titles = [line.split(None, 1)[1] for line in out.splitlines()[1:]]
    assert titles == ["Exploration Bonuses Revisited", "Reward Models That Know What They Do Not Know"]
    assert "2 papers from page.txt" in err
    assert "'lorem ipsum \\x1b[31m junk' skipped: not a paper" in err
    assert "\x1b" not in out + err


def test_the_papers_table_never_prints_control_characters_whatever_the_listing_holds(run_cli, tmp_path):
    title = "Red \x1b[31mAlert\x1b[0m and a bell\x07 and a CSI \x9b2J"
    (tmp_path / "papers.jsonl").write_text(
        json.dumps({"id": "2401.00001", "title": title, "abstract": ABSTRACT}) + "\n", encoding="utf-8")

    code, out, err = run_cli("papers", "--source", "papers.jsonl")

    assert code == 0, err
    assert not CONTROL.search(out + err)
    assert "Red [31mAlert[0m and a bell and a CSI 2J" in out


def test_the_rank_table_never_prints_control_characters(run_cli, tmp_path):
    (tmp_path / "papers.jsonl").write_text(
        json.dumps({"id": "2401.00001", "title": "Exploration \x1b]0;pwned\x07 bonuses", "abstract": ABSTRACT})
        + "\n", encoding="utf-8")

    code, out, err = run_cli("rank", "--source", "papers.jsonl", "--keywords", "exploration")

    assert code == 0, err
    assert "Exploration ]0;pwned bonuses" in out
    assert not CONTROL.search(out + err)


# messages that name the real problem --------------------------------------------------------------

def test_a_state_db_under_a_file_says_that_file_is_not_a_folder(run_cli, monkeypatch, tmp_path):
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    monkeypatch.setenv("DIGEST_STATE_DB", str(tmp_path / "afile" / "state.db"))
    for key, value in {"DIGEST_FROM": "d@example.com", "DIGEST_TO": "ada@example.org",
                       "DIGEST_KEYWORDS": "reward model", "DIGEST_SMTP_HOST": "127.0.0.1"}.items():
        monkeypatch.setenv(key, value)

    for command in (["send", "--source", "sample"], ["readers", "list"]):
        code, out, err = run_cli(*command)
        line = one_line_error(code, err)
        assert f"{tmp_path / 'afile'} is a file, not a folder; set DIGEST_STATE_DB to a path in a folder" in line
        assert "File exists" not in line and "make its folder writable" not in line


@pytest.mark.parametrize("spec", ["ftp://x", "file:///etc/papers.txt", "sample,gopher://old.example/1"])
def test_a_url_of_another_scheme_is_not_taken_for_a_file_name(run_cli, spec):
    code, out, err = run_cli("papers", "--source", spec)

    line = one_line_error(code, err)
    assert line.endswith("not a source digest can read; a source is an http(s) URL, a file, "
                         "sample, hf, hf:YYYY-MM-DD, arxiv:CATS, biorxiv:SUBJECT or medrxiv:SUBJECT")
    assert spec.split(",")[-1] + ":" in line


def test_the_summary_names_only_the_sources_that_loaded(run_cli):
    code, out, err = run_cli("papers", "--source", "sample,nope.txt")

    assert code == 0, err
    assert "skipped nope.txt: no such file" in err
    assert err.strip().splitlines()[-1] == "12 papers from sample"


def test_serve_on_a_damaged_store_fails_at_start_in_one_line(run_cli, monkeypatch, tmp_path):
    (tmp_path / "state.db").write_bytes(b"this is not a database, just some bytes" * 40)
    monkeypatch.setenv("DIGEST_STATE_DB", str(tmp_path / "state.db"))
    monkeypatch.setenv("DIGEST_SECRET_KEY", "Ut4nW8qZ1xC6vB3mK9pR2sL7")

    code, out, err = run_cli("serve", "--port", "0")

    line = one_line_error(code, err)
    assert line.startswith("digest: error: cannot serve the reader pages: the state database ")
    assert "is damaged" in line and "reader pages at" not in out


def test_readers_list_never_prints_control_characters(run_cli, monkeypatch, tmp_path):
    (tmp_path / "subscribers.toml").write_text(
        '[[subscribers]]\nemail = "ada@example.org"\nkeywords = ["exploration \\u001b[2J", "RLHF"]\n', encoding="utf-8")
    monkeypatch.setenv("DIGEST_SUBSCRIBERS", "subscribers.toml")
    monkeypatch.setenv("DIGEST_STATE_DB", str(tmp_path / "state.db"))

    code, out, err = run_cli("readers", "list")

    assert code == 0, err
    assert "ada@example.org" in out and "[2J" in out
    assert not CONTROL.search(out + err)
