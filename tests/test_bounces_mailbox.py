"""The bounce mailbox on a real IMAP server (dovecot, TLS): DSNs, complaints and replies acted on."""

from __future__ import annotations

import ssl
from datetime import date, timedelta
from pathlib import Path

import pytest

from digest.bounces import check_bounces
from digest.bounces.mailbox import SPAN
from digest.settings import load_settings
from digest.store import Store
from digest.tokens import reader_id

from .conftest import FIXTURES

KEY = "a-test-secret-key-of-some-length"
BOUNCES = "bounces@example.org"
READERS = [f"reader{n}@gmail.com" for n in range(4)]
DAY = date.today() - timedelta(days=30)  # any day: only the days between bounces matter
DSNS = ["postfix_5.1.1.eml", "gmail_5.1.1.eml", "outlook_5.1.10.eml", "exim_failed.eml"]


def message(name: str, reader: str, number: int = 0, *, verp: bool = True) -> bytes:
    """A stored report with this reader's VERP address and the Message-ID of the digest it returns."""
    text = (FIXTURES / "bounces" / name).read_text()
    bounce_to = f"bounces+{reader_id(KEY, reader)}@example.org" if verp else BOUNCES
    text = text.replace("{BOUNCE_TO}", bounce_to).replace("{READER}", reader)
    return text.replace("{MESSAGE_ID}", message_id(reader, number)).encode()


def message_id(reader: str, number: int) -> str:
    return f"<{number}.{reader.partition('@')[0]}@example.org>"


def settings_for(dovecot, tmp_path: Path, scheme: str = "imaps", **extra: str):
    return load_settings(None, {
        "DIGEST_BOUNCE_ADDRESS": BOUNCES, "DIGEST_SECRET_KEY": KEY, "DIGEST_BOUNCE_IMAP_URL": dovecot.url(scheme),
        "DIGEST_BOUNCE_CA_FILE": str(dovecot.ca_file), "DIGEST_STATE_DB": str(tmp_path / "state.db"), **extra,
    })


def sent_digests(settings, days: int = 7) -> None:
    """The digests the bounces return, as a send recorded them."""
    with Store.open(settings.state_db) as store:
        store.record_deliveries([(reader, message_id(reader, n), [f"2401.0000{n}"], None)
                                 for reader in READERS for n in range(days)])


def check(settings, day: date):
    with Store.open(settings.state_db) as store:
        return check_bounces(settings, store, READERS, day)


def suppressed(settings) -> set[str]:
    with Store.open(settings.state_db) as store:
        return set(store.suppressions())


@pytest.mark.parametrize("name", DSNS)
def test_a_hard_bounce_each_day_suppresses_on_the_fifth_and_not_before(dovecot, tmp_path, name) -> None:
    settings = settings_for(dovecot, tmp_path)
    sent_digests(settings)
    for n in range(5):
        assert suppressed(settings) == set(), f"suppressed after {n} bounces"
        dovecot.deliver(message(name, READERS[0], n))
        report = check(settings, DAY + timedelta(days=n))
        assert report.read == 1 and not report.unmatched
    assert suppressed(settings) == {READERS[0]}
    assert READERS[0] in report.suppressed and "score 5 of 5" in report.suppressed[READERS[0]]


def test_a_bounce_is_matched_by_the_returned_message_id_without_a_verp_address(dovecot, tmp_path) -> None:
    settings = settings_for(dovecot, tmp_path, DIGEST_SECRET_KEY="", DIGEST_BOUNCE_THRESHOLD="1")
    sent_digests(settings)
    dovecot.deliver(message("gmail_5.1.1.eml", READERS[1], 3, verp=False))
    assert check(settings, DAY).suppressed.keys() == {READERS[1]}


