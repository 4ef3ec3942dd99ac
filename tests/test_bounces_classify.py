"""Each stored report is what it says: the shapes Gmail, Outlook, Postfix, Exim and Yahoo send."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from digest.bounces.classify import classify, kind_of, kind_of_reply
from digest.bounces.verp import verp_ids
from digest.errors import ConfigError
from digest.settings import load_settings
from digest.store.bounces import next_score
from digest.tokens import reader_id

from .test_bounces_mailbox import BOUNCES, KEY, message, message_id

READER = "ada@example.net"
RID = reader_id(KEY, READER)


@pytest.mark.parametrize("name, kind, status", [
    ("postfix_5.1.1.eml", "hard", "5.1.1"),
    ("gmail_5.1.1.eml", "hard", "5.1.1"),
    ("outlook_5.1.10.eml", "hard", "5.1.10"),
    ("exim_failed.eml", "hard", "5.1.1"),
    ("exim_unrouteable.eml", "hard", ""),  # no code: flufl.bounce's "permanent" decides
    ("gmail_delay_plain.eml", "delayed", "did not accept our requests"),  # a warning, no DSN: counted nowhere
    ("exim_notice_first.eml", "hard", "5.1.1"),  # the code for the failed address, not one the notice names
    ("qmail_no_mailbox.eml", "hard", "no mailbox here"),  # never the 2.5.8 of a title in the returned copy
    ("gmail_5.7.1_policy.eml", "policy", "5.7.1"),
    ("postfix_4.2.2_full.eml", "soft", "4.2.2"),
    ("postfix_delayed.eml", "delayed", "4.4.1"),
    ("yahoo_arf_abuse.eml", "complaint", ""),
    ("outlook_jmrp_abuse.eml", "complaint", ""),
    ("reply_unsubscribe.eml", "unsubscribe", ""),
    ("reply_out_of_office.eml", "other", ""),
])
def test_each_report_is_classified_by_its_status_code(name, kind, status) -> None:
    finding = classify(message(name, READER, 4))
    assert finding.kind == kind
    assert status in finding.detail


@pytest.mark.parametrize("name", ["postfix_5.1.1.eml", "gmail_5.1.1.eml", "outlook_5.1.10.eml", "exim_failed.eml",
                                  "yahoo_arf_abuse.eml", "outlook_jmrp_abuse.eml"])
def test_each_report_leads_back_to_the_reader_by_verp_id_and_message_id(name) -> None:
    finding = classify(message(name, READER, 4))
    assert RID.lower() in {rid for text in finding.texts for rid in verp_ids(BOUNCES, text)}
    assert message_id(READER, 4) in finding.message_ids


@pytest.mark.parametrize("host", ["4.150.12.3", "5.7.40.2", "2.16.8.9", "5.2.2.10"])
def test_the_mail_servers_address_in_a_bounce_is_not_read_as_its_status_code(host) -> None:
    """Exim names the host before its reply: an IPv4 address such as Azure's 4.150.12.3 is no status 4.150.12."""
    finding = classify(message("exim_failed.eml", READER, 4).replace(b"192.0.2.40", host.encode()))
    assert finding.kind == "hard"
    assert "5.1.1" in finding.detail


@pytest.mark.parametrize("version", ["4.94.2", "4.97.1"])
def test_a_version_in_the_returned_copys_headers_is_not_read_as_the_status_code(version) -> None:
    """Exim returns the message inline, its Received header naming Exim's version: 4.97.1 is no status 4.97.1."""
    finding = classify(message("exim_unrouteable.eml", READER, 4).replace(b"(Exim 4.96)", f"(Exim {version})".encode()))
    assert finding.kind == "hard"
    assert finding.detail == f"{READER} Unrouteable address"


GMAIL_DETAILS = (b"The recipient server did not accept our requests to connect. Learn more at\n"
                 b"https://support.google.com/mail/answer/7720 [mail.example.net 192.0.2.40: timed out]")


