"""A DIGEST_STATE_DB that names no file (a mistyped path): the commands that read or change what the store
recorded say so in one line and create nothing; a dry run builds against no history and says that; only a
real send creates the database."""

from __future__ import annotations

from pathlib import Path

import pytest

NO_STATE = "no state database at {db} yet: check DIGEST_STATE_DB, or run digest send once to create it"
READER = "ada@example.org"


@pytest.fixture
def missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = tmp_path / "typo" / "state.db"
    monkeypatch.setenv("DIGEST_STATE_DB", str(db))
    monkeypatch.setenv("DIGEST_TO", READER)
    monkeypatch.setenv("DIGEST_KEYWORDS", "exploration")
    monkeypatch.setenv("DIGEST_FROM", "Digest <digest@example.com>")
    monkeypatch.setenv("DIGEST_SOURCE", "sample")
    return db


@pytest.mark.parametrize("argv", [("readers", "export"), ("readers", "show", READER), ("bounces",)])
def test_a_command_on_the_recorded_state_says_there_is_none_and_creates_none(run_cli, missing, argv) -> None:
    code, out, err = run_cli(*argv)

    assert code == 1 and out == ""
    assert err.strip().splitlines() == [f"digest: error: {NO_STATE.format(db=missing)}"]
    assert not missing.parent.exists()


@pytest.mark.parametrize("argv", [
    ("readers", "pause", READER),
    ("readers", "remove", READER),
    ("feedback", "--reader", READER, "--like", "2611.00117"),
])
def test_a_command_that_records_makes_the_database_and_says_so(run_cli, missing, argv) -> None:
    """As on a first install (pause a reader before the first send), but a mistyped path is plain to see."""
    code, out, err = run_cli(*argv)

    assert code == 0, err
    assert (f"digest: note: there is no state database at {missing} yet; making it (if digest has sent from "
            "here before, check DIGEST_STATE_DB: no send would see this)") in err.splitlines()
    assert missing.exists()


@pytest.mark.parametrize("action", ["pause", "resume", "remove"])
def test_a_change_for_no_known_reader_makes_no_database(run_cli, missing, action) -> None:
    """A mistyped address: one error line; it said it was making the database, made it, then refused."""
    code, out, err = run_cli("readers", action, "nobody@example.org")

    assert code == 1 and out == ""
    assert err.splitlines() == ["digest: error: no reader nobody@example.org in the roster or the state store; "
                                "see digest readers list"]
    assert not missing.parent.exists()


def test_readers_list_shows_the_roster_and_says_nothing_recorded_is_known(run_cli, missing) -> None:
    code, out, err = run_cli("readers", "list")

    assert code == 0 and READER in out
    assert f"digest: note: {NO_STATE.format(db=missing)}; the roster alone is shown" in err
    assert not missing.parent.exists()


def test_status_says_there_is_no_history_and_where_it_looked(run_cli, missing) -> None:
    code, out, err = run_cli("status")

    assert code == 0 and f"no history yet: there is no state database at {missing} (check DIGEST_STATE_DB" in out
    assert not missing.parent.exists()


def test_a_dry_run_builds_against_no_history_says_so_and_creates_no_database(run_cli, missing, tmp_path) -> None:
    code, out, err = run_cli("send", "--dry-run", "--outbox", str(tmp_path / "out"))

    assert code == 0, err
    assert len(list((tmp_path / "out").glob("*.eml"))) == 1
    assert f"digest: note: {NO_STATE.format(db=missing)}; this dry run treated every reader as new" in err
    assert not missing.parent.exists()


def test_a_dry_run_with_a_database_reads_it_and_says_nothing_of_it(run_cli, missing, tmp_path) -> None:
    from digest.store import Store

    missing.parent.mkdir()
    with Store.open(missing) as store:
        store.set_status(READER, "paused")

    code, out, err = run_cli("send", "--dry-run", "--outbox", str(tmp_path / "out"))

    assert code == 0 and "no state database" not in err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.eml"))
