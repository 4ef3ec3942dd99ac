"""What one message in the bounce mailbox is: a bounce (hard, soft, policy, delayed), a
complaint, an unsubscribe reply, or nothing to act on. Pure: bytes in, a ``Finding`` out.

- RFC 3464 delivery status notifications (Gmail, Outlook, Postfix, Exim with DSN):
  the ``Action`` of each recipient, then its codes (``Status``, and the server's
  reply in ``Diagnostic-Code``) by the one rule every path shares
  (``codes.kind_of_code``): 5.x.x and 5xx hard, 4.x.x, 4xx, 5.2.2 and 552 soft,
  X.7.x and 421 (the provider refused *us*, for all its readers) policy;
  ``delayed`` is only news, counted nowhere.
- Other bounces (Exim's plain "Mail delivery failed", qmail, old Exchange):
  ``flufl.bounce`` (Mailman's detector) says permanent or temporary. Permanent is
  hard, unless the code the report gives for the address says otherwise, by the
  same rule (a 452 after the retries ran out is soft, a 421 or 5.7.1 policy);
  temporary (a warning: the server retries) is only news, like
  ``delayed``, and counted nowhere, as Mailman does, whatever code it quotes: a 5xx
  there is the server's last reply, not its verdict (Gmail retries some, Exchange
  wraps them in 451 4.4.0, Postfix's soft_bounce keeps them queued), and its final
  report, if it gives up, is the one that counts. Without a code the detail is what
  the report says went wrong: the paragraph naming the address, or when that holds
  the address alone, the technical details under their heading (Gmail's "Technical
  details of temporary failure:"). The code is looked for as
  flufl.bounce's detectors look for addresses, in the report's own words and not in
  the copy of the message it returns (cut at its separator line, Exim's "This is a
  copy of the message"): first in the paragraph that names the failed address (an
  enhanced code, else a reply code where a reply stands: opening a line, after
  "said:"), then an enhanced code anywhere before the copy. The first code anywhere
  may be another: one a notice above the failure names, a version (Exim 4.97.1) in
  a returned header, a number in a returned title; and a 452 elsewhere is as likely
  a size, a port or a count.
- RFC 5965 ARF reports (``feedback-report``) are complaints.
- A reply whose subject or first line says "unsubscribe", not sent by a robot, is
  the reader's unsubscribe (the ``mailto:`` link every digest carries).

What links the message to a reader is gathered, never trusted to be an address we
act on blindly: the VERP ids in its headers and in the returned message's
headers, and the returned message's Message-ID. A reply is matched by its sender.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import Message
from email.utils import parseaddr

from .codes import STATUS, kind_of_code


_BASIC_CODE = re.compile(  # an SMTP reply code where a reply stands: never an address, port, size or date
    r"(?:^\s*|:\s+|\b(?:said|replied|returned|responded with)\s+)[\"'(#]?([45]\d\d)(?=[\s-]|$)(?!-?\d)"
    r"(?!\s*(?:%|(?:[kmgt]i?b|bytes?|octets|ms|s|secs?|seconds?|mins?|minutes?|hours?|days?|times|tries)\b))",
    re.IGNORECASE)
_RETURNED = re.compile(r"^\s*-{2,}.*\b(copy of (the|your) message|copy of the body|"  # where the returned copy starts
                       r"(original|returned|unsent|undelivered) message|message (headers? )?follows?)\b", re.I)
_DIAGNOSTIC = re.compile(  # the heading of a report's technical details: "Technical details of temporary failure:"
    r"^\s*[^:]{0,60}\b(details|diagnostic|reason|error|response)\b[^:]{0,40}:\s*(?P<rest>.*)$", re.IGNORECASE)
_UNSUBSCRIBE = re.compile(r"^\W*(unsubscribe|remove me|stop)\b", re.IGNORECASE)
_ROBOT_FROM = re.compile(r"^(mailer-daemon|postmaster|no-?reply)@", re.IGNORECASE)
_QUOTED_ID = re.compile(r"^Message-ID:\s*(<[^<>\s]+>)\s*$", re.IGNORECASE | re.MULTILINE)
_ADDRESS_HEADERS = ("To", "Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "Return-Path")


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str  # hard, soft, policy, delayed, complaint, unsubscribe, other
    detail: str = ""  # the status and diagnostic, or the report's type, in one short line
    texts: tuple[str, ...] = ()  # header values that may carry a VERP id
    message_ids: tuple[str, ...] = ()  # of the returned digest
    sender: str = ""  # the From address (an unsubscribe reply is matched by it)
    recipients: tuple[str, ...] = field(default=())  # the failed addresses the report names


def classify(raw: bytes) -> Finding:
    msg = message_from_bytes(raw, policy=policy.compat32)  # compat32: flufl.bounce and broken mail
    texts, mids = _links(msg)
    sender = parseaddr(str(msg.get("From", "")))[1].lower()
    report = _report_type(msg)
    if report == "feedback-report":
        return Finding("complaint", _feedback(msg), texts, mids, sender)
    if report == "delivery-status":
        kind, detail, recipients = _delivery_status(msg)
        if kind:
            return Finding(kind, detail, texts, mids, sender, recipients)
    found = _detected(msg)
    if found is not None:
        return Finding(found[0], found[1], texts, mids, sender, found[2])
    if _is_unsubscribe(msg, sender):
        return Finding("unsubscribe", "reply asking to unsubscribe", texts, mids, sender)
    return Finding("other", str(msg.get("Subject", ""))[:100], texts, mids, sender)


def kind_of(status: str, action: str = "failed", diagnostic: str = "") -> str:
    """hard, soft, policy or delayed, from an RFC 3464 action, status (``5.1.1``) and diagnostic (``smtp; 550
    ...``), by the one rule for codes (``codes.kind_of_code``)."""
    if action.lower() in ("delayed", "relayed", "delivered", "expanded"):
        return "delayed" if action.lower() == "delayed" else "other"
    return kind_of_code(diagnostic, status)


def kind_of_reply(reply: str) -> str:
    """The same for an SMTP server's refusal during a send (``550 5.1.1 user unknown``)."""
    return kind_of_code(reply)


