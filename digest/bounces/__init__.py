"""Bounces, complaints and unsubscribe replies: read, matched to a reader, acted on.

Two ways a dead address shows: the SMTP server refuses it at RCPT during a send
(``digest.mail`` records the refusal), or a report arrives later in the bounce
mailbox (``DIGEST_BOUNCE_IMAP_URL``). Both are scored the same way, Mailman's
(``digest.store.bounces``), and a reader at the threshold is suppressed: every send
skips them, with the reason, until ``digest readers resume``.

``check_bounces`` does one pass: the refusals recorded since the last pass, then
each unread message of the mailbox (``mailbox``), classified (``classify``) and
matched to a reader by the VERP id of the envelope sender it came back to
(``verp``), else by the Message-ID of the digest it returns. What a server's codes
say of the address (hard, soft, or policy: our mail refused) is one rule for
refusals, reports and webhooks alike (``codes``). A message matched to
nobody is recorded and left alone; a reply that asks to unsubscribe unsubscribes
its sender, if the sender is a reader.
"""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo

from ..settings import Settings
from ..store import Store as StoreLike
from ..store.bounces import BounceEvent, Rule
from ..tokens import reader_ids
from .classify import Finding, classify, kind_of_reply
from .verp import envelope_sender, verp_ids

__all__ = ["BounceReport", "Finding", "Matcher", "check_bounces", "classify", "envelope_sender",
           "handle_message", "log_in", "score_refusals"]


@dataclass
class BounceReport:
    read: int = 0  # messages read from the mailbox
    counted: dict[str, str] = field(default_factory=dict)  # reader -> the bounce that counted
    suppressed: dict[str, str] = field(default_factory=dict)  # reader -> why, this pass
    unsubscribed: list[str] = field(default_factory=list)
    policy: list[str] = field(default_factory=list)  # refusals of our mail (5.7.x, 4.7.x, 421): never counted
    unmatched: int = 0
    ignored: int = 0  # delays, auto-replies, anything else: left read, nothing done

    def lines(self) -> list[str]:
        out = [f"suppressed {email}: {why}" for email, why in sorted(self.suppressed.items())]
        out += [f"unsubscribed {email} (they replied 'unsubscribe')" for email in self.unsubscribed]
        out += [f"counted a bounce for {email}: {what}" for email, what in sorted(self.counted.items())
                if email not in self.suppressed]
        if self.policy:
            out.append(f"{len(self.policy)} policy refusal(s) (5.7.x, 4.7.x, 421) not counted against readers: the "
                       f"provider refused our mail or our server itself ({self.policy[0]}); check the sending domain's "
                       "SPF, DKIM and DMARC, and the sending rate")
        if self.unmatched:
            out.append(f"{self.unmatched} bounce(s) matched no reader (no VERP id, no known Message-ID)")
        return out


class Matcher:
    """Which reader a finding is about: VERP id, else returned Message-ID; a reply by its sender."""

    def __init__(self, settings: Settings, store: StoreLike, emails: Iterable[str]) -> None:
        self.settings, self.store = settings, store
        self.emails = {email.lower() for email in emails}
        keys = settings.secret_keys  # a bounce of a digest sent before a key rotation carries the old key's id
        self.by_rid = {rid.lower(): email for email in self.emails for rid in reader_ids(keys, email)}

    def reader_of(self, finding: Finding) -> str | None:
        if finding.kind == "unsubscribe":
            return finding.sender if finding.sender in self.emails else None
        for text in finding.texts:
            for rid in verp_ids(self.settings.bounce_address, text):
                if rid in self.by_rid:
                    return self.by_rid[rid]
        found = self.store.reader_by_message_id(list(finding.message_ids))
        return str(found) if found else None


def check_bounces(settings: Settings, store: StoreLike, readers: Iterable[str], today: date,
                  context: ssl.SSLContext | None = None, span: int | None = None) -> BounceReport:
    """One pass: the RCPT refusals recorded since the last, then the unread mail of the bounce mailbox, searched
    ``span`` messages at a time (by default as many as one answer line of imaplib holds: ``mailbox.SPAN``)."""
    from .mailbox import SPAN, opened

    report = score_refusals(settings, store, settings.zone)
    if not settings.bounce_imap_url:
        return report
    matcher = Matcher(settings, store, [*readers, *store.known_emails()])
    with opened(settings, context, span or SPAN) as mailbox:
        for uid, raw in mailbox.unread():
            report.read += 1
            handle_message(raw, store, matcher, _rule(settings), today, report)
            mailbox.mark_read(uid)
    return report


def log_in(settings: Settings) -> str:
    """``digest check``'s visit to the bounce mailbox: logged in and its folder selected, nothing read; where it is.

    One ``MailboxError`` naming the setting to fix otherwise.
    """
    from .mailbox import opened

    with opened(settings) as mailbox:
        return str(mailbox.where)


def handle_message(raw: bytes, store: StoreLike, matcher: Matcher, rule: Rule, today: date,
                   report: BounceReport) -> str:
    """Classify, match and record one message; what the store did with it."""
    finding = classify(raw)
    email = matcher.reader_of(finding)
    key = "mail:" + hashlib.sha256(raw).hexdigest()
    if finding.kind == "unsubscribe" and email is not None:
        outcome = store.record_bounce(BounceEvent(key, email, today, "unsubscribe", finding.detail), rule)
        if outcome != "duplicate" and store.set_status(email, "unsubscribed", by="email reply") != "unsubscribed":
            report.unsubscribed.append(email)
        return outcome
    if finding.kind in ("other", "delayed"):
        report.ignored += 1
        return store.record_bounce(BounceEvent(key, email, today, finding.kind, finding.detail), rule)
    if email is None:
        report.unmatched += 1
    return _record(store, BounceEvent(key, email, today, finding.kind, finding.detail), rule, report)


def score_refusals(settings: Settings, store: StoreLike, zone: tzinfo, report: BounceReport | None = None) -> BounceReport:
    """Count the refusals at RCPT that sends recorded (``550 5.1.1`` now is a bounce, the same as later)."""
    report = report or BounceReport()
    for message_id, email, created, reply, where in store.refusals_not_scored():
        day = datetime.fromtimestamp(created, zone).date()
        event = BounceEvent("rcpt:" + message_id, email, day, kind_of_reply(reply), f"refused at {where}: {reply}")
        _record(store, event, _rule(settings), report)
    return report


def _record(store: StoreLike, event: BounceEvent, rule: Rule, report: BounceReport) -> str:
    outcome = store.record_bounce(event, rule)
    if outcome == "duplicate" or event.email is None:
        return outcome
    if event.kind == "policy":
        report.policy.append(f"{event.email.rpartition('@')[2]}: {event.detail}")
    elif outcome == "counted":
        report.counted[event.email] = event.detail
    elif outcome == "suppressed":
        found = store.suppression(event.email)
        report.suppressed[event.email] = found.reason if found else event.kind
    return outcome


def _rule(settings: Settings) -> Rule:
    return Rule(threshold=settings.bounce_threshold, stale_days=settings.bounce_stale_days)

