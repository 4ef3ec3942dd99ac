"""digest: the day's research papers, ranked for each reader, sent as an email."""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

from .errors import (
    AuthError,
    ConfigError,
    DigestError,
    EmptyListingError,
    KeywordError,
    LibraryError,
    ListingError,
    LockedError,
    MailboxError,
    MailError,
    OutputError,
    SourceError,
    StoreError,
    TemplateError,
    UnreadableItemsError,
)

if TYPE_CHECKING:
    from .app import Digest, make_digest
    from .model import Listing, Paper, Subscriber
    from .sending import SendReport
    from .settings import Settings, load_settings

_LAZY = {
    "Digest": "app", "make_digest": "app", "SendReport": "sending",
    "Listing": "model", "Paper": "model", "Subscriber": "model",
    "Settings": "settings", "load_settings": "settings",
}


def __getattr__(name: str) -> object:
    """The library API but the exceptions, imported on first use: ``import digest`` (which
    every ``digest.*`` import runs first) stays cheap, so ``digest --help`` loads no library."""
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "AuthError",
    "ConfigError",
    "Digest",
    "DigestError",
    "EmptyListingError",
    "KeywordError",
    "LibraryError",
    "Listing",
    "ListingError",
    "LockedError",
    "MailboxError",
    "MailError",
    "OutputError",
    "Paper",
    "SendReport",
    "Settings",
    "SourceError",
    "StoreError",
    "Subscriber",
    "TemplateError",
    "UnreadableItemsError",
    "__version__",
    "load_settings",
    "make_digest",
]