def _report_type(msg: Message) -> str:
    if msg.get_content_type() != "multipart/report":
        return ""
    return str(msg.get_param("report-type", "", header="content-type") or "").lower()


def _delivery_status(msg: Message) -> tuple[str, str, tuple[str, ...]]:
    """The worst per-recipient verdict of an RFC 3464 report: hard over soft over policy over delayed."""
    verdicts: list[tuple[str, str, str]] = []
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        for group in _field_groups(part)[1:]:  # the first group is per message, the rest per recipient
            status, diagnostic = group.get("status", ""), group.get("diagnostic-code", "")
            kind = kind_of(status, group.get("action", "failed"), diagnostic)
            detail = " ".join(v for v in (status, diagnostic) if v)
            verdicts.append((kind, detail, _bare(group.get("final-recipient", ""))))
    order = ("hard", "soft", "policy", "delayed", "other")
    verdicts.sort(key=lambda v: order.index(v[0]))
    if not verdicts:
        return "", "", ()
    return verdicts[0][0], _one_line(verdicts[0][1]), tuple(v[2] for v in verdicts if v[2])


def _field_groups(part: Message) -> list[dict[str, str]]:
    """The header groups of a ``message/delivery-status`` part, keys lower-cased."""
    payload = part.get_payload()
    if isinstance(payload, list):  # the email package parses each group as a message
        return [{k.lower(): _one_line(str(v)) for k, v in sub.items()} for sub in payload if isinstance(sub, Message)]
    text = payload if isinstance(payload, str) else ""
    groups = []
    for block in re.split(r"\r?\n\s*\r?\n", text.strip()):
        sub = message_from_bytes(block.encode("utf-8", "replace"), policy=policy.compat32)
        groups.append({k.lower(): _one_line(str(v)) for k, v in sub.items()})
    return groups


