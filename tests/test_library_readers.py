"""One reader's library never stops the others: it is reported by address, and the run goes on."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from digest import make_digest
from digest.model import Listing, Subscriber, make_paper
from digest.settings import load_settings
from digest.subscribers import load_subscribers

from .conftest import FIXTURES

LIKED = make_paper("Reward models generalize across preference tasks",
                   "Reward models trained on human preferences generalize to unseen tasks.", id="2608.00003")
HOSTILE = "@article{k, title={" + "{}" * 600_000 + "}}\n"  # 1.2 million braces: over MAX_BIBTEX_MARKS
SUBSCRIBERS = """
[[subscribers]]
email = "ada@example.org"
keywords = ["reward model", "exploration"]
library = "ada.ris"

[[subscribers]]
email = "bo@example.org"
keywords = ["reward model", "exploration"]
library = "ada.bib"   # the README's example, copied as written: no such file here

[[subscribers]]
email = "cy@example.org"
keywords = ["reward model", "exploration"]
library = "cy.bib"
"""


@pytest.fixture
def readers(tmp_path: Path) -> list[Subscriber]:
    (tmp_path / "ada.ris").write_text(f"TY  - JOUR\nTI  - {LIKED.title}\nAB  - {LIKED.abstract}\nER  - \n",
                                      encoding="utf-8")
    (tmp_path / "cy.bib").write_text(HOSTILE, encoding="utf-8")
    (tmp_path / "subscribers.toml").write_text(SUBSCRIBERS, encoding="utf-8")
    return load_subscribers(tmp_path / "subscribers.toml")


def _settings(tmp_path: Path):
    return load_settings(None, {"DIGEST_FROM": "Digest <digest@example.com>", "DIGEST_MIN_SCORE": "1",
                                "DIGEST_STATE_DB": str(tmp_path / "state.db"),
                                "DIGEST_SUBSCRIBERS": str(tmp_path / "subscribers.toml")})


def test_readers_whose_library_cannot_be_read_are_named_in_problems_with_the_reason(
        tmp_path: Path, readers: list[Subscriber]) -> None:
    problems: dict[str, str] = {}
    examples = make_digest(_settings(tmp_path)).examples_for_readers(readers, [LIKED], problems=problems)
    assert sorted(problems) == ["bo@example.org", "cy@example.org"]
    assert problems["bo@example.org"] == (f"{tmp_path / 'ada.bib'}: library file not found; "
                                          "check the reader's library = or DIGEST_LIBRARY")
    assert problems["cy@example.org"].startswith(f"{tmp_path / 'cy.bib'}: library file too big to read in bounded time")
    assert [e.paper_id for e in examples[0].liked] == ["library:0"] and examples[1:] == [None, None]


def test_each_reader_of_a_bad_shared_library_gets_a_warning_naming_their_address_and_the_file(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    shared = tmp_path / "team.bib"
    readers = [Subscriber(f"{name}@example.org", ("exploration",), library=shared) for name in ("ann", "ben")]
    with caplog.at_level(logging.WARNING, logger="digest"):
        make_digest(_settings(tmp_path)).examples_for_readers(readers, [LIKED])
    assert [r.getMessage() for r in caplog.records] == [
        f"{name}@example.org: ranked without their library: {shared}: library file not found; "
        "check the reader's library = or DIGEST_LIBRARY" for name in ("ann", "ben")]


def test_a_reader_without_a_readable_library_is_ranked_exactly_as_on_keywords_alone(
        tmp_path: Path, readers: list[Subscriber]) -> None:
    listing = Listing("test", [LIKED, *[make_paper(f"Exploration study {n}", "Exploration bonuses.", id=f"2608.1{n:04d}")
                                        for n in range(5)]])
    app = make_digest(_settings(tmp_path))
    ranked = app.rank_readers(listing, readers)
    plain = app.rank_readers(listing, [Subscriber(r.email, r.keywords) for r in readers])
    assert [picks for _, picks in ranked[1:]] == [picks for _, picks in plain[1:]]
    assert ranked[0][1][0].because.startswith("like 'Reward models generalize")


def test_a_dry_run_writes_every_readers_digest_when_two_libraries_are_bad(
        tmp_path: Path, readers: list[Subscriber]) -> None:
    with make_digest(_settings(tmp_path)) as app:
        report = app.send(readers, source=str(FIXTURES / "papers.jsonl"), dry_run=True, outbox=tmp_path / "out")
    written = sorted(path.name.split("-", 3)[-1] for path in report.written)
    assert written == ["ada@example.org.eml", "bo@example.org.eml", "cy@example.org.eml"]
    assert all(b"\r\nTo: " in path.read_bytes() and b"Reward Models for RLHF" in path.read_bytes()
               for path in report.written)
    assert not report.failed and not report.incomplete


def test_a_send_names_the_readers_sent_without_their_library_in_the_summary_and_in_status(
        tmp_path: Path, readers: list[Subscriber], server, inbox, monkeypatch, run_cli) -> None:
    env = {"DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(server.port), "DIGEST_SMTP_SECURITY": "none",
           "DIGEST_FROM": "Digest <digest@example.com>", "DIGEST_MIN_SCORE": "1",
           "DIGEST_STATE_DB": str(tmp_path / "state.db"), "DIGEST_SUBSCRIBERS": str(tmp_path / "subscribers.toml")}
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    code, out, err = run_cli("send", "--source", str(FIXTURES / "papers.jsonl"))
    assert code == 0 and "Traceback" not in err
    assert sorted(m["To"] for m in inbox.messages) == ["ada@example.org", "bo@example.org", "cy@example.org"]
    assert "problems 2 (bo@example.org: " in out and "cy@example.org: " in out

    code, out, _ = run_cli("status")
    assert code == 0 and "problems in the last run: 2 readers" in out
    assert f"  bo@example.org: {tmp_path / 'ada.bib'}: library file not found" in out


@pytest.mark.parametrize("stored", ["bo@example.org: library file not found", '["bo@example.org"]', "42", "null",
                                    '{"bo@example.org": "not found"', b"\xff\xfe{}", "[" * 100_000,
                                    '{"bo@example.org": ' + "[" * 100_000 + "]" * 100_000 + "}"])
def test_status_says_a_damaged_problems_value_cannot_be_read_and_shows_the_rest(
        tmp_path: Path, monkeypatch, run_cli, stored: str | bytes) -> None:
    """``runs.problems`` is JSON the send writes; edited by hand (or damaged) it is one readable line, not a
    traceback, and the runs are still listed: also JSON nested too deep for Python's parser."""
    import sqlite3

    from digest.store import Store
    from digest.store.runs import Tally

    monkeypatch.setenv("DIGEST_STATE_DB", str(tmp_path / "state.db"))
    with Store.open(tmp_path / "state.db") as store:
        run = store.start_run("2026-11-23")
        store.finish_run(run, 2, 0, 0, tally=Tally(sent=2, problems=(("bo@example.org", "not found"),)))
    with sqlite3.connect(tmp_path / "state.db") as db:
        db.execute("UPDATE runs SET problems = ?", (stored,))

    code, out, err = run_cli("status")

    assert (code, err) == (0, "")
    assert "problems in the last run: cannot be read (run 1's problems are not a JSON object of address: problem" \
        in out
    assert "sent 2, nothing new 0, failed 0" in out.split("last runs:")[1]


def test_status_shows_a_problem_whose_stored_text_holds_a_lone_surrogate(tmp_path: Path, monkeypatch, run_cli) -> None:
    """JSON may escape half a UTF-16 pair (``\\ud800``), which no terminal can be written: the rest of the
    problem is shown, that character replaced, and no traceback."""
    import sqlite3

    from digest.store import Store
    from digest.store.runs import Tally

    monkeypatch.setenv("DIGEST_STATE_DB", str(tmp_path / "state.db"))
    with Store.open(tmp_path / "state.db") as store:
        run = store.start_run("2026-11-23")
        store.finish_run(run, 2, 0, 0, tally=Tally(sent=2, problems=(("bo@example.org", "not found"),)))
    with sqlite3.connect(tmp_path / "state.db") as db:
        db.execute("UPDATE runs SET problems = ?", ('{"bo@example.org\\udfff": "library \\ud800 not found"}',))

    code, out, err = run_cli("status")

    assert (code, err) == (0, "")
    assert "problems in the last run: 1 reader" in out
    assert "  bo@example.org?: library ? not found" in out
    assert "sent 2, nothing new 0, failed 0" in out.split("last runs:")[1]
