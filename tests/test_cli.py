"""The ``digest`` command as a newcomer meets it: the README's commands work as written."""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from digest.cli import LEGEND, ZonedFormatter, build_parser
from digest.store import Store

README = Path(__file__).resolve().parents[1] / "README.md"
SAMPLE_TITLE = "Reward Models That Know What They"  # the sample's best match for its demo keywords


def smtp_env(monkeypatch: pytest.MonkeyPatch, server, tmp_path: Path, **extra: str) -> None:
    env = {
        "DIGEST_SOURCE": "sample", "DIGEST_FROM": "Digest <digest@example.com>",
        "DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(server.port), "DIGEST_SMTP_SECURITY": "none",
        "DIGEST_SMTP_TIMEOUT": "10", "DIGEST_STATE_DB": str(tmp_path / "state.db"), **extra,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)


# preview ------------------------------------------------------------------------------

def test_the_readme_preview_command_works_with_no_settings_at_all(run_cli, tmp_path):
    code, out, err = run_cli("preview", "--source", "sample", "--output", "preview.html")

    assert code == 0, err
    assert SAMPLE_TITLE in (tmp_path / "preview.html").read_text(encoding="utf-8")
    assert "no reader configured" in err and "demo keywords" in err
    assert len(err.strip().splitlines()) == 1


def test_a_configured_reader_is_previewed_without_the_demo_note(run_cli, monkeypatch, tmp_path):
    monkeypatch.setenv("DIGEST_KEYWORDS", "exploration")

    code, out, err = run_cli("preview", "--source", "sample", "--output", "preview.html")

    assert code == 0, err
    assert "demo keywords" not in err
    assert SAMPLE_TITLE not in (tmp_path / "preview.html").read_text(encoding="utf-8")


def test_preview_warns_about_what_the_listing_dropped_as_papers_does(run_cli, monkeypatch, tmp_path):
    monkeypatch.setenv("DIGEST_KEYWORDS", "exploration")
    listing = tmp_path / "listing.jsonl"
    listing.write_text('{"id": "2601.00001", "title": "Exploration bonuses", "abstract": "We study exploration."}\n'
                       '{"id": "2601.00002", "title": 42, "abstract": "A title that is a number."}\n', encoding="utf-8")

    _, _, papers_err = run_cli("papers", "--source", str(listing))
    code, _, err = run_cli("preview", "--source", str(listing), "--output", "preview.html")

    warnings = [line for line in papers_err.splitlines() if line.startswith("digest: warning:")]
    assert code == 0 and len(warnings) == 1 and err.splitlines() == warnings


