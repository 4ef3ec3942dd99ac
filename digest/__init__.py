"""digest: the day's research papers, ranked for each reader, sent as an email."""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import (
    AuthError,
    ConfigError,
    DigestError,
    EmptyListingError,
    KeywordError,
    ListingError,
    LockedError,
    MailboxError,
    MailError,
    OutputError,
    SourceError,
    StoreError,
    TemplateError,
)
from .model import Listing, Paper, Subscriber
from .settings import Settings, load_settings

_LAZY = {"Digest": "app", "make_digest": "app", "SendReport": "sending"}


def __getattr__(name: str) -> object:
    """The library API (``make_digest``, ``Digest``, ``SendReport``), imported on first use:
    ``import digest`` stays cheap for a command that only parses settings."""
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
    "__version__",
    "load_settings",
    "make_digest",
]