def _detected(msg: Message) -> tuple[str, str, tuple[str, ...]] | None:
    """flufl.bounce's verdict on a bounce in any of the shapes it knows; None when it is not one.

    Imported here: its detectors take a tenth of a cold ``digest send`` (which only scores refusals).
    """
    from flufl.bounce import all_failures

    logging.getLogger("flufl.bounce").setLevel(logging.WARNING)  # not a line per detector per message with -v
    temporary, permanent = all_failures(msg)  # flufl.bounce's order
    if not permanent and not temporary:
        return None
    addresses = tuple(sorted(a.decode("utf-8", "replace").lower() for a in permanent | temporary))
    status, line = _status_of(_text_of(msg), addresses)
    kind = "delayed" if not permanent else _kind_of_code(status, line)  # the code, when given, decides
    return kind, _one_line(line or "bounce"), addresses


def _kind_of_code(code: str, line: str) -> str:
    """A permanent failure's kind from the code found for it (``5.1.1`` or ``452``) and the line saying it, whose
    reply code (``554`` in ``554 5.7.1``) the rule weighs too; none: hard."""
    reply = _code_on(line, True) if code else ""
    return kind_of_code(f"{reply} {code}" if reply and reply != code else code)


def _status_of(body: str, addresses: tuple[str, ...]) -> tuple[str, str]:
    """The status code that speaks for the failed address (``""``: none), and what says it.

    In the paragraph naming the address an enhanced code (5.1.1) first, then a basic reply code (452); then an
    enhanced code anywhere in the report, never in the returned copy. A basic code is read there only, and only
    where a reply stands (opening a line, after "said:"): elsewhere a 452 is as likely a size or a count.
    """
    own = list(itertools.takewhile(lambda line: not _RETURNED.match(line), body.splitlines()))
    paragraph = _paragraph_naming(own, addresses)
    for lines, basic in ((paragraph, False), (paragraph, True), (own, False)):
        for line in lines:
            code = _code_on(line, basic)
            if code:
                return code, line.strip()
    return "", _diagnostic(own, paragraph, addresses)


def _diagnostic(lines: list[str], paragraph: list[str], addresses: tuple[str, ...]) -> str:
    """What the report says went wrong: the paragraph naming the address, or when that names nothing more (a
    warning's "Delivery to the following recipient has been delayed: / ada@example.net"), its technical details
    (Gmail's "Technical details of temporary failure:" and the lines under it)."""
    said = " ".join(line.strip() for line in paragraph)
    if re.sub(r"[\W_]+", "", _without(said, addresses)):
        return said
    for n, line in enumerate(lines):
        match = _DIAGNOSTIC.match(line)
        if match:
            rest = list(itertools.takewhile(str.strip, lines[n + 1:]))
            details = " ".join(text.strip() for text in [match.group("rest"), *rest] if text.strip())
            if details:
                return details
    return said


def _without(text: str, addresses: tuple[str, ...]) -> str:
    for address in addresses:
        text = re.sub(re.escape(address), "", text, flags=re.IGNORECASE)
    return text


def _code_on(line: str, basic: bool) -> str:
    """The enhanced status code on ``line`` (``5.1.1``), or with ``basic`` its SMTP reply code (``452``); ``""``."""
    match = (_BASIC_CODE if basic else STATUS).search(line)
    return "" if match is None else match.group(1) if basic else match.group(0)


def _paragraph_naming(lines: list[str], addresses: tuple[str, ...]) -> list[str]:
    """From the first line naming one of ``addresses`` to the blank line after it (nothing if none does)."""
    start = next((n for n, line in enumerate(lines) if any(a and a in line.lower() for a in addresses)), len(lines))
    end = next((n for n in range(start, len(lines)) if not lines[n].strip()), len(lines))
    return lines[start:end]