def test_send_words_a_listing_warning_like_every_other_command_line(tmp_path):
    listing = tmp_path / "listing.jsonl"
    listing.write_text('{"id": "2601.00001", "title": "Exploration bonuses", "abstract": "We study exploration."}\n'
                       '{"id": "2601.00002", "title": 42, "abstract": "A title that is a number."}\n', encoding="utf-8")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")},
           "DIGEST_FROM": "digest@example.com", "DIGEST_TO": "ada@example.org", "DIGEST_KEYWORDS": "exploration",
           "DIGEST_STATE_DB": str(tmp_path / "state.db")}
    Store.open(tmp_path / "state.db").close()  # no note that the dry run has no history

    done = subprocess.run([sys.executable, "-m", "digest", "send", "--dry-run", "--outbox", str(tmp_path / "out"),
                           "--source", str(listing)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("digest: warning: ") and "line 2 skipped" in lines[0], lines


def test_a_live_source_with_no_reader_still_says_how_to_configure_one(run_cli):
    code, out, err = run_cli("preview", "--source", "hf", "--output", "preview.html")

    assert code == 1
    assert err.strip().splitlines() == [
        "digest: error: no readers: set DIGEST_KEYWORDS (and DIGEST_TO) for one reader, DIGEST_SUBSCRIBERS for a "
        "subscribers file, or DIGEST_SIGNUP=true to let readers sign up at /subscribe (digest serve, or digest "
        "run --serve)"]


def test_a_source_under_the_home_of_an_unknown_user_is_one_line(run_cli):
    code, out, err = run_cli("papers", "--source", "~no-such-user-here/listing.json")

    assert code == 1
    assert err.strip().splitlines() == [
        "digest: error: ~no-such-user-here/listing.json: cannot expand ~no-such-user-here "
        "(no such user, or no home folder); write the path in full"]


# --env-file ---------------------------------------------------------------------------

@pytest.mark.parametrize("argv, hint", [
    (["rank", "--source", "sample", "--debug"], "--debug is a global option: write it before the command, "
                                                "digest --debug rank ..."),
    (["--env-file", "x.env", "send", "--dry-run", "-v"], "-v is a global option: write it before the command, "
                                                         "digest -v send ..."),
    (["readers", "list", "--env-file=x.env"], "--env-file is a global option: write it before the command, "
                                              "digest --env-file PATH readers ..."),
])
def test_a_global_option_after_the_command_says_where_it_goes(run_cli, capsys, argv, hint):
    with pytest.raises(SystemExit) as stopped:
        run_cli(*argv)

    assert stopped.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(f"; {hint}")


def test_an_unknown_option_gets_no_global_option_hint(run_cli, capsys):
    with pytest.raises(SystemExit):
        run_cli("rank", "--bogus")

    assert capsys.readouterr().err.splitlines()[-1] == "digest: error: unrecognized arguments: --bogus"


def test_an_env_file_named_but_missing_is_an_error(run_cli):
    code, out, err = run_cli("--env-file", "missing.env", "status")

    assert code == 1
    assert err.strip().splitlines() == [
        "digest: error: --env-file missing.env: no such file; check the path "
        "(without --env-file, ./.env is used if present)"]


def test_an_env_file_that_is_a_directory_is_an_error(run_cli, tmp_path):
    (tmp_path / "conf").mkdir()

    code, out, err = run_cli("--env-file", "conf", "status")

    assert code == 1 and "--env-file conf: is a directory" in err


def test_an_env_file_that_is_not_utf8_is_one_line_naming_the_line_and_the_fix(run_cli, tmp_path):
    (tmp_path / "latin1.env").write_bytes("DIGEST_SOURCE=sample\nDIGEST_KEYWORDS=r\u00e9seaux\n".encode("latin-1"))

    code, out, err = run_cli("--env-file", "latin1.env", "status")

    assert code == 1
    assert err.strip().splitlines() == [
        "digest: error: --env-file latin1.env: line 2 is not UTF-8 text; save the file as UTF-8"]


def test_an_env_file_that_is_no_settings_file_is_one_line_not_a_warning_per_line(run_cli, tmp_path):
    (tmp_path / "subscribers.toml").write_text('[[subscribers]]\nemail = "ada@example.org"\nkeywords = ["llm"]\n',
                                               encoding="utf-8")

    code, out, err = run_cli("--env-file", "subscribers.toml", "status")  # the subscribers file, by mistake

    assert code == 1 and out == ""
    assert err.strip().splitlines() == [
        "digest: error: --env-file subscribers.toml: line 1 is not a KEY=value line; "
        "write settings as config.example.env does, e.g. DIGEST_KEYWORDS=reinforcement learning"]


def test_without_env_file_a_missing_dot_env_is_fine_and_a_present_one_is_read(run_cli, tmp_path):
    code, out, _ = run_cli("status")
    assert code == 0 and "(0 7 * * 1-5, UTC)" in out

    (tmp_path / ".env").write_text("DIGEST_TIMEZONE=Europe/Berlin\n", encoding="utf-8")
    code, out, _ = run_cli("status")
    assert code == 0 and "(0 7 * * 1-5, Europe/Berlin)" in out


def test_the_quickstart_env_file_is_read(run_cli, tmp_path):
    example = Path(__file__).resolve().parents[1] / "config.example.env"

    code, out, err = run_cli("--env-file", str(example), "status")

    assert code == 0, err
    assert "Europe/Berlin" in out


# rank -------------------------------------------------------------------------------

def rank_json(run_cli, *args: str) -> list[dict]:
    code, out, err = run_cli("rank", "--source", "sample", "--json", *args)
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


def test_rank_limit_wins_over_digest_max_items(run_cli, monkeypatch):
    monkeypatch.setenv("DIGEST_MIN_SCORE", "0.5")
    everything = rank_json(run_cli, "--keywords", "learning, model")
    assert len(everything) >= 6
    monkeypatch.setenv("DIGEST_MAX_ITEMS", "2")

    assert len(rank_json(run_cli, "--keywords", "learning, model")) == 2
    assert len(rank_json(run_cli, "--keywords", "learning, model", "--limit", "5")) == 5
    assert len(rank_json(run_cli, "--keywords", "learning, model", "--limit", "0")) == len(everything)


def test_a_negative_limit_is_a_usage_error(run_cli, capsys):
    with pytest.raises(SystemExit) as stopped:
        run_cli("rank", "--source", "sample", "--keywords", "x", "--limit", "-1")

    assert stopped.value.code == 2
    assert "--limit: '-1' is not a whole number from 0 to 10000" in capsys.readouterr().err


@pytest.mark.parametrize("columns", [60, 100, 200])
def test_the_rank_table_fits_the_terminal_and_explains_where_keywords_matched(run_cli, monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", str(columns))

    code, out, err = run_cli("rank", "--source", "sample", "--keywords", "reward model*, RLHF, reinforcement learning")

    lines = out.splitlines()
    assert code == 0, err
    assert max(len(line) for line in lines) <= columns
    assert lines[-1] == LEGEND == "where found: [t] title, [a] abstract, [t+a] both"
    assert "[t+a]" in out
    if columns >= 200:
        assert SAMPLE_TITLE in out  # a wide terminal shows whole titles
    else:
        assert "…" in out


def test_the_legend_comes_once_after_every_readers_table(run_cli, tmp_path):
    (tmp_path / "subscribers.toml").write_text(
        '[[subscribers]]\nemail = "ada@example.org"\nkeywords = ["reward model"]\n\n'
        '[[subscribers]]\nemail = "bob@example.org"\nkeywords = ["exploration"]\n', encoding="utf-8")

    code, out, err = run_cli("rank", "--source", "sample", "--subscribers", "subscribers.toml")

    assert code == 0, err
    assert out.count("== ") == 2 and out.count(LEGEND) == 1
    assert out.rstrip().endswith(LEGEND)


# send and status ----------------------------------------------------------------------

def test_a_second_send_the_same_day_says_why_nothing_went_out(run_cli, monkeypatch, server, inbox, tmp_path):
    smtp_env(monkeypatch, server, tmp_path, DIGEST_KEYWORDS="reward model", DIGEST_TO="ada@example.org")

    first = run_cli("send")
    again = run_cli("send")

    assert first[0] == 0 and "already got" not in first[2]
    assert again[0] == 0
    assert again[1].strip() == "sent 0, nothing new 0, failed 0, already had today's 1"
    assert again[2].strip().splitlines() == ["digest: 1 reader already got today's digest; --force sends again"]
    assert len(inbox.messages) == 1


@pytest.mark.parametrize("send_empty", ["true", "false"])
def test_an_empty_day_sends_the_nothing_new_note_only_with_send_empty(run_cli, monkeypatch, server, inbox, tmp_path,
                                                                       send_empty):
    (tmp_path / "empty.json").write_text("[]", encoding="utf-8")  # a holiday: the listing lists no papers
    smtp_env(monkeypatch, server, tmp_path, DIGEST_SOURCE="empty.json", DIGEST_KEYWORDS="reward model",
             DIGEST_TO="ada@example.org", DIGEST_SEND_EMPTY=send_empty)

    code, out, err = run_cli("send")

    assert code == 0, err
    assert out.strip().endswith("(empty.json: no papers listed)")
    if send_empty == "true":  # config.example.env: a short note instead of nothing
        assert out.startswith("sent 1,")
        assert [m["To"] for m in inbox.messages] == ["ada@example.org"]
        assert "no new papers were listed" in inbox.messages[0]["Subject"]  # the listing held none
    else:
        assert out.startswith("sent 0,") and inbox.messages == []


def test_the_note_counts_readers_in_the_plural(run_cli, monkeypatch, server, inbox, tmp_path):
    (tmp_path / "subscribers.toml").write_text(
        '[[subscribers]]\nemail = "ada@example.org"\nkeywords = ["reward model"]\n\n'
        '[[subscribers]]\nemail = "bob@example.org"\nkeywords = ["exploration"]\n', encoding="utf-8")
    smtp_env(monkeypatch, server, tmp_path, DIGEST_SUBSCRIBERS="subscribers.toml")

    run_cli("send")
    code, out, err = run_cli("send")

    assert "digest: 2 readers already got today's digest; --force sends again" in err
    code, out, err = run_cli("status")
    assert "history: 2 messages to 2 readers, " in out


def test_status_counts_one_message_in_the_singular(run_cli, monkeypatch, server, inbox, tmp_path):
    smtp_env(monkeypatch, server, tmp_path, DIGEST_KEYWORDS="reward model", DIGEST_TO="ada@example.org")
    run_cli("send")

    code, out, err = run_cli("status")

    assert code == 0, err
    assert "history: 1 message to 1 reader, 12 papers seen" in out


def test_status_shows_the_sources_each_run_read_and_those_that_failed(run_cli, monkeypatch, server, inbox, tmp_path):
    """``sample`` loaded and a listing file was missing: the run names both, the missing one as failed; a run
    from before runs kept their sources names none rather than a wrong one."""
    smtp_env(monkeypatch, server, tmp_path, DIGEST_KEYWORDS="reward model", DIGEST_TO="ada@example.org")
    with Store.open(tmp_path / "state.db") as store:  # an older release's run: no sources recorded
        store.finish_run(store.start_run("2026-11-20"), 1, 0, 0)
    missing = tmp_path / "gone.jsonl"

    code, out, err = run_cli("send", "--source", f"sample, {missing}")
    assert code == 0, err
    code, out, err = run_cli("status")

    assert code == 0, err
    last_runs = out.split("last runs:\n")[1].splitlines()
    assert last_runs[0].endswith(f"  sources {missing} (failed), sample")
    assert "sent 1, nothing new 0, failed 0" in last_runs[0]
    assert last_runs[1].endswith("sent 1, nothing new 0, failed 0")  # no sources: none shown


@pytest.mark.parametrize("column, value, says", [
    ("started", "yesterday morning", "run 2's start is not a date and time ('yesterday morning')"),
    ("started", 1795417200, "run 2's start is not a date and time ('1795417200')"),  # TEXT: stored as text
    ("started", "0001-01-01T00:00:00+05:00", "run 2's start is not a date and time"),
    ("started", None, "run 2's start is not a date and time (None)"),
    ("finished", "done", "run 2's end is not a date and time ('done')"),
    ("sent", "many", "run 2's sent is not a count ('many')"),
    ("sent", 2.5, "run 2's sent is not a count (2.5)"),
    ("sent", None, "run 2's sent is not a count (None)"),
    ("deferred", -1, "run 2's deferred is not a count (-1)"),
    ("pid", "abc", "run 2's pid is not a process id ('abc')"),
    ("pid", 2**40, "run 2's pid is not a process id"),
    ("pid", 0, "run 2's pid is not a process id (0)"),
    ("host", b"\xffhost", "run 2's host is not text (b'\\xffhost')"),
    ("error", b"SMTP down", "run 2's error is not text (b'SMTP down')"),
    ("started_by", b"daemon", "run 2's started_by is not text (b'daemon')"),
    ("run_date", None, "run 2's run_date is not a day (None)"),
    ("run_date", "2026-11-31", "run 2's run_date is not a day ('2026-11-31')"),
    ("sources", "hf", "run 2's sources are not a JSON list of names ('hf')"),
    ("failed_sources", '{"hf": 1}', "run 2's failed sources are not a JSON list of names ('{\"hf\": 1}')"),
])
def test_status_says_a_damaged_run_cannot_be_read_in_one_line_and_lists_the_others(
        run_cli, monkeypatch, tmp_path, column, value, says):
    """A ``runs`` row edited by hand or damaged (even rebuilt without its NOT NULLs) is one line naming the value,
    never a traceback; the other runs are listed as ever."""
    import sqlite3

    from digest.store import Store

    monkeypatch.setenv("DIGEST_STATE_DB", str(tmp_path / "state.db"))
    with Store.open(tmp_path / "state.db") as store:
        for sent in (1, 2):
            store.finish_run(store.start_run("2026-11-23"), sent, 0, 0)
    with sqlite3.connect(tmp_path / "state.db") as db:  # as rebuilt by hand: no constraints left
        db.executescript("CREATE TABLE copy AS SELECT * FROM runs; DROP TABLE runs; ALTER TABLE copy RENAME TO runs;")
        db.execute(f"UPDATE runs SET {column} = ? WHERE id = 2", (value,))

    code, out, err = run_cli("status")

    assert (code, err) == (0, "")
    last_runs = out.split("last runs:\n")[1].splitlines()
    assert last_runs[0].startswith(f"  run 2: cannot be read ({says}")
    assert last_runs[1].endswith("sent 1, nothing new 0, failed 0")


def rebuilt_without_constraints(path, table: str, where: str, column: str, value: object) -> None:
    """A table of the real SQLite file as someone rebuilt it by hand (no NOT NULL left), one value edited."""
    import sqlite3

    with sqlite3.connect(path) as db:
        db.executescript(f"CREATE TABLE copy AS SELECT * FROM {table}; DROP TABLE {table}; "
                         f"ALTER TABLE copy RENAME TO {table};")
        db.execute(f"UPDATE {table} SET {column} = ? WHERE {where}", (value,))


@pytest.mark.parametrize("column, value, says", [
    ("created", "yesterday", "the time of bob@example.org's uncertain delivery is not a date and time ('yesterday')"),
    ("created", None, "the time of bob@example.org's uncertain delivery is not a date and time (None)"),
    ("created", b"2026-11-23T07:00:00+00:00",
     "the time of bob@example.org's uncertain delivery is not a date and time (b'2026-11-23"),
    ("created", "0001-01-01T00:00:00+05:00", "the time of bob@example.org's uncertain delivery is not a date and time"),
    ("error", b"reply lost", "the error of bob@example.org's uncertain delivery is not text (b'reply lost')"),
    ("error", None, "the error of bob@example.org's uncertain delivery is not text (None)"),
    ("email", b"bob@example.org", "the address of an uncertain delivery is not text (b'bob@example.org')"),
])
def test_status_says_a_damaged_uncertain_delivery_cannot_be_read_in_one_line_and_shows_the_rest(
        run_cli, monkeypatch, tmp_path, column, value, says):
    from digest.store import Store

    monkeypatch.setenv("DIGEST_STATE_DB", str(tmp_path / "state.db"))
    with Store.open(tmp_path / "state.db") as store:
        store.record_uncertain([("ada@example.org", "<1@x>", ["2401.00001"], "reply lost"),
                                ("bob@example.org", "<2@x>", ["2401.00001"], "reply lost")])
        store.finish_run(store.start_run("2026-11-23"), 1, 0, 0)
    rebuilt_without_constraints(tmp_path / "state.db", "uncertain", "message_id = '<2@x>'", column, value)

    code, out, err = run_cli("status")

    assert (code, err) == (0, "")
    lines = out.split("uncertain: 2 deliveries")[1].splitlines()[1:3]
    assert any(line.endswith("  ada@example.org: reply lost") for line in lines)
    assert any(line.startswith("  cannot be read: " + says) for line in lines)
    assert "history: " in out and "sent 1, nothing new 0, failed 0" in out


@pytest.mark.parametrize("column, value, says", [
    ("at", "last week", "the day bob@example.org was suppressed is not a date and time ('last week')"),
    ("at", None, "the day bob@example.org was suppressed is not a date and time (None)"),
    ("at", 12345, "the day bob@example.org was suppressed is not a date and time ('12345')"),  # TEXT: as text
    ("at", b"2026-11-23T07:00:00+00:00", "the day bob@example.org was suppressed is not a date and time (b'2026"),
    ("reason", b"complaint", "the reason bob@example.org was suppressed is not text (b'complaint')"),
    ("reason", None, "the reason bob@example.org was suppressed is not text (None)"),
    ("email", b"bob@example.org", "the address of a suppression is not text (b'bob@example.org')"),
])
def test_status_says_a_damaged_suppression_cannot_be_read_in_one_line_and_lists_the_others(
        run_cli, monkeypatch, tmp_path, column, value, says):
    from digest.store import Store
    from digest.store.bounces import BounceEvent, Rule

    monkeypatch.setenv("DIGEST_STATE_DB", str(tmp_path / "state.db"))
    with Store.open(tmp_path / "state.db") as store:
        for n, email in enumerate(["ada@example.org", "bob@example.org"]):
            store.record_bounce(BounceEvent(f"k{n}", email, date(2026, 11, 23), "complaint", "abuse report"), Rule())
    rebuilt_without_constraints(tmp_path / "state.db", "suppressions", "email = 'bob@example.org'", column, value)

    code, out, err = run_cli("status")

    assert (code, err) == (0, "")
    lines = out.split("suppressed: 2 readers")[1].splitlines()[1:3]
    assert any(line.startswith("  ada@example.org: complaint: abuse report") for line in lines)
    assert any(line.startswith("  cannot be read: " + says) for line in lines)
    assert "history: " in out


# the daemon's log times -------------------------------------------------------------------

@pytest.mark.parametrize(
    ("zone", "utc", "shown"),
    [
        ("Europe/Berlin", datetime(2026, 11, 23, 6, 0, 1), "2026-11-23 07:00:01 CET"),
        ("Europe/Berlin", datetime(2026, 7, 13, 5, 0, 1), "2026-07-13 07:00:01 CEST"),
        ("America/New_York", datetime(2026, 11, 23, 12, 0, 1), "2026-11-23 07:00:01 EST"),
        ("UTC", datetime(2026, 11, 23, 7, 0, 1), "2026-11-23 07:00:01 UTC"),
    ],
)
def test_daemon_log_times_are_in_digest_timezone_and_name_it(zone, utc, shown):
    record = logging.LogRecord("digest.daemon", logging.INFO, __file__, 1, "sent 1", None, None)
    record.created = utc.replace(tzinfo=timezone.utc).timestamp()

    assert ZonedFormatter(ZoneInfo(zone)).format(record) == f"{shown} INFO sent 1"


# the README's command table ----------------------------------------------------------------

def options(parser: argparse.ArgumentParser) -> list[str]:
    return [option for action in parser._actions if not isinstance(action, argparse._HelpAction)
            for option in action.option_strings]


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(commands.choices)


def readme_row(command: str) -> str:
    rows = [line for line in README.read_text(encoding="utf-8").splitlines()
            if line.startswith(f"| `digest {command}")]
    assert len(rows) == 1, f"README's command table has no single row for `digest {command}`"
    return rows[0]


@pytest.mark.parametrize("command", sorted(subcommands()))
def test_the_readme_command_table_lists_every_option_of_each_command(command):
    row = readme_row(command)

    missing = [option for option in options(subcommands()[command]) if option not in row]

    assert missing == [], f"README's `digest {command}` row lacks {missing}"


def test_the_readme_lists_the_global_options():
    text = README.read_text(encoding="utf-8")

    assert [option for option in options(build_parser()) if f"`{option}" not in text] == []
