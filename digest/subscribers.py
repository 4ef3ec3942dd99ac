"""Readers: one from ``DIGEST_TO`` + ``DIGEST_KEYWORDS``, or many from a TOML file.

    [[subscribers]]
    email = "ada@example.org"
    name = "Ada"
    keywords = ["reinforcement learning", "-survey"]   # or one string: "reinforcement learning, -survey"
    max_items = 10        # optional
    min_score = 2.0       # optional
    enabled = true        # optional
    library = "ada.bib"   # optional: liked papers (BibTeX, RIS, Zotero CSV, arXiv ids),
                          # relative to this file
    language = "German"   # optional: of the LLM summaries (DIGEST_LLM_URL); default English
    authors = ["Yann LeCun", "@ylecun"]   # optional: their papers are always picked (digest.ranking.authors)
    orgs = ["Meta AI"]    # optional: so are the papers of these organisations
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import ConfigError, KeywordError, expand_home, utf8_text
from .ranking.authors import MAX_FOLLOWS, follow_problem
from .ranking.profile import normalize_keywords, parse_profile
from .model import Subscriber
from .addresses import clean_name, parse_address, parse_mailbox
from .settings import MAX_ITEMS, MAX_SCORE, Settings

_FIELDS = {"email", "name", "keywords", "max_items", "min_score", "enabled", "library", "language", "authors", "orgs"}
_FOLLOW_EXAMPLES = {"authors": '["Yann LeCun", "LeCun, Y.", "@ylecun"]', "orgs": '["Meta AI"]'}
_LANGUAGE = re.compile(r"[^\W\d_]+(?:[ -][^\W\d_]+){0,3}")  # "German", "pt-BR", "Brazilian Portuguese"


def load_subscribers(path: Path, named_by: str = "DIGEST_SUBSCRIBERS") -> list[Subscriber]:
    """``named_by``: where the path came from, for the fix a missing file's error names (``--subscribers``)."""
    import tomllib  # only a subscribers file needs it: one reader from DIGEST_KEYWORDS starts without

    try:
        data = tomllib.loads(_text_of(path, named_by))
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


def _text_of(path: Path, named_by: str) -> str:
    """The file's text (a UTF-8 BOM, as Notepad saves, dropped); what keeps it from being read, and the fix."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: subscribers file not found; check {named_by}") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: a folder, not a subscribers file; check {named_by}") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read subscribers file ({err.strerror or err}); check {named_by}") from None
    return utf8_text(data, str(path), "save the subscribers file as UTF-8")


def subscriber_from_table(table: Any, folder: Path | None = None) -> Subscriber:
    """One ``[[subscribers]]`` table, read strictly: a value of the wrong type is an error
    that says how to write it, never a guess (``enabled = "false"`` is not true)."""
    if not isinstance(table, dict):
        raise ConfigError("not a table")
    unknown = set(table) - _FIELDS
    if unknown:
        raise ConfigError(f"unknown field(s) {', '.join(sorted(unknown))}; the fields are {', '.join(sorted(_FIELDS))}")
    email = _email(table.get("email"))
    try:
        return Subscriber(
            email=email,
            keywords=_keywords(table.get("keywords")),
            name=clean_name(_name(table.get("name", ""))),
            max_items=_count(table.get("max_items")),
            min_score=_score(table.get("min_score")),
            enabled=_enabled(table.get("enabled", True)),
            library=_library(table, folder),
            language=_language(table.get("language")),
            authors=_follows(table.get("authors"), "authors"),
            orgs=_follows(table.get("orgs"), "orgs"),
        )
    except (ConfigError, KeywordError) as err:
        raise ConfigError(f"{email}: {err}") from None


def _keywords(value: Any) -> tuple[str, ...]:
    """A list of keywords, or one string split like ``DIGEST_KEYWORDS``; checked as a profile."""
    no_keywords = 'no keywords; add keywords = ["reinforcement learning", "-survey"]'
    if value is None:
        raise ConfigError(no_keywords)
    if not isinstance(value, str) and not (isinstance(value, list) and all(isinstance(k, str) for k in value)):
        raise ConfigError(f'keywords must be a list of strings or one comma-separated string, not {value!r}; '
                          'e.g. keywords = ["reinforcement learning", "-survey"]')
    items = normalize_keywords(value)
    if not items:  # [] or "": the profile's own error would name --keywords, an option of another place
        raise ConfigError(no_keywords)
    parse_profile(items)  # a KeywordError says which keyword and how to write it
    return tuple(items)


def _name(value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(f'name must be a string, not {value!r}; e.g. name = "Ada"')
    return value


def _enabled(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        raise ConfigError(f"enabled = {_toml(value)} is text, not true or false; "
                          f"write enabled = {value.strip().lower()} without quotes")
    raise ConfigError(f"enabled must be true or false, not {_toml(value)}")


def _count(value: Any) -> int | None:
    """``max_items``: a whole number, 0 (no limit) to MAX_ITEMS."""
    if value is None:
        return None
    if isinstance(value, str):
        raise ConfigError(f"max_items = {_toml(value)} is text; write the number without quotes")
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ITEMS:
        raise ConfigError(f"max_items must be a whole number from 0 (no limit) to {MAX_ITEMS}, not {_toml(value)}")
    return value


def _score(value: Any) -> float | None:
    """``min_score``: a finite number, 0 to MAX_SCORE (``nan`` would let every paper through, or none)."""
    if value is None:
        return None
    if isinstance(value, str):
        raise ConfigError(f"min_score = {_toml(value)} is text; write the number without quotes")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_SCORE:
        raise ConfigError(f"min_score must be a number from 0 to {MAX_SCORE:g}, not {_toml(value)}")
    return float(value)


def _toml(value: Any) -> str:
    """A value as it is written in the file (``"false"``, ``nan``, ``true``), cut to stay on one line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:60] + "…"


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


