"""Email addresses: validated once at the edge, then carried as (name, address) pairs.

A header is never rebuilt by pasting a name and an address into one string and
parsing it again: that is how ``Eve Bcc: victim@x`` or ``José Núñez, PhD`` used to
rewrite the ``To:`` line. Settings and the subscribers file go through
``parse_mailbox`` / ``parse_address`` here; ``mime.format_address`` then writes
the header from the pair, and the SMTP envelope uses the validated address alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

from .errors import ConfigError

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SPACE = re.compile(r"\s+")
_QUOTED = re.compile(r'\\(.)')


@dataclass(frozen=True, slots=True)
class Mailbox:
    """A validated address (ASCII, domain lowercased) and a display name (plain text)."""

    address: str
    name: str = ""

    def __str__(self) -> str:
        """The canonical ``"Name" <address>`` text, which parses back to the same pair."""
        if not self.name:
            return self.address
        quoted = self.name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{quoted}" <{self.address}>'


@lru_cache(maxsize=4096)
def parse_address(text: str) -> str:
    """One bare address (``ada@example.org``), validated and returned in ASCII.

    A ConfigError says what is wrong, without repeating the value: callers name
    the setting or the subscriber it came from.
    """
    value = text.strip()
    if _CONTROL.search(value):
        raise ConfigError("an address cannot contain line breaks or control characters")
    if "<" in value or ">" in value:
        raise ConfigError("give the bare address here, without <...> (the name has its own field)")
    if "," in value or ";" in value:
        raise ConfigError("give one address, not a list")
    try:
        found = validate_email(value, check_deliverability=False, allow_smtputf8=False, test_environment=True)
    except EmailNotValidError as err:
        raise ConfigError(f"not an email address ({str(err).rstrip('.')})") from None
    return str(found.ascii_email or found.normalized)


@lru_cache(maxsize=4096)
def parse_mailbox(text: str) -> Mailbox:
    """``ada@example.org``, ``Ada <ada@example.org>`` or ``"Núñez, José" <jose@example.org>``.

    A name is anything before the last ``<``, quoted or not; an unquoted name
    with an ``@`` in it (``victim@x <you@y>``) is refused: mail programs would
    show, or reply to, the other address.
    """
    value = text.strip()
    if _CONTROL.search(value):
        raise ConfigError("an address cannot contain line breaks or control characters")
    if "<" not in value and ">" not in value:
        return Mailbox(parse_address(value))
    start = value.rfind("<")
    raw_name, address = value[:max(start, 0)].strip(), value[start + 1:-1]
    if start < 0 or not value.endswith(">") or "<" in raw_name or ">" in raw_name:
        raise ConfigError("write one address, as Name <address>")
    quoted = len(raw_name) >= 2 and raw_name[0] == raw_name[-1] == '"'
    name = _QUOTED.sub(r"\1", raw_name[1:-1]) if quoted else raw_name
    if not quoted and ("@" in name or '"' in name):
        raise ConfigError("the name before <...> looks like a second address; give one address, as Name <address>")
    return Mailbox(parse_address(address), clean_name(name))


def clean_name(name: str) -> str:
    """A display name as plain text: no control characters, single spaces."""
    return _SPACE.sub(" ", _CONTROL.sub(" ", name)).strip()


# Providers that deliver ``name+tag@`` to ``name@`` (and, for Gmail, ignore dots): one person, one key.
PLUS_TAGS = frozenset({
    "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com",
    "fastmail.com", "fastmail.fm", "icloud.com", "me.com", "mac.com", "proton.me", "protonmail.com", "pm.me",
})
SAME_MAILBOX = {"googlemail.com": "gmail.com"}
DOTS_IGNORED = frozenset({"gmail.com"})


def canonical_address(address: str) -> str:
    """The key of the person behind an address, for rate limits: every spelling of one mailbox, one key.

    ``address`` is a validated ASCII address (``parse_address``: the domain already in
    punycode). Case is folded; for the providers above the ``+tag`` goes, and Gmail's
    dots and ``googlemail.com`` too. Never used as a delivery address.
    """
    local, _, domain = address.strip().lower().rpartition("@")
    domain = SAME_MAILBOX.get(domain, domain)
    if domain in PLUS_TAGS:
        local = local.partition("+")[0]
    if domain in DOTS_IGNORED:
        local = local.replace(".", "")
    return f"{local}@{domain}"