def _feedback(msg: Message) -> str:
    for part in msg.walk():
        if part.get_content_type() == "message/feedback-report":
            groups = _field_groups(part)
            fields = groups[0] if groups else {}
            agent = fields.get("user-agent", "")
            return _one_line(f"{fields.get('feedback-type', 'abuse')} report" + (f" ({agent})" if agent else ""))
    return "abuse report"


def _links(msg: Message) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Header values that may carry a VERP id, and the returned message's Message-IDs."""
    texts: list[str] = [str(v) for name in _ADDRESS_HEADERS for v in msg.get_all(name, [])]
    mids: list[str] = []
    for part in msg.walk():
        kind = part.get_content_type()
        if kind == "message/feedback-report":
            texts += [f"{k}: {v}" for group in _field_groups(part) for k, v in group.items()]
        for headers in _returned_headers(part, kind):
            texts += [str(v) for name in ("Return-Path", "From", "Sender") for v in headers.get_all(name, [])]
            mids += [str(v).strip() for v in headers.get_all("Message-ID", [])]
    mids += _QUOTED_ID.findall(_text_of(msg))  # a copy returned as plain text (Exim, qmail)
    return tuple(texts), tuple(dict.fromkeys(m for m in mids if m))


def _returned_headers(part: Message, kind: str) -> list[Message]:
    if kind in ("message/rfc822", "message/rfc822-headers"):
        payload = part.get_payload()
        return [m for m in payload if isinstance(m, Message)] if isinstance(payload, list) else []
    if kind == "text/rfc822-headers":
        raw = part.get_payload(decode=True)
        return [message_from_bytes(raw, policy=policy.compat32)] if isinstance(raw, bytes) else []
    return []


def _is_unsubscribe(msg: Message, sender: str) -> bool:
    if not sender or _ROBOT_FROM.match(sender) or str(msg.get("Auto-Submitted", "no")).strip().lower() != "no":
        return False
    if msg.get("List-Id") or str(msg.get("Precedence", "")).lower() in ("bulk", "junk", "list"):
        return False
    subject = str(msg.get("Subject", ""))
    first = next((line for line in _text_of(msg).splitlines() if line.strip()), "")
    return bool(_UNSUBSCRIBE.search(re.sub(r"^\s*(re|aw|sv|fwd?)\s*:\s*", "", subject, flags=re.I))
                or _UNSUBSCRIBE.search(first))


def _text_of(msg: Message) -> str:
    """The first text/plain part, decoded (the part a person or a bounce robot wrote)."""
    for part in _own_parts(msg):
        if part.get_content_type() == "text/plain":
            raw = part.get_payload(decode=True)
            if isinstance(raw, bytes):
                return _decoded(raw, part.get_content_charset())
    return ""


def _decoded(raw: bytes, charset: str | None) -> str:
    """Text in its declared charset; one Python cannot decode with (``unknown-8bit``, a typo, ``idna``) as UTF-8."""
    try:
        return raw.decode(charset or "utf-8", "replace")
    except (LookupError, ValueError):  # ValueError: a NUL in the name; UnicodeError: idna refuses "replace"
        return raw.decode("utf-8", "replace")


def _own_parts(msg: Message) -> Iterator[Message]:
    """The message's parts in ``walk`` order, without the insides of a message it returns (``message/rfc822``).

    One pass: asking of each part whether a returned message holds it took a walk per part, and a message
    of a few thousand parts minutes, holding up the mailbox.
    """
    stack = [msg]
    while stack:
        part = stack.pop()
        yield part
        payload = part.get_payload()
        if part.get_content_type() != "message/rfc822" and part.is_multipart() and isinstance(payload, list):
            stack.extend(sub for sub in reversed(payload) if isinstance(sub, Message))


def _bare(value: str) -> str:
    """``rfc822; bob@example.net`` -> ``bob@example.net``."""
    address = value.split(";", 1)[-1].strip()
    return address.strip("<>").lower()


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()[:300]


__all__ = ["Finding", "classify", "kind_of", "kind_of_reply"]
