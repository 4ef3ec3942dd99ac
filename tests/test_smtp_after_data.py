"""One reader's refusal after DATA or after the final "." (issue #17): that reader is
deferred or failed, recorded and named; the others are delivered, counted at the server."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from digest.app import Digest
from digest.model import Subscriber
from digest.settings import load_settings
from digest.store import Store

from .conftest import FIXTURES

pytestmark = pytest.mark.usefixtures("fast_retries")


def readers(count: int) -> list[Subscriber]:
    return [Subscriber(f"r{n}@example.org", ("exploration",)) for n in range(count)]


def send(port: int, tmp_path: Path, roster: list[Subscriber], **extra: str):
    settings = load_settings(None, {
        "DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(port), "DIGEST_SMTP_SECURITY": "none",
        "DIGEST_FROM": "digest@example.com", "DIGEST_STATE_DB": str(tmp_path / "state.db"),
        "DIGEST_MIN_SCORE": "1", "DIGEST_SMTP_TIMEOUT": "5", "DIGEST_SMTP_CONNECTIONS": "1", **extra})
    with Digest(settings) as app:
        return app.send(roster, source=str(FIXTURES / "papers.jsonl"))


def test_a_452_after_the_final_dot_defers_one_reader_and_the_other_499_are_delivered(faulty, faults, tmp_path):
    roster = readers(500)
    faults.after_dot_for["r100@example.org"] = "452 4.2.2 over quota"
    began = time.monotonic()

    first = send(faulty.port, tmp_path, roster)

    assert time.monotonic() - began < 60
    assert list(first.deferred) == ["r100@example.org"] and "452 4.2.2 over quota" in first.deferred["r100@example.org"]
    assert len(first.sent) == 499 and "r100@example.org" not in first.sent
    assert faults.to("r100@example.org") == 0
    assert all(faults.to(reader.email) == 1 for reader in roster if reader.email != "r100@example.org")


def test_the_deferred_reader_is_retried_next_run_and_gets_one_copy(faulty, faults, tmp_path):
    roster = readers(5)
    faults.after_dot_for["r2@example.org"] = "452 4.2.2 over quota"
    send(faulty.port, tmp_path, roster)
    faults.after_dot_for.clear()

    second = send(faulty.port, tmp_path, roster)

    assert second.sent == ["r2@example.org"]
    assert [faults.to(reader.email) for reader in roster] == [1, 1, 1, 1, 1]


def test_a_4xx_to_data_for_one_reader_defers_only_that_reader(faulty, faults, tmp_path):
    roster = readers(5)
    faults.data["r3@example.org"] = "451 4.7.1 content greylisted, try later"

    report = send(faulty.port, tmp_path, roster)

    assert list(report.deferred) == ["r3@example.org"] and "451 4.7.1" in report.deferred["r3@example.org"]
    assert sorted(report.sent) == sorted(r.email for r in roster if r.email != "r3@example.org")


@pytest.mark.parametrize("where", ["data", "after_dot_for"])
def test_a_5xx_to_data_or_after_the_message_fails_only_that_reader(faulty, faults, tmp_path, where):
    roster = readers(5)
    getattr(faults, where)["r1@example.org"] = "554 5.7.1 message refused"

    report = send(faulty.port, tmp_path, roster)

    assert list(report.failed) == ["r1@example.org"] and report.failed["r1@example.org"] == "554 5.7.1 message refused"
    assert len(report.sent) == 4


def test_the_deferred_reader_is_recorded_as_deferred_for_the_next_run(faulty, faults, tmp_path):
    faults.after_dot_for["r0@example.org"] = "452 4.2.2 over quota"

    send(faulty.port, tmp_path, readers(2))

    with Store.open(tmp_path / "state.db") as store:
        assert [status for _, status in store.message_status("r0@example.org")] == ["failed"]
        assert store.sent_ids("r0@example.org") == set()


def test_the_same_4xx_after_the_dot_for_the_first_readers_stops_the_run_naming_the_server(faulty, faults, tmp_path):
    faults.after_dot_always = "452 4.3.1 insufficient system storage"

    with pytest.raises(Exception) as caught:
        send(faulty.port, tmp_path, readers(30))

    message = str(caught.value)
    assert "turned away the first 3 messages with 452 4.3.1 insufficient system storage" in message
    assert f"127.0.0.1:{faulty.port}" in message and "not of the readers" in message
    assert faults.mail_commands <= 3 * 5, "no reader after the third is tried"


def test_the_cli_names_the_deferred_reader_and_exits_1(faulty, faults, tmp_path, monkeypatch, run_cli):
    faults.after_dot_for["ada@example.org"] = "452 4.2.2 over quota"
    for key, value in {"DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(faulty.port),
                       "DIGEST_SMTP_SECURITY": "none", "DIGEST_FROM": "digest@example.com",
                       "DIGEST_STATE_DB": str(tmp_path / "state.db"), "DIGEST_MIN_SCORE": "1",
                       "DIGEST_TO": "ada@example.org", "DIGEST_KEYWORDS": "exploration"}.items():
        monkeypatch.setenv(key, value)

    code, out, err = run_cli("send", "--source", str(FIXTURES / "papers.jsonl"))

    assert code == 1 and "digest: deferred: ada@example.org: 452 4.2.2 over quota" in err
    assert "Traceback" not in err and "deferred 1" in out


def test_a_5xx_to_data_ends_that_transaction_and_the_next_readers_go_on_the_same_connection(faulty, faults,
                                                                                             tmp_path):
    """A refused DATA leaves the transaction open (Postfix: "554 5.5.1 no valid recipients", then "503 nested
    MAIL" to the next MAIL): the mailer says RSET, so the next reader's MAIL is not refused as the sender."""
    roster = readers(4)
    faults.data["r0@example.org"] = "554 5.7.1 message refused"

    report = send(faulty.port, tmp_path, roster)

    assert list(report.failed) == ["r0@example.org"]
    assert sorted(report.sent) == ["r1@example.org", "r2@example.org", "r3@example.org"]
    assert faults.connections == 1 and faults.mail_commands == 4
