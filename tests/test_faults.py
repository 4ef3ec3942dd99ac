"""The send pipeline under faults: each rule of issue #11, against a server that fails on purpose.

``faulty`` (tests/smtp_server.py) is a small real SMTP server on 127.0.0.1 that
drops the connection after the final ".", never answers it, refuses one
mailbox with 452, greets with 421, or answers 530/552 to everyone; it counts
what it queued, so "delivered once" is counted at the server.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.app import Digest
from digest.model import Subscriber
from digest.settings import load_settings
from digest.store import Store

from .conftest import FIXTURES

ADA, BOB, CAROL = "ada@example.org", "bob@example.org", "carol@example.org"
READERS = [Subscriber(email, ("reward model", "exploration")) for email in (ADA, BOB, CAROL)]


pytestmark = pytest.mark.usefixtures("fast_retries")


def env_for(port: int, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(port), "DIGEST_SMTP_SECURITY": "none",
            "DIGEST_FROM": "Digest <digest@example.com>", "DIGEST_STATE_DB": str(tmp_path / "state.db"),
            "DIGEST_MIN_SCORE": "1", "DIGEST_SMTP_TIMEOUT": "2",
            "DIGEST_SMTP_CONNECTIONS": "1", **extra}  # one connection: the faults apply in order


def send(server, tmp_path: Path, readers=READERS, **extra: str):
    settings = load_settings(None, env_for(server.port, tmp_path, **extra))
    with Digest(settings) as app:
        return app.send(readers, source=str(FIXTURES / "papers.jsonl"))


def send_to_many(run_cli, tmp_path: Path, count: int) -> tuple[int, str, str]:
    """``digest send`` to ``count`` readers of a subscribers file, as an operator runs it."""
    subscribers = tmp_path / "subscribers.toml"
    subscribers.write_text("".join(f'[[subscribers]]\nemail = "r{n}@example.org"\nkeywords = ["exploration"]\n'
                                   for n in range(count)), encoding="utf-8")
    return run_cli("send", "--subscribers", str(subscribers), "--source", str(FIXTURES / "papers.jsonl"))


def use_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)


# 1. an ambiguous end of DATA ---------------------------------------------------------------

@pytest.mark.parametrize("lost", ["drop", "silence"])
def test_a_reply_lost_after_the_message_is_not_resent_in_the_same_run(faulty, faults, tmp_path, lost):
    faults.after_dot.append(lost)  # the server queues ada's digest, then its reply is lost

    report = send(faulty, tmp_path, DIGEST_SMTP_TIMEOUT="1")

    assert faults.to(ADA) == 1, "an ambiguous delivery must not be sent again in the same run"
    assert list(report.uncertain) == [ADA] and "may have been delivered" in report.uncertain[ADA]
    assert sorted(report.sent) == [BOB, CAROL] and faults.to(BOB) == faults.to(CAROL) == 1


def test_the_next_run_sends_an_uncertain_digest_once_more_and_then_never_again(faulty, faults, tmp_path):
    faults.after_dot.append("drop")
    send(faulty, tmp_path)

    second = send(faulty, tmp_path)
    third = send(faulty, tmp_path)

    assert second.sent == [ADA] and sorted(second.nothing_new) == [BOB, CAROL]
    assert third.sent == [] and len(third.nothing_new) == 3
    assert faults.to(ADA) == 2, "at most one extra copy"


def test_two_lost_replies_in_a_day_wait_for_tomorrow_not_for_ever(faulty, faults, tmp_path):
    faults.after_dot += ["drop", "drop"]
    send(faulty, tmp_path, readers=READERS[:1])
    send(faulty, tmp_path, readers=READERS[:1])

    third = send(faulty, tmp_path, readers=READERS[:1])

    assert third.sent == [] and faults.to(ADA) == 2
    with Store.open(tmp_path / "state.db") as store:
        assert store.sent_ids(ADA) == set(), "unconfirmed papers stay unsent: tomorrow's digest has them again"


def test_status_shows_an_uncertain_delivery_until_a_later_digest_settles_it(faulty, faults, tmp_path,
                                                                            monkeypatch, run_cli):
    faults.after_dot.append("drop")
    send(faulty, tmp_path, readers=READERS[:1])
    use_env(monkeypatch, env_for(faulty.port, tmp_path))

    code, out, _ = run_cli("status")
    assert code == 0 and "uncertain: 1 deliveries" in out and ADA in out

    send(faulty, tmp_path, readers=READERS[:1])
    code, out, _ = run_cli("status")
    assert code == 0 and "uncertain" not in out


def test_the_cli_names_the_uncertain_reader_and_exits_1(faulty, faults, tmp_path, monkeypatch, run_cli):
    faults.after_dot.append("drop")
    use_env(monkeypatch, env_for(faulty.port, tmp_path, DIGEST_TO=ADA, DIGEST_KEYWORDS="exploration"))

    code, out, err = run_cli("send", "--source", str(FIXTURES / "papers.jsonl"))

    assert code == 1
    assert f"digest: uncertain: {ADA}: the server's reply to the message was lost" in err
    assert "uncertain 1" in out


# 4. one reader's 4xx, 421, and account-wide refusals ---------------------------------------

def test_a_persistent_452_for_one_mailbox_defers_that_reader_and_the_batch_goes_on(faulty, faults, tmp_path):
    faults.rcpt[BOB] = "452 4.2.2 mailbox full"

    first = send(faulty, tmp_path)
    faults.rcpt.clear()
    second = send(faulty, tmp_path)

    assert sorted(first.sent) == [ADA, CAROL]
    assert list(first.deferred) == [BOB] and "452 4.2.2 mailbox full" in first.deferred[BOB]
    assert second.sent == [BOB]
    assert [faults.to(r) for r in (ADA, BOB, CAROL)] == [1, 1, 1]


def test_a_deferred_reader_is_named_on_stderr(faulty, faults, tmp_path, monkeypatch, run_cli):
    faults.rcpt[ADA] = "452 4.2.2 mailbox full"
    use_env(monkeypatch, env_for(faulty.port, tmp_path, DIGEST_TO=ADA, DIGEST_KEYWORDS="exploration"))

    code, out, err = run_cli("send", "--source", str(FIXTURES / "papers.jsonl"))

    assert code == 1 and f"digest: deferred: {ADA}: 452 4.2.2 mailbox full" in err
    assert "deferred 1" in out


def test_a_deferred_reader_is_named_once_by_a_real_send_process(faulty, faults, tmp_path):
    """As an operator sees it (stderr of its own process, logging as the CLI sets it up)."""
    import os
    import subprocess
    import sys

    faults.rcpt[ADA] = "452 4.2.2 mailbox full"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env |= env_for(faulty.port, tmp_path, DIGEST_TO=ADA, DIGEST_KEYWORDS="exploration")
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])

    quick = ("import sys, digest.mail; digest.mail.BACKOFF = (0.01,) * 4; from digest.cli import main; "
             "sys.exit(main(sys.argv[1:]))")  # the real CLI, its retries without their waits
    result = subprocess.run([sys.executable, "-c", quick, "send", "--source", str(FIXTURES / "papers.jsonl")],
                            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)

    assert result.returncode == 1 and result.stderr.count(ADA) == 1, result.stderr


def test_a_421_greeting_on_connect_and_on_reconnect_is_retried(faulty, faults, tmp_path):
    faults.greet[1] = "421 4.3.2 busy, try again"
    faults.mail += ["", "421 4.4.2 closing connection"]  # bob's MAIL: the server hangs up
    faults.greet[3] = "421 4.3.2 still busy"  # and is busy on the reconnect

    report = send(faulty, tmp_path)

    assert sorted(report.sent) == [ADA, BOB, CAROL]
    assert [faults.to(r) for r in (ADA, BOB, CAROL)] == [1, 1, 1]
    assert faults.connections == 4


def test_a_server_busy_for_every_try_stops_the_run_with_one_plain_sentence(faulty, faults, tmp_path):
    from digest.errors import MailError

    faults.greet.update({n: "421 4.3.2 busy, try again" for n in range(1, 10)})

    with pytest.raises(MailError) as stopped:
        send(faulty, tmp_path)

    assert str(stopped.value) == (f"cannot deliver to the SMTP server 127.0.0.1:{faulty.port}: busy (421 4.3.2 busy, "
                                  f"try again) (while sending to {ADA}); check DIGEST_SMTP_HOST or try again later")
    assert faults.connections == 5 and faults.received == []


def test_a_server_that_cannot_start_tls_just_now_is_busy_retried_and_its_connections_closed(faulty, faults,
                                                                                            tmp_path):
    """RFC 3207's 454 to STARTTLS is temporary: the run retries and then stops saying so, not "cannot connect,
    check DIGEST_SMTP_HOST"; each connection given up is closed, not left to the garbage collector."""
    from digest.errors import MailError

    faults.starttls = "454 4.7.0 TLS not available due to temporary reason"

    with pytest.raises(MailError) as stopped:
        send(faulty, tmp_path, DIGEST_SMTP_SECURITY="starttls")

    assert "busy (454 4.7.0 TLS not available due to temporary reason)" in str(stopped.value)
    assert "try again later" in str(stopped.value) and "cannot connect" not in str(stopped.value)
    assert faults.connections == 5 and faults.received == []
    assert faults.open_now == 0


