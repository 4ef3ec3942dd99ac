"""What the codes a server gave for one failed address say of it: hard, soft or policy.

One rule for every way a failure arrives: a 5xx refused at RCPT during a send, an
RFC 3464 report's ``Status`` and ``Diagnostic-Code``, a plain report's reply (Exim,
qmail), a provider's webhook (SES, Postmark). Only ``kind_of_code`` judges codes.

- A refusal of *our* mail or server, not of the address, is ``policy`` and never
  counted against the reader: an RFC 3463 X.7.x status (4.7.x and 5.7.x: spam,
  SPF, DKIM, DMARC, a blocklist, a rate limit, greylisting; Gmail's "421 4.7.0 Try
  again later", "550 5.7.1 ... unsolicited mail", Microsoft's "554 5.7.1"), X.1.7
  and X.1.8 (our sender address is bad), and a 421 (RFC 5321: the server is closing
  the channel, whatever the command). The enhanced code is what tells a 554 5.7.1
  (our message) from a 554 5.1.1 or Yahoo's bare "554 delivery error: dd This user
  doesn't have an account" (the address).
- Otherwise the most specific code decides. An enhanced status with a detail:
  4.x.x soft (the server gave up retrying), 5.2.2 mailbox full, 5.3.1 system full
  and 5.4.7 delivery time expired soft, other 5.x.x hard. Else the reply code, as
  Mailman 3 reads a refusal (``mta/deliver.py``: ``code >= 500 and code != 552``
  is permanent): 4xx and 552 soft (RFC 5321 4.5.3.1.10: a 552 is taken as
  temporary), other 5xx hard (521 and 556: the domain takes no mail at all). Else a
  bare X.0.0 (Exim and Postfix write ``Status: 5.0.0`` above the server's own
  ``550 5.7.1``, which is why it comes last): 4 soft, 5 hard. No code: hard, as the
  callers ask only about a failure already known to be permanent.
"""

from __future__ import annotations

import re

STATUS = re.compile(r"\b(?<!\.)([245])\.(\d{1,3})\.(\d{1,3})\b(?!\.\d)")  # 5.1.1; not inside an IPv4 address
# a reply: at the start, after a DSN's "smtp;" type, or after Postfix's "host ... said:"
_REPLY = re.compile(r"^\s*(?:[a-z][\w-]*;\s*)?(?:[^;]*?\bsaid:\s*)?([245]\d\d)(?=[\s-]|$)", re.IGNORECASE)
_OURS = {("7", None), ("1", "7"), ("1", "8")}  # X.7.x, X.1.7, X.1.8: our mail or our sender, not the address
_SOFT = {("2", "2"), ("3", "1"), ("4", "7")}  # mailbox full, system full, delivery time expired


def kind_of_code(reply: str, status: str = "") -> str:
    """hard, soft, policy (or other, for a 2.x.x) from ``reply``, what the server said (``550 5.1.1 unknown``,
    ``smtp; 452 full``, ``552``), and ``status``, an RFC 3463 code given apart from it (a DSN's ``Status``)."""
    code = reply_code(reply)
    enhanced = [(m[1], m[2], m[3]) for m in (STATUS.search(status), STATUS.search(reply)) if m]
    specific = [c for c in enhanced if c[1:] != ("0", "0")]
    if code == "421" or any(_ours(c) for c in enhanced):
        return "policy"
    if specific:
        return _by_status(*specific[0])
    if code:
        return "soft" if code.startswith("4") or code == "552" else "hard" if code.startswith("5") else "other"
    return _by_status(*enhanced[0]) if enhanced else "hard"


def provider_kind(verdict: str, reply: str, status: str = "") -> str:
    """A provider's hard or soft (a webhook's) weighed by the codes it quotes, as the bounce mailbox weighs
    flufl.bounce's permanent: hard is what the codes say (``kind_of_code``); soft stays soft unless they say the
    server refused our mail or our server (policy). Other verdicts stand."""
    if verdict not in ("hard", "soft"):
        return verdict
    said = kind_of_code(reply, status)
    return said if verdict == "hard" else "policy" if said == "policy" else verdict


def reply_code(reply: str) -> str:
    """The SMTP reply code ``reply`` opens with (``550``), or ``""``."""
    match = _REPLY.match(reply)
    return match.group(1) if match else ""


def _ours(code: tuple[str, str, str]) -> bool:
    return (code[1], None) in _OURS or code[1:] in _OURS


def _by_status(klass: str, subject: str, detail: str) -> str:
    if klass == "4" or (subject, detail) in _SOFT:
        return "soft"
    return "hard" if klass == "5" else "other"


__all__ = ["STATUS", "kind_of_code", "provider_kind", "reply_code"]
