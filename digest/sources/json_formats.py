"""Hugging Face Daily Papers API JSON, and our own JSON Lines of papers.

Items are untrusted and checked by type here, at the edge. An item whose title or
abstract (or, from the HF API, paper id) is missing or not text is skipped with a
warning; a JSON Lines id may also be a whole number. An optional field of
the wrong type (a number for ``url``, ``upvotes: 1e999``, a list for an author's
name, a date that is not one) is dropped with one warning naming the fields, and
the paper is kept: a bad upvote count is no reason to lose the paper.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from ..model import HF_SUMMARY_BY, Paper, PaperExtra, make_paper
from .distinct import Cap

Parsed = tuple[list[Paper], list[str]]
MAX_COUNT = 10**9  # more upvotes or authors than this is not a count
MAX_INT_DIGITS = 30  # longer integers (Python refuses > 4,300 digits) become floats, then fail the type check


MAX_WARNINGS = 50


class ShapeError(ValueError):
    """The JSON parsed but is not a listing."""


class Warnings:
    """Warnings about broken items: the first ``MAX_WARNINGS``, then only a count, so a
    file of a million broken lines costs no memory and a screenful of output."""

    def __init__(self) -> None:
        self.shown: list[str] = []
        self.more = 0

    def add(self, text: str) -> None:
        if len(self.shown) < MAX_WARNINGS:
            self.shown.append(text)
        else:
            self.more += 1

    def lines(self) -> list[str]:
        return [*self.shown, *([f"... and {self.more} more like these"] if self.more else [])]


_MORE = re.compile(r"\.\.\. and (\d+) more like these")


def counted(lines: list[str]) -> int:
    """How many warnings ``lines`` (from ``Warnings.lines``) stand for: its last line may count 450 more."""
    return sum(int(more.group(1)) if (more := _MORE.fullmatch(line)) else 1 for line in lines)


def loads(text: str) -> Any:
    """``json.loads`` that turns absurdly long integers into (rejected) floats instead of raising."""
    return json.loads(text, parse_int=_parse_int)


def _parse_int(digits: str) -> int | float:
    return int(digits) if len(digits) <= MAX_INT_DIGITS else float(digits)


def parse_json_document(data: Any, max_papers: int | None = None) -> Parsed:
    """A whole JSON document: an HF API array, or an array of plain papers; the items after
    ``max_papers`` distinct papers are only counted."""
    papers: list[Paper] = []
    warnings = Warnings()
    cap = Cap(max_papers)
    items = _items(data)
    for number, item in enumerate(items, 1):
        if cap.full:
            cap.unread = len(items) - number + 1
            break
        _convert(item, f"item {number}", papers, warnings, cap)
    return papers, [*warnings.lines(), *cap.warnings("items")]


def daily_papers_day(data: Any, today: date | None = None) -> date | None:
    """The Daily Papers day an HF API response is for: the newest of its entries' own dates (with ``today``,
    none after tomorrow: one entry dated 9999-12-31 dated the whole digest "Dec 9999").

    An entry's day is ``paper.submittedOnDailyAt``; older responses have none, and
    there the item's own ``publishedAt`` is the entry's (today it is arXiv's date, so
    it is read only as the fallback). ``paper.publishedAt`` is always arXiv's, a day
    or more earlier: the digest is not dated by it. None for a list of plain papers.
    """
    try:
        items = _items(data)
    except ShapeError:
        return None
    latest = date.max if today is None else today + timedelta(days=1)  # tomorrow: a time zone ahead of ours
    days = [day for item in items if (day := _entry_day(item)) and day <= latest]
    return max(days, default=None)


def _entry_day(item: Any) -> date | None:
    if not isinstance(item, dict) or not isinstance(item.get("paper"), dict):
        return None
    value = item["paper"].get("submittedOnDailyAt") or item.get("publishedAt")
    return _date(value) if isinstance(value, str) else None


def _items(data: Any) -> list[Any]:
    """The items of a listing document: an array, ``{"papers": [...]}``, or one paper."""
    if isinstance(data, dict) and isinstance(data.get("papers"), list):
        return list(data["papers"])
    if isinstance(data, dict) and "title" in data:
        return [data]
    if not isinstance(data, list):
        raise ShapeError(f"expected a JSON array of papers, got a JSON {_kind(data)}")
    return data


def parse_jsonl(lines: Iterable[str], max_papers: int | None = None, warnings: Warnings | None = None) -> Parsed:
    """Our JSON Lines, one line at a time; past ``max_papers`` distinct papers, lines are only counted."""
    papers: list[Paper] = []
    warnings = warnings or Warnings()
    cap = Cap(max_papers)
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if cap.full:
            cap.unread += 1
            continue
        try:
            item = loads(line)
        except (ValueError, RecursionError) as err:
            warnings.add(f"line {number} skipped: {_reason(err)}")
            continue
        _convert(item, f"line {number}", papers, warnings, cap)
    return papers, [*warnings.lines(), *cap.warnings("lines")]


def _convert(item: Any, label: str, papers: list[Paper], warnings: Warnings, cap: Cap) -> None:
    fields = Fields()
    try:
        papers.append(_paper_from_any(item, fields))
    except (ValueError, KeyError) as err:
        warnings.add(f"{label} skipped: {_reason(err)}")
        return
    cap.add(papers[-1])
    if fields.dropped:
        warnings.add(f"{label}: ignored {', '.join(fields.dropped)}")


def _paper_from_any(item: Any, fields: "Fields") -> Paper:
    if isinstance(item, dict) and isinstance(item.get("paper"), dict):
        return paper_from_hf(item, fields)
    return paper_from_json(item, fields)


def paper_from_hf(item: dict[str, Any], fields: "Fields") -> Paper:
    """One item of ``GET /api/daily_papers``."""
    paper = item["paper"]
    title = _required(item.get("title") or paper.get("title"), "title")
    abstract = _required(paper.get("summary") or item.get("summary"), "summary")
    _required(paper.get("id"), "id")
    authors = fields.names(paper.get("authors"), "authors")
    extra: PaperExtra = {
        "published": fields.day(paper.get("publishedAt") or item.get("publishedAt"), "publishedAt"),
        "upvotes": fields.count(paper.get("upvotes"), "upvotes"),
        "url": f"https://huggingface.co/papers/{paper['id']}",
        "github": fields.text(paper.get("githubRepo"), "githubRepo"),
        "organization": fields.organization(item.get("organization") or paper.get("organization")),
        "keywords": fields.texts(paper.get("ai_keywords"), "ai_keywords"),
        "hf_users": hf_users(paper.get("authors")),
        **_hf_glance(item, paper, fields),
    }
    return make_paper(title, abstract, id=paper["id"], authors=authors, **extra)


def hf_users(authors: Any) -> tuple[str, ...]:
    """The Hugging Face user names of the authors who claimed the paper: ``{"user": {"user": "ylecun"}}``.

    An author without an account has no ``user``; one whose ``user`` is not what it
    should be is left out quietly (the author's name, read by ``Fields.names``, stays).
    """
    if not isinstance(authors, list):
        return ()
    found = []
    for author in authors:
        user = author.get("user") if isinstance(author, dict) else None
        handle = (user.get("user") or user.get("name")) if isinstance(user, dict) else None
        if isinstance(handle, str) and handle.strip():
            found.append(handle.strip())
    return tuple(found)


def _hf_glance(item: dict[str, Any], paper: dict[str, Any], fields: "Fields") -> PaperExtra:
    """What the API adds to the abstract: its own summary (``ai_summary``, labelled as
    Hugging Face's: a model of theirs wrote it), the social thumbnail and the repository's stars."""
    summary = fields.text(paper.get("ai_summary"), "ai_summary")
    stars = fields.count(paper.get("githubStars"), "githubStars")
    return {
        "summary": summary, "summary_by": HF_SUMMARY_BY if summary else None,
        "thumbnail": fields.text(item.get("thumbnail") or paper.get("thumbnail"), "thumbnail"),
        "stars": stars if paper.get("githubRepo") else None,
    }


def paper_from_json(obj: Any, fields: "Fields") -> Paper:
    """One object of our JSON Lines format (what ``digest papers --json`` prints)."""
    if not isinstance(obj, dict):
        raise ShapeError(f"expected an object, got a JSON {_kind(obj)}")
    title = _required(obj.get("title"), "title")
    abstract = _required(obj.get("abstract", obj.get("summary")), "abstract")
    return make_paper(
        title,
        abstract,
        id=fields.ident(obj.get("id")),
        authors=fields.texts(obj.get("authors"), "authors"),
        authors_count=fields.count(obj.get("authors_count"), "authors_count"),
        published=fields.day(obj.get("published"), "published"),
        upvotes=fields.count(obj.get("upvotes"), "upvotes"),
        url=fields.text(obj.get("url"), "url"),
        github=fields.text(obj.get("github"), "github"),
        organization=fields.text(obj.get("organization"), "organization"),
        keywords=fields.texts(obj.get("keywords"), "keywords"),
        # "summary" is the abstract in a line without one (older files): then it is not also a summary
        summary=fields.text(obj.get("summary"), "summary") if "abstract" in obj else None,
        summary_by=fields.text(obj.get("summary_by"), "summary_by"),
        thumbnail=fields.text(obj.get("thumbnail"), "thumbnail"),
        stars=fields.count(obj.get("stars"), "stars"),
        venue=fields.text(obj.get("venue"), "venue"),
        hf_users=fields.texts(obj.get("hf_users"), "hf_users"),
    )


class Fields:
    """Typed reads of an item's optional fields; what has the wrong type is dropped and named."""

    def __init__(self) -> None:
        self.dropped: list[str] = []

    def _drop(self, name: str, value: Any, expected: str) -> None:
        if isinstance(value, list) and expected.startswith("a list of "):
            why = f"entries that are not {expected.removeprefix('a list of ')}"
        else:
            why = f"a JSON {_kind(value)}, not {expected}"
        if not any(entry.startswith(f"{name} ") for entry in self.dropped):
            self.dropped.append(f"{name} ({why})")

    def text(self, value: Any, name: str) -> str | None:
        if value is None or value == "":
            return None
        if isinstance(value, str):
            return value
        self._drop(name, value, "text")
        return None

    def ident(self, value: Any) -> str | None:
        """An id may be a whole number; anything else but text is dropped (the title gives one)."""
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return self.text(value, "id")

    def count(self, value: Any, name: str) -> int | None:
        if value is None or value == "":
            return None
        if isinstance(value, str) and value.strip().isdecimal() and len(value.strip()) <= 10:
            value = int(value)
        elif isinstance(value, float) and value.is_integer():  # 12.0; not inf, nan or 1.5
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT:
            return value
        self._drop(name, value, "a count")
        return None

    def day(self, value: Any, name: str) -> date | None:
        if value is None or value == "":
            return None
        if isinstance(value, str):
            parsed = _date(value)
            if parsed is not None:
                return parsed
        self._drop(name, value, "a date")
        return None

    def texts(self, value: Any, name: str) -> tuple[str, ...]:
        """A list of strings; entries that are not text are dropped."""
        if value is None:
            return ()
        entries = value if isinstance(value, list) else []
        good = tuple(v for v in entries if isinstance(v, str))
        if len(good) != len(entries) or not isinstance(value, list):
            self._drop(name, value, "a list of text")
        return good

    def names(self, value: Any, name: str) -> tuple[str, ...]:
        """HF authors: ``[{"name": "Ada Lovelace", ...}, ...]``."""
        if value is None:
            return ()
        entries = value if isinstance(value, list) else []
        good = tuple(a["name"] for a in entries if isinstance(a, dict) and isinstance(a.get("name"), str))
        if len(good) != len(entries) or not isinstance(value, list):
            self._drop(name, value, "a list of names")
        return good

    def organization(self, value: Any) -> str | None:
        """HF gives ``{"fullname": ..., "name": ...}``; plain text is taken as it is."""
        if isinstance(value, dict):
            return self.text(value.get("fullname") or value.get("name"), "organization")
        return self.text(value or None, "organization")


def _required(value: Any, name: str) -> str:
    """``value`` when it is non-blank text; ShapeError naming the field otherwise."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ShapeError(f"missing {name}")
    if not isinstance(value, str):
        raise ShapeError(f"{name} is a JSON {_kind(value)}, not text")
    return value


def _date(text: str) -> date | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        pass
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def _kind(data: Any) -> str:
    if isinstance(data, float) and not math.isfinite(data):
        return "number out of range"
    if isinstance(data, (int, float)) and not isinstance(data, bool):
        return "number" if abs(data) <= MAX_COUNT else "number out of range"
    names = {dict: "object", list: "array", str: "string", bool: "boolean"}
    return "null" if data is None else names.get(type(data), type(data).__name__)


def _reason(err: BaseException) -> str:
    if isinstance(err, KeyError):
        return f"missing {err.args[0]}"
    if isinstance(err, RecursionError):
        return "JSON nested too deeply"
    if isinstance(err, json.JSONDecodeError):
        return f"not JSON ({err.msg})"
    return str(err)
