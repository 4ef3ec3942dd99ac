"""Readers: one from ``DIGEST_TO`` + ``DIGEST_KEYWORDS``, or many from a TOML file.

    [[subscribers]]
    email = "ada@example.org"
    name = "Ada"
    keywords = ["reinforcement learning", "-survey"]
    max_items = 10        # optional
    min_score = 2.0       # optional
    enabled = true        # optional
    library = "ada.bib"   # optional: liked papers (BibTeX, RIS, Zotero CSV, arXiv ids),
                          # relative to this file
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from .errors import ConfigError, KeywordError
from .keywords import parse_profile, split_keywords
from .model import Subscriber
from .addresses import clean_name, parse_address, parse_mailbox
from .settings import Settings

_FIELDS = {"email", "name", "keywords", "max_items", "min_score", "enabled", "library"}


def load_subscribers(path: Path) -> list[Subscriber]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: subscribers file not found; check DIGEST_SUBSCRIBERS") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read subscribers file ({err})") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: invalid TOML: {err}") from None
    tables = data.get("subscribers")
    if not isinstance(tables, list) or not tables:
        raise ConfigError(f"{path}: no [[subscribers]] tables; see the README for the format")
    problems: list[str] = []
    readers: list[Subscriber] = []
    seen: set[str] = set()
    for number, table in enumerate(tables, 1):
        try:
            reader = subscriber_from_table(table, path.parent)
        except (ConfigError, KeywordError) as err:
            problems.append(f"subscriber {number}: {err}")
            continue
        if reader.email.lower() in seen:
            problems.append(f"subscriber {number}: duplicate email {reader.email}")
        seen.add(reader.email.lower())
        readers.append(reader)
    if problems:
        raise ConfigError(f"{path}: " + "; ".join(problems))
    return readers


def subscriber_from_table(table: Any, folder: Path | None = None) -> Subscriber:
    if not isinstance(table, dict):
        raise ConfigError("not a table")
    unknown = set(table) - _FIELDS
    if unknown:
        raise ConfigError(f"unknown field(s) {', '.join(sorted(unknown))}")
    email = _email(table.get("email"))
    name = table.get("name", "")
    if not isinstance(name, str):
        raise ConfigError(f"{email}: name must be a string")
    keywords = table.get("keywords")
    if isinstance(keywords, str):
        keywords = [keywords]
    if not isinstance(keywords, list) or not keywords or not all(isinstance(k, str) for k in keywords):
        raise ConfigError(f"{email}: keywords must be a non-empty list of strings")
    parse_profile(keywords)
    return Subscriber(
        email=email,
        keywords=tuple(keywords),
        name=clean_name(name),
        max_items=_optional(table, "max_items", int),
        min_score=_optional(table, "min_score", (int, float)),
        enabled=bool(table.get("enabled", True)),
        library=_library(table, folder),
    )


def _email(value: Any) -> str:
    """The validated bare address; the display name has its own ``name`` field."""
    if value is None:
        raise ConfigError("no email address (email = ...)")
    if not isinstance(value, str):
        raise ConfigError(f"email must be a string, not {value!r}")
    try:
        return parse_address(value)
    except ConfigError as err:
        raise ConfigError(f"bad email address {value!r}: {err}") from None


def _library(table: dict[str, Any], folder: Path | None) -> Path | None:
    value = table.get("library")
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"library must be the path of a file, not {value!r}")
    path = Path(value.strip()).expanduser()
    return path if path.is_absolute() or folder is None else folder / path


def _optional(table: dict[str, Any], key: str, kind: Any) -> Any:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, kind) or value < 0:
        raise ConfigError(f"{key} must be a number of 0 or more, not {value!r}")
    return value


def subscribers_from_settings(settings: Settings, path: Path | None = None) -> list[Subscriber]:
    """The file if one is named, else the single reader of DIGEST_TO + DIGEST_KEYWORDS."""
    chosen = path or settings.subscribers
    if chosen:
        return load_subscribers(chosen)
    if not settings.keywords:
        raise ConfigError("no readers: set DIGEST_KEYWORDS (and DIGEST_TO), or DIGEST_SUBSCRIBERS")
    parse_profile(settings.keywords)
    return [single_reader(settings, settings.keywords)]


def single_reader(settings: Settings, keywords: str) -> Subscriber:
    """The reader of ``DIGEST_TO`` (validated by the settings) with these keywords."""
    to = parse_mailbox(settings.to) if settings.to else None
    return Subscriber(email=to.address if to else "", keywords=tuple(split_keywords(keywords)),
                      name=to.name if to else "", library=settings.library)
