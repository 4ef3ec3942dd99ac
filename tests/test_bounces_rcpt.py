"""A dead address refused at RCPT by a real SMTP server: counted once a day, suppressed at the threshold."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

from digest.app import Digest
from digest.model import Subscriber
from digest.settings import load_settings
from digest.store import Store
from digest.tokens import reader_id

from .conftest import FIXTURES

ADA, BOB = "ada@example.org", "bob@example.org"
READERS = [Subscriber(ADA, ("reward model", "RLHF")), Subscriber(BOB, ("exploration", "reward model"))]
KEY = "a-test-secret-key-of-some-length"
MONDAY = date.today() - timedelta(days=date.today().weekday() + 14)  # any Monday: the rule is about days, not dates


def settings_for(controller, tmp_path: Path, **extra: str):
    return load_settings(None, {
        "DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(controller.port), "DIGEST_SMTP_SECURITY": "none",
        "DIGEST_FROM": "Digest <digest@example.org>", "DIGEST_STATE_DB": str(tmp_path / "state.db"),
        "DIGEST_MIN_SCORE": "1", "DIGEST_SMTP_TIMEOUT": "5", **extra,
    })


def send_on(settings, day: date, readers=READERS):
    moment = datetime.combine(day, time(7), tzinfo=timezone.utc).timestamp()
    with Digest(settings, clock=lambda: moment) as app:
        return app.send(readers, source=str(FIXTURES / "papers.jsonl"))


class Envelopes:
    """A real aiosmtpd server that keeps each transaction's envelope: (MAIL FROM, RCPT TO)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.seen.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"

    def start(self):
        from aiosmtpd.controller import Controller

        from .smtp_server import free_port

        controller = Controller(self, hostname="127.0.0.1", port=free_port())
        controller.start()
        return controller


def test_a_550_5_1_1_at_rcpt_suppresses_on_the_fifth_day_and_not_before(server, inbox, tmp_path) -> None:
    settings = settings_for(server, tmp_path)
    inbox.refuse.add(BOB)
    reports = [send_on(settings, MONDAY + timedelta(days=n)) for n in range(7)]
    assert all(BOB in report.failed for report in reports[:5])
    assert [BOB in report.skipped for report in reports] == [False] * 5 + [True, True]
    assert reports[5].skipped[BOB] == "suppressed (bounces)"
    with Store.open(settings.state_db) as store:
        found = store.suppression(BOB)
        assert found is not None and "score 5 of 5" in found.reason and "5.1.1" in found.reason
        assert store.suppression(ADA) is None
        assert len(store.refusals_not_scored()) == 0


def test_two_refusals_on_one_day_count_once(server, inbox, tmp_path) -> None:
    settings = settings_for(server, tmp_path)
    inbox.refuse.add(BOB)
    send_on(settings, MONDAY)
    moment = datetime.combine(MONDAY, time(9), tzinfo=timezone.utc).timestamp()
    with Digest(settings, clock=lambda: moment) as app:
        app.send(READERS, source=str(FIXTURES / "papers.jsonl"), force=True)
        app.send(READERS, source=str(FIXTURES / "papers.jsonl"))  # scores what the forced send recorded
    with Store.open(settings.state_db) as store:
        assert store.bounce_summary(BOB)["bounce_score"] == 1.0
        assert [e["counted"] for e in store.bounce_summary(BOB)["bounces"]] == [0.0, 1.0]


def test_refusals_a_week_apart_start_the_score_again(server, inbox, tmp_path) -> None:
    settings = settings_for(server, tmp_path, DIGEST_BOUNCE_THRESHOLD="2")
    inbox.refuse.add(BOB)
    send_on(settings, MONDAY)
    send_on(settings, MONDAY + timedelta(days=9))  # stale after 7 days: 1 again, not 2
    report = send_on(settings, MONDAY + timedelta(days=10))
    assert BOB in report.failed  # still mailed: the score was 1 before today's refusal
    with Store.open(settings.state_db) as store:
        assert store.bounce_summary(BOB)["bounce_score"] == 1.0 and store.suppression(BOB) is None
    assert BOB in send_on(settings, MONDAY + timedelta(days=11)).skipped


def test_the_envelope_sender_is_the_verp_address_keyed_by_reader_id_never_the_address(tmp_path) -> None:
    envelopes = Envelopes()
    controller = envelopes.start()
    try:
        settings = settings_for(controller, tmp_path, DIGEST_BOUNCE_ADDRESS="bounces@example.org",
                                DIGEST_SECRET_KEY=KEY)
        send_on(settings, MONDAY)
    finally:
        controller.stop()
    senders = dict((rcpts[0], mail_from) for mail_from, rcpts in envelopes.seen)
    assert senders[ADA] == f"bounces+{reader_id(KEY, ADA)}@example.org"
    assert senders[BOB] == f"bounces+{reader_id(KEY, BOB)}@example.org"
    assert "ada" not in senders[ADA].split("@")[0]


def test_without_a_secret_key_the_plain_bounce_address_is_the_envelope_sender(tmp_path) -> None:
    envelopes = Envelopes()
    controller = envelopes.start()
    try:
        send_on(settings_for(controller, tmp_path, DIGEST_BOUNCE_ADDRESS="bounces@example.org"), MONDAY)
    finally:
        controller.stop()
    assert {mail_from for mail_from, _ in envelopes.seen} == {"bounces@example.org"}


def test_readers_resume_lifts_the_suppression_and_the_next_send_mails_them(server, inbox, tmp_path, run_cli) -> None:
    settings = settings_for(server, tmp_path, DIGEST_BOUNCE_THRESHOLD="1")
    inbox.refuse.add(BOB)
    send_on(settings, MONDAY)
    assert BOB in send_on(settings, MONDAY + timedelta(days=1)).skipped
    env = tmp_path / "env"
    env.write_text(f"DIGEST_STATE_DB={settings.state_db}\nDIGEST_TO={BOB}\nDIGEST_KEYWORDS=exploration\n")
    code, out, _ = run_cli("--env-file", str(env), "readers", "show", BOB)
    assert code == 0 and '"suppressed": {' in out and '"bounce_score": 1.0' in out
    code, out, _ = run_cli("--env-file", str(env), "readers", "resume", BOB)
    assert code == 0 and "was suppressed: bounces" in out
    inbox.refuse.clear()
    assert BOB in send_on(settings, MONDAY + timedelta(days=2)).sent