def test_530_for_every_reader_is_one_line_with_the_fix(faulty, faults, tmp_path, monkeypatch, run_cli):
    faults.mail_always = "530 5.7.0 Authentication required"
    use_env(monkeypatch, env_for(faulty.port, tmp_path))
    code, out, err = send_to_many(run_cli, tmp_path, 50)

    assert code == 1
    assert err.strip().splitlines() == [
        "digest: error: the SMTP server requires a login (530 5.7.0 Authentication required): set "
        "DIGEST_SMTP_USER and DIGEST_SMTP_PASSWORD (with DIGEST_SMTP_SECURITY=starttls or ssl)"]
    assert faults.mail_commands == 1


def test_552_for_every_reader_stops_the_run_once_with_the_fix(faulty, faults, tmp_path, monkeypatch, run_cli):
    faults.after_dot_always = "552 5.3.4 message size exceeds limit"
    use_env(monkeypatch, env_for(faulty.port, tmp_path))
    code, _, err = send_to_many(run_cli, tmp_path, 50)

    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1
    assert "552 5.3.4 message size exceeds limit" in lines[0] and "DIGEST_MAX_ITEMS" in lines[0]
    assert faults.mail_commands == 3


@pytest.mark.parametrize("reply, outcome", [("550 5.1.1 user unknown", "failed"),
                                             ("452 4.2.2 mailbox full", "deferred")])
