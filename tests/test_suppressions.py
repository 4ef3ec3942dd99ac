"""Suppressed readers, as the operator meets them on the command line: skipped with the reason in the send
summary, `digest status` and `digest readers`; lifted by `readers resume`; honoured mid-send; kept (as a keyed
hash only) when the reader is removed but still in the subscribers file."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest

from digest.app import Digest
from digest.model import Subscriber
from digest.sending.produce import Skipped, produce
from digest.store import Store
from digest.store.bounces import BounceEvent, Rule

from .smtp_server import Inbox, start

KEY = "Zq7VhX2mN9pL4tR8wK3cF6yB1dG5sJ0a"
ADA, BOB, CY = "ada@example.org", "bob@example.org", "cy@example.org"
DAY = date(2026, 3, 2)


@pytest.fixture
def env(server, tmp_path: Path) -> Path:
    subscribers = tmp_path / "subscribers.toml"
    subscribers.write_text("".join(f'[[subscribers]]\nemail = "{e}"\nkeywords = ["reward model"]\n\n'
                                   for e in (ADA, BOB, CY)))
    path = tmp_path / "digest.env"
    path.write_text(f"DIGEST_SUBSCRIBERS={subscribers}\nDIGEST_STATE_DB={tmp_path / 'state.db'}\n"
                    "DIGEST_SOURCE=sample\nDIGEST_FROM=Digest <digest@example.com>\nDIGEST_MIN_SCORE=1\n"
                    f"DIGEST_SMTP_HOST=127.0.0.1\nDIGEST_SMTP_PORT={server.port}\nDIGEST_SMTP_SECURITY=none\n"
                    f"DIGEST_SECRET_KEY={KEY}\n")
    return path


def store_of(env: Path) -> Store:
    return Store.open(env.parent / "state.db")


def complaint(store: Store, email: str) -> None:
    store.record_bounce(BounceEvent(f"mail:{email}", email, DAY, "complaint", "abuse report"), Rule())


def test_a_suppressed_reader_is_named_with_the_reason_in_the_summary_status_and_readers(env, inbox, run_cli) -> None:
    with store_of(env) as store:
        complaint(store, BOB)
    code, out, err = run_cli("--env-file", str(env), "send")
    assert code == 0 and "skipped 1 (1 suppressed (complaint): bob@example.org)" in out, out + err
    assert sorted(m["To"] for m in inbox.messages) == [ADA, CY]
    code, out, _ = run_cli("--env-file", str(env), "status")
    assert "suppressed: 1 reader gets no digest until digest readers resume EMAIL" in out
    assert "  bob@example.org: complaint: abuse report, on 2026-03-02" in out
    code, out, _ = run_cli("--env-file", str(env), "readers", "list")
    assert [line.split()[:2] for line in out.splitlines() if line.startswith(BOB)] == [[BOB, "suppressed"]]
    code, out, _ = run_cli("--env-file", str(env), "readers", "show", BOB)
    assert '"reason": "complaint: abuse report, on 2026-03-02"' in out


def test_readers_resume_lifts_a_complaint_and_the_next_send_mails_them(env, inbox, run_cli) -> None:
    with store_of(env) as store:
        complaint(store, BOB)
    code, out, _ = run_cli("--env-file", str(env), "readers", "resume", BOB)
    assert code == 0 and "(was suppressed: complaint: abuse report" in out
    code, out, _ = run_cli("--env-file", str(env), "send")
    assert code == 0 and "skipped" not in out and len(inbox.to(BOB)) == 1


@pytest.mark.parametrize("how", ["unsubscribed", "complaint"])
def test_removing_a_reader_still_in_the_file_keeps_only_a_keyed_hash_and_never_mails_them(env, inbox, run_cli,
                                                                                       how) -> None:
    with store_of(env) as store:
        store.set_status(BOB, "unsubscribed", by="web") if how == "unsubscribed" else complaint(store, BOB)
    code, out, _ = run_cli("--env-file", str(env), "readers", "remove", BOB)
    assert code == 0 and "but a keyed hash of the address" in out
    code, out, err = run_cli("--env-file", str(env), "send", "--force")
    assert code == 0 and f"1 removed ({how}): {BOB}" in out, out + err
    assert inbox.to(BOB) == [] and len(inbox.messages) == 2
    code, out, _ = run_cli("--env-file", str(env), "readers", "list")
    assert [line.split()[:2] for line in out.splitlines() if line.startswith(BOB)] == [[BOB, "removed"]]
    code, out, _ = run_cli("--env-file", str(env), "readers", "show", BOB)
    assert code == 0 and f'"removed": "{how}"' in out
    db = sqlite3.connect(env.parent / "state.db")
    dump = "\n".join(db.iterdump())
    db.close()
    assert "bob@" not in dump.lower()  # removed: the address is nowhere in the store, only its keyed hash
    code, out, _ = run_cli("--env-file", str(env), "readers", "resume", BOB)
    assert code == 0 and f"(was removed while {how})" in out
    run_cli("--env-file", str(env), "send", "--force")
    assert len(inbox.to(BOB)) == 1


def test_removing_an_active_reader_keeps_nothing(env, inbox, run_cli) -> None:
    code, out, _ = run_cli("--env-file", str(env), "readers", "remove", BOB)
    assert code == 0 and "keyed hash" not in out and "still in the subscribers file" in out
    run_cli("--env-file", str(env), "send")
    assert len(inbox.to(BOB)) == 1


def test_a_reader_suppressed_mid_send_gets_no_message_built_after(tmp_path: Path) -> None:
    """The daemon reads a complaint while a send runs: the producer asks the store before each message."""
    from .web_server import make_settings

    settings = replace(make_settings(tmp_path, 8026), min_score=1.0)
    app = Digest(settings)
    readers = [Subscriber(f"r{n}@example.org", ("reward model*",)) for n in range(3)]
    with Store.open(settings.state_db) as store:
        listing = app.load_listing("sample")
        with closing(produce(app, listing, readers, {}, store=store)) as produced:
            first = next(produced)
            complaint(store, "r2@example.org")
            rest = list(produced)
    assert first[1] is not None and not isinstance(first[1], Skipped)
    assert [type(item).__name__ for _, item in rest] == ["Outgoing", "Skipped"]
    assert rest[1][1].status == "suppressed (complaint)"


class PolicyWave(Inbox):
    """A provider refusing our mail itself (bad DMARC, a blocklist): every reader at RCPT, 550 5.7.1."""

    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802
        return "550 5.7.1 Message rejected due to the sender's DMARC policy"


def test_a_5_7_1_wave_at_rcpt_across_readers_suppresses_nobody(env, server, run_cli) -> None:
    wave = start(PolicyWave())
    try:
        env.write_text(env.read_text().replace(f"DIGEST_SMTP_PORT={server.port}", f"DIGEST_SMTP_PORT={wave.port}")
                       + "DIGEST_BOUNCE_THRESHOLD=1\n")  # one hard bounce would suppress
        for _ in range(3):
            code, out, err = run_cli("--env-file", str(env), "send", "--force")
            assert code == 1 and "550 5.7.1" in err, out + err
    finally:
        wave.stop()
    code, out, _ = run_cli("--env-file", str(env), "bounces")
    assert code == 0 and "policy refusal(s) (5.7.x, 4.7.x, 421) not counted against readers" in out
    with store_of(env) as store:
        assert store.suppressions() == {}
        assert all(store.bounce_summary(e)["bounce_score"] == 0.0 for e in (ADA, BOB, CY))


def test_an_unsubscribe_reply_and_a_complaint_in_the_mailbox_act_before_the_next_send(dovecot, env, inbox,
                                                                                      run_cli) -> None:
    from . import test_bounces_mailbox as mailbox

    env.write_text(env.read_text().replace(KEY, mailbox.KEY) + f"DIGEST_BOUNCE_ADDRESS={mailbox.BOUNCES}\n"
                   f"DIGEST_BOUNCE_IMAP_URL={dovecot.url()}\nDIGEST_BOUNCE_CA_FILE={dovecot.ca_file}\n")
    assert run_cli("--env-file", str(env), "send")[0] == 0
    dovecot.deliver(mailbox.message("reply_unsubscribe.eml", ADA))  # a plain reply to the mailto: address
    dovecot.deliver(mailbox.message("yahoo_arf_abuse.eml", CY))  # an ARF report from a feedback loop
    code, out, err = run_cli("--env-file", str(env), "bounces")
    assert code == 0 and f"unsubscribed {ADA}" in out and f"suppressed {CY}: complaint" in out, out + err
    code, out, _ = run_cli("--env-file", str(env), "send", "--force")
    assert "skipped 2 (1 suppressed (complaint): cy@example.org, 1 unsubscribed)" in out, out
    assert len(inbox.to(ADA)) == len(inbox.to(CY)) == 1 and len(inbox.to(BOB)) == 2


@pytest.mark.parametrize("reason", [b"complaint: abuse report", None, 42])
def test_a_suppression_damaged_by_hand_still_skips_its_reader_and_the_send_goes_on(env, inbox, run_cli,
                                                                                   reason: object) -> None:
    with store_of(env) as store:
        complaint(store, BOB)
    with closing(sqlite3.connect(env.parent / "state.db")) as db, db:  # as rebuilt by hand: no NOT NULL left
        db.executescript("CREATE TABLE copy AS SELECT * FROM suppressions; DROP TABLE suppressions; "
                         "ALTER TABLE copy RENAME TO suppressions;")
        db.execute("UPDATE suppressions SET reason = ? WHERE email = ?", (reason, BOB))

    code, out, err = run_cli("--env-file", str(env), "send")

    assert code == 0 and "bob@example.org" in out.split("skipped 1 (1 suppressed")[1], out + err
    assert sorted(m["To"] for m in inbox.messages) == [ADA, CY]
