"""One rule for what a server's codes say of a failed address, whichever way the failure comes back.

The same reply is judged the same refused at RCPT during a send, in a DSN's Diagnostic-Code (with no Status,
or Exim's and Postfix's bare ``Status: 5.0.0`` above it), in a plain report (Exim without DSN), and in a
provider's webhook: 4xx and 552 soft, other 5xx hard (Mailman 3), unless the enhanced code or a 421 says the
server refused our mail or our server (spam, SPF, DKIM, DMARC, a blocklist, a rate): policy, never counted.
"""

from __future__ import annotations

from datetime import date

import pytest

from digest.bounces import classify, score_refusals
from digest.store import Store
from digest.web.webhooks import postmark_event, ses_events

from .smtp_server import Inbox, start
from .test_bounces_classify import READER, exim_failure
from .test_bounces_mailbox import message
from .test_bounces_rcpt import BOB, MONDAY, READERS, send_on, settings_for

REFUSALS = [  # 5xx: what a send may be refused with at RCPT
    ("550 5.1.1 <ada@example.net>: Recipient address rejected: User unknown", "hard"),
    ("550 No such user here", "hard"),
    ("554 delivery error: dd This user doesn't have an account", "hard"),  # Yahoo: a 554 for a dead address
    ("554 Transaction failed", "hard"),
    ("521 Host does not accept mail", "hard"),  # RFC 7504: the domain takes no mail
    ("556 5.1.10 Recipient address has null MX", "hard"),
    ("552 Mailbox quota exceeded", "soft"),  # RFC 5321 4.5.3.1.10, as Mailman 3
    ("552 5.2.2 Mailbox full", "soft"),
    ("554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org", "policy"),
    ("550 5.7.1 Our system has detected an unusual rate of unsolicited mail", "policy"),  # Gmail, about us
    ("550 5.7.26 Unauthenticated email from example.org is not accepted due to DMARC policy", "policy"),
    ("553 5.1.8 Domain of sender address bounces@example.org does not exist", "policy"),  # our sender
]
GAVE_UP = [  # 4xx: a final report quotes them once the server stopped retrying
    ("452 Mailbox full", "soft"),
    ("452 4.2.2 Over quota", "soft"),
    ("421 Too many connections from your host", "policy"),  # the server closing on us, not the address
    ("421 4.7.0 Try again later, closing connection", "policy"),  # Gmail's rate limit
    ("451 4.7.1 Greylisted, please try again later", "policy"),
]


class Refusing(Inbox):
    """A real aiosmtpd server that refuses one reader at RCPT with the reply given."""

    def __init__(self, reply: str) -> None:
        super().__init__()
        self.reply = reply

    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802
        return self.reply if address == BOB else await super().handle_RCPT(server, session, envelope, address,
                                                                           options)


@pytest.mark.parametrize("reply, kind", REFUSALS)
def test_a_refusal_at_rcpt_during_a_send_is_judged_by_the_rule(reply, kind, tmp_path) -> None:
    controller = start(Refusing(reply))
    try:
        settings = settings_for(controller, tmp_path)
        assert BOB in send_on(settings, MONDAY, READERS).failed
    finally:
        controller.stop()
    with Store.open(settings.state_db) as store:
        score_refusals(settings, store, settings.zone)
        assert [b["kind"] for b in store.bounce_summary(BOB)["bounces"]] == [kind]


def dsn(reply: str, status: str | None) -> bytes:
    """Postfix's report with this Diagnostic-Code, and this Status (None: none at all)."""
    raw = message("postfix_5.1.1.eml", READER, 4)
    raw = raw.replace(b"Status: 5.1.1\n", b"" if status is None else f"Status: {status}\n".encode())
    return raw.replace(f"Diagnostic-Code: smtp; 550 5.1.1 <{READER}>: Recipient address rejected: User\n"
                       "    unknown in virtual mailbox table".encode(), f"Diagnostic-Code: smtp; {reply}".encode())


@pytest.mark.parametrize("status", [None, "5.0.0"])
@pytest.mark.parametrize("reply, kind", REFUSALS + GAVE_UP)
def test_a_dsns_diagnostic_code_is_judged_by_the_rule_when_its_status_says_no_more(reply, kind, status) -> None:
    """No Status, or Exim's and Postfix's bare 5.0.0 above the server's own '550 5.7.1': the reply decides."""
    assert classify(dsn(reply, status)).kind == kind


@pytest.mark.parametrize("status, kind", [("4.7.1", "policy"), ("4.4.7", "soft"), ("5.1.1", "hard"),
                                          ("5.2.2", "soft"), ("5.7.1", "policy")])
def test_a_dsns_own_status_with_a_detail_is_judged_by_the_rule_too(status, kind) -> None:
    assert classify(dsn("550 Requested action not taken", status)).kind == kind


@pytest.mark.parametrize("reply, kind", REFUSALS + GAVE_UP)
def test_a_plain_reports_reply_for_the_address_is_judged_by_the_rule(reply, kind) -> None:
    finding = classify(exim_failure("host mail.example.net [192.0.2.40]",
                                    f"SMTP error from remote mail server after RCPT TO:<{READER}>:", reply))
    assert finding.kind == kind


def ses(reply: str, bounce_type: str = "Permanent") -> dict:
    status = next((word for word in reply.split() if word[:2] in ("4.", "5.")), "")
    return {"notificationType": "Bounce", "bounce": {
        "bounceType": bounce_type, "bounceSubType": "General", "feedbackId": "fb-1",
        "timestamp": "2026-03-02T09:59:00Z", "bouncedRecipients": [{"emailAddress": READER, "status": status, "diagnosticCode": f"smtp; {reply}"}]}}


@pytest.mark.parametrize("reply, kind", REFUSALS + GAVE_UP)
def test_an_ses_permanent_bounce_is_judged_by_the_rule(reply, kind) -> None:
    assert [event.kind for event in ses_events(ses(reply))] == [kind]


@pytest.mark.parametrize("reply, kind", GAVE_UP)
def test_an_ses_transient_bounce_is_soft_unless_the_rule_says_it_refused_us(reply, kind) -> None:
    assert [event.kind for event in ses_events(ses(reply, "Transient"))] == [kind]


@pytest.mark.parametrize("reply, kind", REFUSALS + GAVE_UP)
def test_a_postmark_hard_bounce_is_judged_by_the_rule(reply, kind) -> None:
    event = postmark_event({"RecordType": "Bounce", "Type": "HardBounce", "ID": 7, "Email": READER,
                            "BouncedAt": f"{date.today()}T10:00:00Z", "Details": f"smtp;{reply}"})
    assert event is not None and event.kind == kind
