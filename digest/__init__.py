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
    MailError,
    SourceError,
    StoreError,
    TemplateError,
)
from .model import Listing, Paper, Subscriber
from .settings import Settings, load_settings

__all__ = [
    "AuthError",
    "ConfigError",
    "DigestError",
    "EmptyListingError",
    "KeywordError",
    "Listing",
    "ListingError",
    "LockedError",
    "MailError",
    "Paper",
    "Settings",
    "SourceError",
    "StoreError",
    "Subscriber",
    "TemplateError",
    "__version__",
    "load_settings",
]
