"""A digest's envelope: its headers, its unsubscribe link, and the message bytes.

Built from settings and link strings only (signed tokens, the checked
``DIGEST_PUBLIC_URL``), never from a listing's text; header values go through
``clean_header`` or ``encode_header`` anyway.
"""

from __future__ import annotations

import os
import random
import time
from datetime import datetime
from email.utils import format_datetime, parseaddr
from typing import TYPE_CHECKING

from .addresses import parse_mailbox
from .errors import ConfigError
from .mime import build_message, clean_header, encode_header, format_address, list_id
from .model import Subscriber
from .settings import Settings
from .tokens import ReaderLinks

if TYPE_CHECKING:
    from .render import Rendered

__all__ = ["build", "mailto_unsubscribe", "message_id", "messages_made_for", "unsubscribe_for"]

_MADE_FOR: int | None = None  # the process a forked renderer makes its messages for (``messages_made_for``)


def messages_made_for(pid: int) -> None:
    """In a forked renderer: its Message-IDs name ``pid``, the send's process that recorded the run, so
    ``digest status`` counts them as that run's (they named the renderer, and a running run showed 0 sent)."""
    global _MADE_FOR
    _MADE_FOR = pid


def message_id(domain: str) -> str:
    """``<time.PID.random@domain>``, the shape of ``email.utils.make_msgid``, PID the send's process."""
    return f"<{int(time.time() * 100)}.{_MADE_FOR or os.getpid()}.{random.getrandbits(64)}@{domain}>"


def unsubscribe_for(settings: Settings, links: ReaderLinks | None = None) -> str:
    """The reader's signed link; else DIGEST_UNSUBSCRIBE_URL (only without DIGEST_PUBLIC_URL); else mailto."""
    if links is not None:
        return links.unsubscribe
    return settings.unsubscribe_url or mailto_unsubscribe(settings)


def mailto_unsubscribe(settings: Settings) -> str:
    address = parseaddr(settings.from_addr)[1]
    return f"mailto:{address}?subject=unsubscribe" if address else ""


def build(settings: Settings, reader: Subscriber, rendered: "Rendered", now: datetime) -> tuple[str, bytes]:
    """(Message-ID, the message bytes) for one reader."""
    if not settings.from_addr:
        raise ConfigError("DIGEST_FROM is not set; set it to the sender address, e.g. Digest <digest@example.org>")
    sender = parse_mailbox(settings.from_addr)
    made = message_id(sender.address.rpartition("@")[2])
    headers = [
        ("From", format_address(sender.name, sender.address)),
        ("To", format_address(reader.name, reader.email)),
        ("Subject", encode_header(rendered.subject)),
        ("Date", format_datetime(now)),
        ("Message-ID", made),
        ("List-Id", list_id(sender.name, sender.address)),
        *_unsubscribe_headers(settings, rendered),
    ]
    return made, build_message(headers, rendered.bodies)  # the bytes the size budget measured


def _unsubscribe_headers(settings: Settings, rendered: "Rendered") -> list[tuple[str, str]]:
    """List-Unsubscribe (RFC 2369) and, for an https link, One-Click (RFC 8058)."""
    if rendered.links is not None:
        links = [rendered.links.unsubscribe, mailto_unsubscribe(settings)]
        value = ",\r\n ".join(f"<{clean_header(link)}>" for link in links if link)
        headers = [("List-Unsubscribe", value)]
        if rendered.links.unsubscribe.startswith("https://"):  # RFC 8058: One-Click needs HTTPS
            headers.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
        return headers
    # one address for every reader: no One-Click (RFC 8058 wants the URI to name the recipient, and its POST
    # carries nothing else, so a shared URL could not tell who leaves); the mailto beside it names them
    links = [settings.unsubscribe_url, mailto_unsubscribe(settings)]
    value = ",\r\n ".join(f"<{clean_header(link)}>" for link in dict.fromkeys(links) if link)
    return [("List-Unsubscribe", value)] if value else []