def test_a_warnings_detail_is_its_technical_details_not_the_address_alone() -> None:
    """Gmail's warning names the address alone in its paragraph: the detail is what went wrong."""
    finding = classify(message("gmail_delay_plain.eml", READER, 4))
    assert finding.detail == " ".join(GMAIL_DETAILS.decode().split())


@pytest.mark.parametrize("said, reply", [
    ("The error that the other server returned was:", f"550 5.1.1 <{READER}>: Recipient address rejected"),
    ("Google tried to deliver your message, but it was rejected by the server:", "550 No such user here"),
])
def test_a_warning_with_a_permanent_code_is_still_delayed_and_shows_the_code(said, reply) -> None:
    """The server that warns still retries: the 5xx is its last reply, not its verdict (Gmail retries some,
    Exchange wraps them in 451 4.4.0, Postfix's soft_bounce keeps them queued). Its final report, if it gives up,
    counts; the warning counts nowhere, as RFC 3464's "delayed" and Mailman's temporary failures, or one
    failure would count twice, on the warning's day and on the final report's."""
    raw = message("gmail_delay_plain.eml", READER, 4).replace(GMAIL_DETAILS, f"{said}\n{reply}".encode())
    finding = classify(raw)
    assert finding.kind == "delayed"
    assert finding.detail.endswith(reply)


def exim_failure(*lines: str) -> bytes:
    """Exim's plain report (no DSN, no enhanced code), these lines under the failed address."""
    said = "\n".join(f"    {line}" for line in lines)
    return message("exim_unrouteable.eml", READER, 4).replace(b"    Unrouteable address", said.encode())


@pytest.mark.parametrize("reply, kind", [
    ("452 Mailbox full", "soft"),  # a 4xx in a final report: the server retried until it gave up
    ("421 Too many connections from your host", "policy"),  # the server closing on us: never the address
    ("552 Mailbox quota exceeded", "soft"),  # 552 is taken as temporary, as Mailman does (RFC 5321, 4.5.3.1.10)
    ("550 No such user here", "hard"),
    ("554 delivery error: This user doesn't have an account", "hard"),
])
def test_a_plain_smtp_reply_code_for_the_failed_address_decides_its_kind(reply, kind) -> None:
    """Without an enhanced code (5.1.1), the reply the server gave for the address says 4xx soft, 5xx hard
    (tests/test_bounces_codes.py holds the rule whole)."""
    finding = classify(exim_failure("host mail.example.net [192.0.2.40]",
                                    f"SMTP error from remote mail server after RCPT TO:<{READER}>:", reply))
    assert (finding.kind, finding.detail) == (kind, reply)


def test_an_older_exim_reply_after_the_hosts_name_is_read_too() -> None:
    finding = classify(exim_failure(f"SMTP error from remote mail server after RCPT TO:<{READER}>:",
                                    "host mail.example.net [192.0.2.40]: 452 Insufficient system storage"))
    assert finding.kind == "soft"


@pytest.mark.parametrize("line", [
    "host mail.example.net [192.0.2.40]:465: Connection refused",  # a port
    "452 KB is more than this mailbox accepts",  # a size
    "Mailbox size: 552 MB",
    "Last tried: 450 minutes ago",  # a time
    "all relevant MX records point to non-existent hosts (retried 452 times)",
])
def test_a_number_that_is_no_reply_code_does_not_decide_the_kind(line) -> None:
    """flufl.bounce's "permanent" stands: the 4xx and 552 here are ports, sizes, times, counts."""
    assert classify(exim_failure(line)).kind == "hard"


def test_a_reply_code_outside_the_failed_addresss_paragraph_does_not_decide_the_kind() -> None:
    """A notice above the failure ('mail to a full mailbox is returned with 452 after four days') is not its code."""
    notice = b"Mail to a full mailbox is returned with a\n452 after four days.\n\nThis message was created"
    raw = message("exim_unrouteable.eml", READER, 4).replace(b"This message was created", notice)
    assert classify(raw).kind == "hard"