def test_unknown_or_full_mailboxes_first_in_the_list_are_those_readers_own_and_the_others_get_theirs(
        faulty, faults, tmp_path, reply, outcome):
    """The same refusal for the first readers stops the run only when it can be the account's: a reply
    naming the reader's own mailbox (RFC 3463 X.1.1 unknown, X.2.2 full) never can, so three dead
    addresses at the top of the list must not stop everyone's digest, day after day."""
    roster = many(6)
    for reader in roster[:3]:
        faults.rcpt[reader.email] = reply

    report = send(faulty, tmp_path, readers=roster)

    assert sorted(getattr(report, outcome)) == [r.email for r in roster[:3]]
    assert sorted(report.sent) == [r.email for r in roster[3:]]
    assert all(faults.to(r.email) == 1 for r in roster[3:])


GMAIL_SIZE = ("552-5.3.4 Your message exceeded Google's message size limits. Please visit\r\n"
              "552-5.3.4  https://support.google.com/mail/?p=MaxSizeError to view our size\r\n"
              "552 5.3.4 guidelines. 5b1f17b1804b1-42f5 - gsmtp")
GMAIL_FULL = ("452-4.2.2 The recipient's inbox is out of storage space. Please direct the\r\n"
              "452-4.2.2 recipient to\r\n"
              "452 4.2.2  https://support.google.com/mail/?p=OverQuotaTemp 5b1f17b1804b1-42f5 - gsmtp")