def valid_language(text: str) -> bool:
    """A language name or tag the summaries' prompt may carry: letters, at most four words, 40 characters.

    The subscribers file and the preferences page hold a reader's language to this one rule.
    """
    return len(text.strip()) <= 40 and _LANGUAGE.fullmatch(text.strip()) is not None


def _language(value: Any) -> str | None:
    """A language name or tag, as the summaries' prompt says it: letters, at most four words.

    It goes into the prompt the LLM is given, so nothing else is let through.
    """
    if value is None:
        return None
    if not isinstance(value, str) or not valid_language(value):
        raise ConfigError(f'language must be a language name or tag, e.g. language = "German" or "pt-BR", '
                          f"not {_toml(value)}")
    return value.strip()


def _follows(value: Any, field: str) -> tuple[str, ...]:
    """``authors`` or ``orgs``: a list of names (``digest.ranking.authors`` says how they match)."""
    if value is None:
        return ()
    example = f"{field} = {_FOLLOW_EXAMPLES[field]}"
    if isinstance(value, str):
        raise ConfigError(f"{field} = {_toml(value)} is text; write a list: {field} = [{_toml(value)}]")
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{field} must be a list of names, e.g. {example}, not {_toml(value)}")
    if len(value) > MAX_FOLLOWS:
        raise ConfigError(f"{field} has {len(value)} names; at most {MAX_FOLLOWS}")
    for item in value:
        problem = follow_problem(item, field)
        if problem is not None:
            raise ConfigError(f"{field}: {problem}; e.g. {example}")
    return tuple(dict.fromkeys(" ".join(item.split()) for item in value))


def _library(table: dict[str, Any], folder: Path | None) -> Path | None:
    value = table.get("library")
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"library must be the path of a file, not {value!r}")
    path = expand_home(Path(value.strip()))
    return path if path.is_absolute() or folder is None else folder / path


def roster_from_settings(settings: Settings, path: Path | None = None) -> list[Subscriber]:
    """The operator's roster: the file if one is named, else the single reader of DIGEST_TO + DIGEST_KEYWORDS;
    none when neither is set (the readers may all be web sign-ups: ``Digest.require_readers`` says whether
    there is anybody)."""
    if path:
        return load_subscribers(path, named_by="--subscribers")
    if settings.subscribers:
        return load_subscribers(settings.subscribers)
    if not normalize_keywords(settings.keywords):  # empty, or commas alone
        return []
    parse_profile(settings.keywords)
    return [single_reader(settings, settings.keywords)]


def names_roster(settings: Settings) -> bool:
    """Whether the settings name a roster (a subscribers file, or keywords for DIGEST_TO's reader), readable or not."""
    return bool(settings.subscribers) or bool(normalize_keywords(settings.keywords))


def subscribers_from_settings(settings: Settings, path: Path | None = None) -> list[Subscriber]:
    """The roster (``roster_from_settings``); none is a ``ConfigError`` saying how to name readers."""
    readers = roster_from_settings(settings, path)
    if not readers:
        raise ConfigError(no_readers(settings))
    return readers


def to_without_keywords(settings: Settings, roster: Sequence[Subscriber]) -> str | None:
    """DIGEST_TO set with no DIGEST_KEYWORDS and no other roster: that reader gets nothing, and the digests go to
    the web sign-ups alone. A half-made setting, said (``digest check``, the daemon's start, ``digest send``),
    never a refusal: it must not stop the sign-ups' digests."""
    if roster or not settings.to or names_roster(settings):
        return None
    return (f"DIGEST_TO is set but DIGEST_KEYWORDS is not: {settings.to} gets no digest (only the readers who "
            "signed up on the web do); set DIGEST_KEYWORDS to send to them too, or leave DIGEST_TO empty")


def no_readers(settings: Settings) -> str:
    """Why nobody gets a digest, and the ways to add readers (with sign-up on: nobody has confirmed one yet)."""
    if settings.signup:
        return ("no readers yet: nobody has confirmed a sign-up at /subscribe (DIGEST_SIGNUP=true); "
                "or set DIGEST_KEYWORDS (and DIGEST_TO) for one reader, or DIGEST_SUBSCRIBERS for a subscribers file")
    return ("no readers: set DIGEST_KEYWORDS (and DIGEST_TO) for one reader, DIGEST_SUBSCRIBERS for a subscribers "
            "file, or DIGEST_SIGNUP=true to let readers sign up at /subscribe (digest serve, or digest run --serve)")


def single_reader(settings: Settings, keywords: str) -> Subscriber:
    """The reader of ``DIGEST_TO`` (validated by the settings) with these keywords."""
    to = parse_mailbox(settings.to) if settings.to else None
    return Subscriber(email=to.address if to else "", keywords=tuple(normalize_keywords(keywords)),
                      name=to.name if to else "", library=settings.library)