def test_a_message_of_thousands_of_parts_is_read_in_moments_not_minutes() -> None:
    """Anyone can write to the bounce mailbox: 3,000 forwarded messages in one mail (230 KB) must not hold it up."""
    import time

    forwarded = b"--B\nContent-Type: message/rfc822\n\nSubject: fwd\nContent-Type: text/plain\n\nhello\n" * 3000
    raw = (b"From: someone@example.com\nSubject: many\nMIME-Version: 1.0\n"
           b"Content-Type: multipart/mixed; boundary=B\n\n" + forwarded + b"--B--\n")
    began = time.monotonic()
    assert classify(raw).kind == "other"
    assert time.monotonic() - began < 10


@pytest.mark.parametrize("status, action, kind", [
    ("5.1.1", "failed", "hard"), ("5.2.1", "failed", "hard"), ("5.2.2", "failed", "soft"),
    ("4.4.7", "failed", "soft"), ("5.7.26", "failed", "policy"), ("5.7.1", "failed", "policy"),
    ("4.4.1", "delayed", "delayed"), ("2.0.0", "delivered", "other"),
])
def test_rfc_3463_status_codes_decide_the_kind(status, action, kind) -> None:
    assert kind_of(status, action) == kind


@pytest.mark.parametrize("reply, kind", [
    ("550 5.1.1 mailbox unavailable", "hard"), ("550 No such user here", "hard"),
    ("554 5.7.1 Service unavailable; client host blocked", "policy"), ("552 5.2.2 over quota", "soft"),
    ("554 transaction failed", "hard"), ("521 host does not accept mail", "hard"), ("552 too many recipients", "soft"),
])
def test_a_refusal_at_rcpt_is_classified_like_a_bounce(reply, kind) -> None:
    assert kind_of_reply(reply) == kind


def test_a_verp_id_is_found_in_any_case_and_only_for_our_bounce_address() -> None:
    text = f"To: BOUNCES+{RID.upper()}@EXAMPLE.ORG, bounces+{RID}@example.org.evil"
    assert verp_ids(BOUNCES, text) == {RID.lower()}
    assert verp_ids(BOUNCES, f"notbounces+{RID}@example.org") == set()


D = date(2024, 2, 5)


@pytest.mark.parametrize("score, last, weight, day, expected", [
    (0.0, None, 1.0, D, (1.0, True)),
    (3.0, D, 1.0, D, (3.0, False)),  # at most once a day
    (3.0, D, 1.0, D - timedelta(days=1), (3.0, False)),  # never backwards
    (3.0, D, 0.5, D + timedelta(days=1), (3.5, True)),
    (4.0, D, 1.0, D + timedelta(days=7), (5.0, True)),
    (4.0, D, 1.0, D + timedelta(days=8), (1.0, True)),  # stale: starts again
])
def test_the_score_follows_mailmans_rule(score, last, weight, day, expected) -> None:
    assert next_score(score, last, weight, day, stale_days=7) == expected


@pytest.mark.parametrize("key, value, says", [
    ("DIGEST_BOUNCE_IMAP_URL", "http://mail.example.org", "imaps://USER:PASSWORD@HOST/INBOX"),
    ("DIGEST_BOUNCE_IMAP_URL", "imaps://mail.example.org/INBOX", "imaps://USER:PASSWORD@HOST/INBOX"),
    ("DIGEST_BOUNCE_ADDRESS", "Bounces <bounces@example.org>", "bare address"),
    ("DIGEST_BOUNCE_THRESHOLD", "0", "must be"),
])
def test_bad_bounce_settings_are_named(key, value, says) -> None:
    with pytest.raises(ConfigError, match=key) as caught:
        load_settings(None, {key: value})
    assert says in str(caught.value)


def test_the_imap_password_is_never_shown() -> None:
    settings = load_settings(None, {"DIGEST_BOUNCE_IMAP_URL": "imaps://bounces:hunter2-secret@mail.example.org/INBOX"})
    assert "hunter2-secret" not in repr(settings)
    with pytest.raises(ConfigError) as caught:
        load_settings(None, {"DIGEST_BOUNCE_IMAP_URL": "imaps://bounces:hunter2-secret@mail.example.org:port/INBOX"})
    assert "hunter2-secret" not in str(caught.value)
