"""Turn the bytes of a listing into papers, choosing the format by content."""

from __future__ import annotations

import json
from datetime import date

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from ..errors import EmptyListingError, ListingError
from ..model import Listing
from .hf_text import looks_like_hf_text, parse_hf_text
from .json_formats import ShapeError, parse_json_document, parse_jsonl
from .xml_formats import ATOM, FeedError, parse_atom, parse_rss

FORMATS = ("hf-text", "hf-json", "jsonl", "arxiv-atom", "arxiv-rss")


def parse_listing(
    data: bytes,
    source: str,
    *,
    today: date | None = None,
    announce_types: frozenset[str] | None = None,
) -> Listing:
    """Parse ``data``; raise ListingError naming ``source`` when it is not a listing."""
    text = _decode(data, source)
    stripped = text.lstrip()
    if stripped.startswith("<"):
        papers, warnings = _parse_xml(stripped, source, announce_types)
    elif stripped.startswith(("[", "{")):
        papers, warnings = _parse_json(stripped, source)
    else:
        papers, warnings = _parse_text(text, source, today)
    if not papers:
        detail = f" ({len(warnings)} broken items: {warnings[0]})" if warnings else ""
        raise EmptyListingError(source, f"no papers listed{detail}")
    return Listing(source=source, papers=papers, warnings=warnings)


def _decode(data: bytes, source: str) -> str:
    if not data.strip():
        raise ListingError(source, "the file is empty; expected a paper listing")
    if b"\x00" in data[:4096]:
        raise ListingError(source, "this is a binary file, not a paper listing")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ListingError(
            source, f"not valid UTF-8 (bad byte at offset {err.start}); save the listing as UTF-8"
        ) from err


def _parse_xml(
    text: str, source: str, announce_types: frozenset[str] | None
) -> tuple[list, list[str]]:
    if text[:200].lower().startswith(("<!doctype html", "<html")):
        raise ListingError(source, "this is an HTML page, not a listing (an error page?)")
    try:
        root = SafeET.fromstring(text, forbid_dtd=True)
    except DefusedXmlException as err:
        raise ListingError(source, f"refused unsafe XML ({type(err).__name__})") from err
    except SafeET.ParseError as err:
        raise ListingError(source, f"malformed XML: {err}") from err
    try:
        if root.tag == f"{ATOM}feed":
            return parse_atom(root)
        if root.tag == "rss":
            return parse_rss(root, announce_types)
    except FeedError as err:
        raise ListingError(source, str(err)) from err
    raise ListingError(source, f"unknown XML document <{root.tag}>; expected arXiv Atom or RSS")


def _parse_json(text: str, source: str) -> tuple[list, list[str]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        if text.startswith("{") and "\n" in text.strip():
            return parse_jsonl(text)
        truncated = err.msg.startswith("Unterminated") or err.pos >= len(text.rstrip()) - 1
        problem = "truncated JSON" if truncated else "malformed JSON"
        raise ListingError(source, f"{problem} at line {err.lineno} column {err.colno}") from err
    try:
        return parse_json_document(data)
    except ShapeError as err:
        raise ListingError(source, f"not a paper listing: {err}") from err


def _parse_text(text: str, source: str, today: date | None) -> tuple[list, list[str]]:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not looks_like_hf_text(lines):
        raise ListingError(
            source,
            "unknown format; expected a saved Hugging Face Daily Papers page, "
            "HF API JSON, JSON Lines, or arXiv Atom/RSS",
        )
    return parse_hf_text(text, today=today)
