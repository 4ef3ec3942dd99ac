"""The envelope sender (MAIL FROM) of each digest, and reading it back from a bounce.

With ``DIGEST_BOUNCE_ADDRESS`` (``bounces@example.org``) and ``DIGEST_SECRET_KEY``,
each reader's digest goes out from ``bounces+<reader id>@example.org``: the reader id
is the keyed hash the reader's links carry (``digest.tokens.reader_id``), never the
address, so a bounce names the reader even when it names no address we sent to (a
forwarding address, a rewritten report). Without a secret key there is nothing to
key the hash with: the plain bounce address is used, and a bounce is matched by the
Message-ID of the digest it returns (every provider's report quotes it).
"""

from __future__ import annotations

import re
from email.utils import parseaddr

from ..settings import Settings
from ..tokens import reader_id

_ID = r"[A-Za-z0-9_-]{20}"  # reader_id: 15 bytes of HMAC, URL-safe base64


def envelope_sender(settings: Settings, recipient: str) -> str | None:
    """The MAIL FROM address for this reader's digest; None: no bounce address, DIGEST_FROM as before."""
    bounce = settings.bounce_address
    if not bounce:
        return None
    if not settings.secret_key:
        return bounce
    local, _, domain = bounce.rpartition("@")
    return f"{local}+{reader_id(settings.secret_key, recipient)}@{domain}"


def verp_ids(bounce_address: str, text: str) -> set[str]:
    """The reader ids of every ``local+<id>@domain`` form of the bounce address in ``text``, lower-cased
    (some relays lower-case the address they bounce to)."""
    local, _, domain = parseaddr(bounce_address)[1].rpartition("@")
    if not local:
        return set()
    pattern = re.compile(rf"(?<![\w.+-]){re.escape(local)}\+({_ID})@{re.escape(domain)}\b", re.IGNORECASE)
    return {found.lower() for found in pattern.findall(text)}