@pytest.mark.parametrize("name", ["yahoo_arf_abuse.eml", "outlook_jmrp_abuse.eml"])
def test_a_complaint_suppresses_at_once(dovecot, tmp_path, name) -> None:
    settings = settings_for(dovecot, tmp_path)
    sent_digests(settings)
    dovecot.deliver(message(name, READERS[2], 1))
    report = check(settings, DAY)
    assert suppressed(settings) == {READERS[2]}
    assert report.suppressed[READERS[2]].startswith("complaint: abuse report")


def test_a_5_7_1_wave_across_readers_suppresses_nobody(dovecot, tmp_path) -> None:
    settings = settings_for(dovecot, tmp_path)
    sent_digests(settings)
    for n in range(6):
        for reader in READERS:
            dovecot.deliver(message("gmail_5.7.1_policy.eml", reader, n))
        report = check(settings, DAY + timedelta(days=n))
        assert len(report.policy) == len(READERS) and not report.counted
    assert suppressed(settings) == set()
    assert "SPF, DKIM and DMARC" in "\n".join(report.lines())


def test_a_full_mailbox_counts_half_and_a_delay_warning_nothing(dovecot, tmp_path) -> None:
    settings = settings_for(dovecot, tmp_path)
    sent_digests(settings)
    dovecot.deliver(message("postfix_4.2.2_full.eml", READERS[0], 0))
    dovecot.deliver(message("postfix_delayed.eml", READERS[1], 0))
    report = check(settings, DAY)
    with Store.open(settings.state_db) as store:
        assert store.bounce_summary(READERS[0])["bounce_score"] == 0.5
        assert store.bounce_summary(READERS[1])["bounce_score"] == 0.0
    assert report.ignored == 1


def test_an_unsubscribe_reply_unsubscribes_its_sender_and_an_auto_reply_does_nothing(dovecot, tmp_path) -> None:
    settings = settings_for(dovecot, tmp_path)
    sent_digests(settings)
    dovecot.deliver(message("reply_out_of_office.eml", READERS[0], 0))
    dovecot.deliver(message("reply_unsubscribe.eml", READERS[1], 0))
    report = check(settings, DAY)
    assert report.unsubscribed == [READERS[1]]
    with Store.open(settings.state_db) as store:
        assert store.reader_status(READERS[1]) == "unsubscribed"
        assert store.reader_status(READERS[0]) is None


def test_a_reply_in_a_charset_nobody_knows_neither_stops_the_pass_nor_blocks_the_mail_behind_it(dovecot,
                                                                                                 tmp_path) -> None:
    """Some mailers label 8-bit text ``unknown-8bit``: an auto-reply so labelled is read, ignored and marked read,
    and the bounce after it still counts (else the pass fails on it every 30 minutes, and nothing behind it is read)."""
    settings = settings_for(dovecot, tmp_path)
    sent_digests(settings)
    dovecot.deliver(f"From: {READERS[1]}\r\nTo: {BOUNCES}\r\nSubject: Re: Your paper digest\r\n"
                    "Content-Type: text/plain; charset=unknown-8bit\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
                    "Je suis absente jusqu'\xe0 lundi.\r\n".encode("latin-1"))
    dovecot.deliver(message("postfix_5.1.1.eml", READERS[0], 0))
    report = check(settings, DAY)
    assert (report.read, report.ignored, list(report.counted)) == (2, 1, [READERS[0]])
    assert dovecot.seen() == [True, True]


def test_each_message_is_read_once_and_left_in_the_mailbox_marked_read(dovecot, tmp_path) -> None:
    settings = settings_for(dovecot, tmp_path, DIGEST_BOUNCE_THRESHOLD="2")
    sent_digests(settings)
    dovecot.deliver(message("postfix_5.1.1.eml", READERS[0], 0))
    assert check(settings, DAY).counted.keys() == {READERS[0]}
    assert dovecot.seen() == [True]
    assert check(settings, DAY + timedelta(days=1)).read == 0
    with Store.open(settings.state_db) as store:
        assert store.bounce_summary(READERS[0])["bounce_score"] == 1.0