def test_a_multi_line_reply_that_stops_the_run_is_still_one_line_with_the_fix(faulty, faults, tmp_path,
                                                                               monkeypatch, run_cli):
    """Gmail answers in several lines (552-..., 552 ...): the error is the reply's text on one line."""
    faults.after_dot_always = GMAIL_SIZE
    use_env(monkeypatch, env_for(faulty.port, tmp_path))
    code, _, err = send_to_many(run_cli, tmp_path, 5)

    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1, err
    assert ("552 5.3.4 Your message exceeded Google's message size limits. Please visit "
            "https://support.google.com/mail/?p=MaxSizeError to view our size guidelines.") in lines[0]
    assert "DIGEST_MAX_ITEMS" in lines[0]


def test_a_reader_deferred_with_a_multi_line_reply_is_named_in_one_line(faulty, faults, tmp_path, monkeypatch,
                                                                        run_cli):
    faults.rcpt[ADA] = GMAIL_FULL
    use_env(monkeypatch, env_for(faulty.port, tmp_path, DIGEST_TO=ADA, DIGEST_KEYWORDS="exploration"))

    code, out, err = run_cli("send", "--source", str(FIXTURES / "papers.jsonl"))

    assert code == 1 and err.strip().splitlines() == [
        f"digest: deferred: {ADA}: 452 4.2.2 The recipient's inbox is out of storage space. Please direct the "
        "recipient to https://support.google.com/mail/?p=OverQuotaTemp 5b1f17b1804b1-42f5 - gsmtp "
        "(deferred to the next run)"]


def test_a_552_for_one_reader_among_accepted_ones_fails_only_that_reader(faulty, faults, tmp_path):
    faults.after_dot += ["250 OK", "552 5.3.4 too big for this mailbox"]

    report = send(faulty, tmp_path)

    assert sorted(report.sent) == [ADA, CAROL] and list(report.failed) == [BOB]


def test_digest_check_reports_a_busy_server_in_one_line(faulty, faults, tmp_path, monkeypatch, run_cli):
    faults.greet[1] = "421 4.3.2 busy, try again"
    use_env(monkeypatch, env_for(faulty.port, tmp_path, DIGEST_TO=ADA, DIGEST_KEYWORDS="exploration"))

    code, _, err = run_cli("check")

    assert code == 1 and err.strip().splitlines() == [
        f"digest: error: the SMTP server 127.0.0.1:{faulty.port} is busy (421 4.3.2 busy, try again); try again later"]


# a server that turns on everyone mid-run ----------------------------------------------------

def many(count: int) -> list[Subscriber]:
    return [Subscriber(f"r{n}@example.org", ("reward model", "exploration")) for n in range(count)]


def test_a_server_deferring_everyone_mid_run_gets_one_try_per_reader_not_five(faulty, faults, tmp_path):
    faults.after_dot += ["250 OK", "250 OK"]  # then over its hourly quota: every message turned away for now
    faults.after_dot_always = "451 4.3.2 over the hourly limit, try later"

    report = send(faulty, tmp_path, readers=many(10))

    assert len(report.sent) == 2 and len(report.deferred) == 8
    # three readers retried as ever (their own mailboxes, maybe), then one try each: 22 transactions, not 42
    assert faults.mail_commands == 2 + 3 * 5 + 5


def test_replies_lost_for_three_messages_in_a_row_stop_the_run_before_more_are_uncertain(faulty, faults, tmp_path):
    from digest.errors import MailError

    faults.after_dot += ["250 OK", "drop", "drop", "drop"]  # queued each time, the reply never comes

    with pytest.raises(MailError, match="did not answer the last 3 messages in a row"):
        send(faulty, tmp_path, readers=many(8))

    assert faults.mail_commands == 4  # the fifth reader was not tried: they wait for the next run
    with Store.open(tmp_path / "state.db") as store:
        assert sorted(row[0] for row in store.open_uncertain()) == ["r1@example.org", "r2@example.org", "r3@example.org"]
    send(faulty, tmp_path, readers=many(8))  # the server answers again
    assert [faults.to(f"r{n}@example.org") for n in range(8)] == [1, 2, 2, 2, 1, 1, 1, 1]  # at most one extra copy
