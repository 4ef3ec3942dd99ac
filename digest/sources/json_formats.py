"""Hugging Face Daily Papers API JSON, and our own JSON Lines of papers."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from ..model import Paper, make_paper

Parsed = tuple[list[Paper], list[str]]


class ShapeError(ValueError):
    """The JSON parsed but is not a listing."""


def parse_json_document(data: Any) -> Parsed:
    """A whole JSON document: an HF API array, or an array of plain papers."""
    if isinstance(data, dict) and isinstance(data.get("papers"), list):
        data = data["papers"]
    elif isinstance(data, dict) and "title" in data:
        data = [data]
    if not isinstance(data, list):
        raise ShapeError(f"expected a JSON array of papers, got a JSON {_kind(data)}")
    return _parse_items(data, _paper_from_any)


def parse_jsonl(text: str) -> Parsed:
    papers: list[Paper] = []
    warnings: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            papers.append(paper_from_json(json.loads(line)))
        except (ValueError, TypeError, KeyError) as err:
            warnings.append(f"line {number} skipped: {_reason(err)}")
    return papers, warnings


def _parse_items(items: list[Any], convert: Any) -> Parsed:
    papers: list[Paper] = []
    warnings: list[str] = []
    for number, item in enumerate(items, 1):
        try:
            papers.append(convert(item))
        except (ValueError, TypeError, KeyError) as err:
            warnings.append(f"item {number} skipped: {_reason(err)}")
    return papers, warnings


def _paper_from_any(item: Any) -> Paper:
    if isinstance(item, dict) and isinstance(item.get("paper"), dict):
        return paper_from_hf(item)
    return paper_from_json(item)


def paper_from_hf(item: dict[str, Any]) -> Paper:
    """One item of ``GET /api/daily_papers``."""
    paper = item["paper"]
    title = item.get("title") or paper.get("title")
    abstract = paper.get("summary") or item.get("summary")
    _require_text(title=title, summary=abstract, id=paper.get("id"))
    org = item.get("organization") or paper.get("organization") or {}
    return make_paper(
        title,
        abstract,
        id=str(paper["id"]),
        authors=[a.get("name", "") for a in paper.get("authors") or [] if isinstance(a, dict)],
        published=_date(paper.get("publishedAt") or item.get("publishedAt")),
        upvotes=_int(paper.get("upvotes")),
        url=f"https://huggingface.co/papers/{paper['id']}",
        github=paper.get("githubRepo") or None,
        organization=(org.get("fullname") or org.get("name")) if isinstance(org, dict) else None,
        keywords=tuple(str(k) for k in paper.get("ai_keywords") or []),
    )


def paper_from_json(obj: Any) -> Paper:
    """One object of our JSON Lines format (what ``digest papers --json`` prints)."""
    if not isinstance(obj, dict):
        raise ShapeError(f"expected an object, got a JSON {_kind(obj)}")
    abstract = obj.get("abstract", obj.get("summary"))
    _require_text(title=obj.get("title"), abstract=abstract)
    return make_paper(
        obj["title"],
        abstract,
        id=str(obj["id"]) if obj.get("id") else None,
        authors=[str(a) for a in obj.get("authors") or []],
        authors_count=_int(obj.get("authors_count")),
        published=_date(obj.get("published")),
        upvotes=_int(obj.get("upvotes")),
        url=obj.get("url") or None,
        github=obj.get("github") or None,
        organization=obj.get("organization") or None,
        keywords=tuple(str(k) for k in obj.get("keywords") or []),
    )


def _require_text(**fields: Any) -> None:
    for name, value in fields.items():
        if not isinstance(value, str) or not value.strip():
            raise ShapeError(f"missing {name}")


def _date(value: Any) -> date | None:
    if not value:
        return None
    text = str(value).replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(text).date()
    except ValueError:
        return date.fromisoformat(text[:10])


def _int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    return int(value)


def _kind(data: Any) -> str:
    return {dict: "object", list: "array", str: "string"}.get(type(data), type(data).__name__)


def _reason(err: Exception) -> str:
    if isinstance(err, KeyError):
        return f"missing {err.args[0]}"
    return str(err)