def test_the_same_report_delivered_twice_counts_once(dovecot, tmp_path) -> None:
    settings = settings_for(dovecot, tmp_path)
    sent_digests(settings)
    dovecot.deliver(message("exim_failed.eml", READERS[0], 0))
    check(settings, DAY)
    dovecot.deliver(message("exim_failed.eml", READERS[0], 0))
    report = check(settings, DAY + timedelta(days=1))
    assert report.read == 1 and not report.counted


def test_digest_bounces_reads_over_starttls_and_tells_who_was_suppressed(dovecot, tmp_path, run_cli) -> None:
    settings = settings_for(dovecot, tmp_path, "imap")
    sent_digests(settings)
    env = tmp_path / "bounces.env"
    env.write_text(f"DIGEST_BOUNCE_ADDRESS={BOUNCES}\nDIGEST_SECRET_KEY={KEY}\nDIGEST_BOUNCE_IMAP_URL={dovecot.url('imap')}\n"
                   f"DIGEST_BOUNCE_CA_FILE={dovecot.ca_file}\nDIGEST_STATE_DB={settings.state_db}\n"
                   f"DIGEST_TO={READERS[2]}\nDIGEST_KEYWORDS=x\n")
    dovecot.deliver(message("yahoo_arf_abuse.eml", READERS[2], 0))
    code, out, err = run_cli("--env-file", str(env), "bounces")
    assert code == 0 and f"suppressed {READERS[2]}: complaint" in out and "read 1 message(s)" in err
    code, out, _ = run_cli("--env-file", str(env), "readers", "show", READERS[2])
    assert code == 0 and '"reason": "complaint: abuse report (Yahoo!-Mail-Feedback/2.0)' in out


@pytest.mark.parametrize("change, says", [
    ({"DIGEST_BOUNCE_IMAP_URL": "imaps://bounces:wrong@localhost:{port}/INBOX"}, "refused the login of bounces"),
    ({"DIGEST_BOUNCE_IMAP_URL": "imaps://bounces:{password}@localhost:{port}/Nowhere"}, "no folder 'Nowhere'"),
    ({"DIGEST_BOUNCE_CA_FILE": ""}, "TLS certificate not trusted"),
])
def test_a_mailbox_that_cannot_be_read_is_one_line_naming_the_setting(dovecot, tmp_path, run_cli, change, says) -> None:
    from digest.store import Store

    from .imap_server import PASSWORD

    Store.open(tmp_path / "state.db").close()  # digest has sent from here (a store that is not there is refused)

    values = {"DIGEST_BOUNCE_ADDRESS": BOUNCES, "DIGEST_BOUNCE_IMAP_URL": dovecot.url(),
              "DIGEST_BOUNCE_CA_FILE": str(dovecot.ca_file), "DIGEST_STATE_DB": str(tmp_path / "state.db")}
    values.update({k: v.format(port=dovecot.imaps_port, password=PASSWORD) for k, v in change.items()})
    env = tmp_path / "bounces.env"
    env.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    code, out, err = run_cli("--env-file", str(env), "bounces")
    assert code == 1 and says in err and "DIGEST_BOUNCE" in err
    assert "Traceback" not in err and PASSWORD not in err and len(err.strip().splitlines()) == 1


def test_a_wrong_certificate_is_refused_over_starttls_too(dovecot, tmp_path) -> None:
    from digest.bounces.mailbox import opened
    from digest.errors import MailboxError

    settings = settings_for(dovecot, tmp_path, "imap", DIGEST_BOUNCE_CA_FILE="")
    with pytest.raises(MailboxError, match="not trusted"):
        with opened(settings, ssl.create_default_context()):
            pass


# digest check ---------------------------------------------------------------------------------

def check_env(dovecot, server, tmp_path: Path, url: str) -> Path:
    env = tmp_path / "check.env"
    env.write_text(f"DIGEST_SOURCE={FIXTURES / 'papers.jsonl'}\nDIGEST_TO={READERS[0]}\nDIGEST_KEYWORDS=exploration\n"
                   f"DIGEST_FROM=digest@example.org\nDIGEST_SMTP_HOST=127.0.0.1\nDIGEST_SMTP_PORT={server.port}\n"
                   f"DIGEST_SMTP_SECURITY=none\nDIGEST_STATE_DB={tmp_path / 'state.db'}\n"
                   f"DIGEST_BOUNCE_ADDRESS={BOUNCES}\nDIGEST_SECRET_KEY={KEY}\nDIGEST_BOUNCE_IMAP_URL={url}\n"
                   f"DIGEST_BOUNCE_CA_FILE={dovecot.ca_file}\n")
    return env


def test_check_logs_in_to_the_bounce_mailbox_and_reads_nothing(dovecot, server, tmp_path, run_cli) -> None:
    dovecot.deliver(message("postfix_5.1.1.eml", READERS[0]))

    code, out, err = run_cli("--env-file", str(check_env(dovecot, server, tmp_path, dovecot.url())), "check")

    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == f"bounce mailbox ok: imaps://localhost:{dovecot.imaps_port}/INBOX"
    settings = settings_for(dovecot, tmp_path)
    sent_digests(settings)
    assert check(settings, DAY).read == 1  # still unread: check only looked


def test_check_names_a_bounce_mailbox_that_refuses_the_login(dovecot, server, tmp_path, run_cli) -> None:
    url = f"imaps://bounces:wrong-pass@localhost:{dovecot.imaps_port}/INBOX"

    code, out, err = run_cli("--env-file", str(check_env(dovecot, server, tmp_path, url)), "check")

    assert code == 1 and "settings ok" not in out and "wrong-pass" not in out + err
    assert err.strip().splitlines() == [f"digest: error: the bounce mailbox imaps://localhost:{dovecot.imaps_port}/INBOX "
                                        "refused the login of bounces; check the user and password in "
                                        "DIGEST_BOUNCE_IMAP_URL"]
    code, _, err = run_cli("--env-file", str(check_env(dovecot, server, tmp_path, url)), "check", "--no-smtp")
    assert (code, err) == (0, "")  # --no-smtp: neither login


def test_a_mailbox_with_more_unread_than_one_search_answer_holds_is_read_to_the_end(dovecot, tmp_path) -> None:
    """imaplib refuses any answer line over 1,000,000 bytes: one ``SEARCH UNSEEN`` over some 120,000 unread
    messages failed every pass, and the mailbox was never drained. The unread are searched a span of messages
    at a time; the same at a small scale: 400 unread messages, spans of 50 (eight searches), all read."""
    settings = settings_for(dovecot, tmp_path)
    sent_digests(settings)
    replies = [f"From: someone{n}@example.net\r\nTo: {BOUNCES}\r\nSubject: Out of office\r\n"
               f"Auto-Submitted: auto-replied\r\n\r\nAway until Monday ({n}).\r\n".encode() for n in range(399)]
    dovecot.deliver_many([*replies[:200], message("postfix_5.1.1.eml", READERS[0], 0), *replies[200:]])

    with Store.open(settings.state_db) as store:
        report = check_bounces(settings, store, READERS, DAY, span=50)

    assert (report.read, report.ignored, list(report.counted)) == (400, 399, [READERS[0]])
    assert dovecot.seen() == [True] * 400


def test_the_search_span_answers_within_imaplibs_line_limit_whatever_the_uids() -> None:
    """Each span's answer is one line: ``* SEARCH``, then up to 10 digits and a space a message (UIDs are
    32-bit), and the line's end; imaplib's limit is 1,000,000 bytes."""
    assert len(b"* SEARCH") + SPAN * len(b" 4294967295") + len(b"\r\n") <= 1_000_000
