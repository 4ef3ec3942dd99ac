"""Turn the bytes of a listing into papers, choosing the format by content.

Text is read as UTF-8, or as UTF-16/UTF-32 when a byte-order mark (or the zero
bytes of BOM-less UTF-16) says so. XML is handed to the XML parser as bytes, so
it decodes what its declaration says (ISO-8859-1, windows-1252, ...).

A response from the web may also name its charset in its Content-Type. It counts
only where the document says nothing itself: XML is read by a byte-order mark, then
by its declaration's encoding, then by that charset (XML 1.0, appendix F); JSON and
saved pages are read as UTF-8 when they are valid UTF-8 (JSON is UTF-8, RFC 8259, and
``application/json`` defines no charset), otherwise in the charset.
"""

from __future__ import annotations

import codecs
import html.entities
import re
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, TypeVar
from xml.etree.ElementTree import Element, TreeBuilder

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException, DTDForbidden

from ..errors import EmptyListingError, ListingError, UnreadableItemsError
from ..model import Listing, Paper
from ..text import bom_encoding
from .hf_text import looks_like_hf_text, page_day, parse_hf_text, text_lines
from .json_formats import ShapeError, counted, daily_papers_day, loads, parse_json_document, parse_jsonl
from .xml_formats import ATOM, RDF, RSS1, FeedError, parse_atom, parse_rss

if TYPE_CHECKING:  # httpx is loaded only by a live source
    from .http import Fetched, Fetcher

T = TypeVar("T")

Parsed = tuple[list[Paper], list[str], date | None]  # papers, warnings, the day the listing names
FORMATS = ("hf-text", "hf-json", "jsonl", "arxiv-atom", "arxiv-rss")
_UTF8_LABEL = re.compile(r"utf-?8|(us-)?ascii", re.I)
_XML_DECLARED = re.compile(rb"\s*<\?xml\s[^>]*\bencoding\s*=")  # an XML declaration naming its encoding
# HTML's named entities by name (``eacute``), as ElementTree looks up an undeclared ``&eacute;``
_HTML_ENTITIES = {name[:-1]: text for name, text in html.entities.html5.items() if name.endswith(";")}


def parse_listing(
    data: bytes,
    source: str,
    *,
    today: date | None = None,
    announce_types: frozenset[str] | None = None,
    max_papers: int | None = None,
    charset: str | None = None,
) -> Listing:
    """Parse ``data``; raise ListingError naming ``source`` when it is not a listing. Past ``max_papers``
    distinct papers, a JSON array's items and a feed's entries are only counted (``distinct.Cap``).
    ``charset``: the one a response's Content-Type names, for a document that does not say its own."""
    if not data.strip():
        raise ListingError(source, "the file is empty; expected a paper listing")
    data = _in_charset(data, charset, source) if charset else data
    encoding = sniff_encoding(data)
    if looks_like_xml(data, encoding):
        papers, warnings, day = _parse_xml(data, source, announce_types, max_papers)
    else:
        text = _decode(data, encoding, source)
        stripped = text.lstrip()
        if stripped.startswith(("[", "{")):
            papers, warnings, day = _parse_json(stripped, source, today, max_papers)
        else:
            papers, warnings, day = _parse_text(text, source, today)
    if not papers:
        raise no_papers(source, warnings)
    return Listing(source=source, papers=papers, warnings=warnings, day=day)


def no_papers(source: str, warnings: list[str]) -> ListingError:
    """What a listing without papers is: an empty day (``EmptyListingError``: a weekend, not an error), or, when
    it held items and none could be read (an API that changed its format), a broken listing: an error that the
    send reports and the daemon retries, never a quiet "no papers listed" that looks like a holiday."""
    if not warnings:
        return EmptyListingError(source, "no papers listed")
    count = counted(warnings)  # every broken item, also those only counted past the warnings kept
    items = "its item" if count == 1 else f"its {count} items"
    return UnreadableItemsError(source, f"no paper could be read from {items} ({warnings[0]}); "
                                        "check that the source is a paper listing")


def sniff_encoding(data: bytes) -> str:
    """The text encoding of a listing: a byte-order mark, BOM-less UTF-16, or UTF-8."""
    marked = bom_encoding(data)
    if marked:
        return marked
    head = data[: min(64, len(data) // 2 * 2)]
    if len(head) >= 2:
        if not any(head[1::2]) and all(head[0::2]):
            return "utf-16-le"
        if not any(head[0::2]) and all(head[1::2]):
            return "utf-16-be"
    return "utf-8"


def _in_charset(data: bytes, charset: str, source: str) -> bytes:
    """``data`` as UTF-8, read in the transport's ``charset`` where the document does not say how to read it
    (a byte-order mark; for XML, an encoding declaration; otherwise, being valid UTF-8). US-ASCII, a label
    servers give UTF-8 by default (``text/xml``'s, once), is read as UTF-8, of which it is a part."""
    if _UTF8_LABEL.fullmatch(charset) or sniff_encoding(data) != "utf-8":
        return data
    if _XML_DECLARED.match(data, 0, 1024) or (not looks_like_xml(data, "utf-8") and _is_utf8(data)):
        return data
    try:
        return data.decode(charset).encode("utf-8")
    except LookupError:  # no such codec, or one that is no text encoding ("base64")
        raise ListingError(source, f"the server names the charset {charset[:40]!r} in its Content-Type, which "
                           "digest does not know; ask the site to serve the listing as UTF-8") from None
    except UnicodeDecodeError as err:
        raise ListingError(source, f"not valid {charset[:40]} text, as the server's Content-Type says (bad byte "
                           f"at offset {err.start})") from err


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def looks_like_xml(data: bytes, encoding: str) -> bool:
    return _head(data, encoding).lstrip().startswith("<")


def _head(data: bytes, encoding: str) -> str:
    return codecs.getincrementaldecoder(encoding)("replace").decode(data[:1024])


def _decode(data: bytes, encoding: str, source: str) -> str:
    if encoding == "utf-8" and b"\x00" in data[:4096]:
        raise ListingError(source, "this is a binary file, not a paper listing")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as err:
        name = "UTF-8" if encoding.startswith("utf-8") else encoding.upper().replace("-LE", "").replace("-BE", "")
        raise ListingError(
            source, f"not valid {name} (bad byte at offset {err.start}); save the listing as UTF-8"
        ) from err


def _parse_xml(data: bytes, source: str, announce_types: frozenset[str] | None, max_papers: int | None) -> Parsed:
    if _head(data, sniff_encoding(data))[:200].lstrip().lower().startswith(("<!doctype html", "<html")):
        raise ListingError(source, "this is an HTML page, not a listing (an error page?)")
    root = _xml_root(data, source)
    try:
        if root.tag == f"{ATOM}feed":
            return (*parse_atom(root, max_papers), None)
        if root.tag == "rss":
            return (*parse_rss(root, announce_types, max_papers=max_papers), None)
        if root.tag == f"{RDF}RDF":
            return (*parse_rss(root, announce_types, ns=RSS1, max_papers=max_papers), None)
    except FeedError as err:
        raise ListingError(source, str(err)) from err
    raise ListingError(source, f"unknown XML document <{str(root.tag)[:100]}>; expected arXiv Atom, RSS or RSS 1.0")


class _SafeXMLParser(SafeET.DefusedXMLParser):  # type: ignore[misc]  # defusedxml has no type hints
    """defusedxml's parser (no entity declarations, no external references), which also takes a DOCTYPE, as
    RSS 0.91 feeds carry one (``<!DOCTYPE rss PUBLIC "..." "http://my.netscape.com/...dtd">``): the DTD it
    names is never fetched. A DOCTYPE with declarations of its own (``[...]``) is refused whole.

    That DTD declares HTML's named entities, and such feeds write ``&eacute;``, ``&nbsp;``, ``&mdash;``;
    so do others without any DOCTYPE. The parser reads as if a DTD it cannot see were there (expat's
    foreign DTD, never loaded), so an entity nothing declares is passed to ElementTree's table of
    entities, here HTML's: a fixed table of characters, nothing the document can add to or expand."""

    def __init__(self) -> None:
        super().__init__(target=TreeBuilder(), forbid_dtd=False, forbid_entities=True, forbid_external=True)
        self.parser.StartDoctypeDeclHandler = self._no_internal_subset
        self.parser.UseForeignDTD(True)
        self.entity = dict(_HTML_ENTITIES)  # ElementTree's: what an undeclared &name; stands for

    def _no_internal_subset(self, name: str, system_id: str | None, public_id: str | None,
                            has_internal_subset: int) -> None:
        if has_internal_subset:
            raise DTDForbidden(name, system_id, public_id)


def _xml_root(data: bytes, source: str) -> Element:
    parser = _SafeXMLParser()
    try:
        parser.feed(data)
        return parser.close()
    except DefusedXmlException as err:
        raise ListingError(source, f"refused unsafe XML ({type(err).__name__}): digest never reads declarations "
                           "in a DOCTYPE ([...]) or entities that point elsewhere; ask the site for the feed "
                           "without them, or remove them from the file") from err
    except SafeET.ParseError as err:
        raise ListingError(source, f"malformed XML: {err}") from err
    except (ValueError, LookupError) as err:  # an encoding Python does not know, for one
        raise ListingError(source, f"malformed XML: {err}") from err


def _parse_json(text: str, source: str, today: date | None = None, max_papers: int | None = None) -> Parsed:
    try:
        data = loads(text)
    except RecursionError as err:
        raise ListingError(source, "JSON nested too deeply to be a listing") from err
    except ValueError as err:
        if text.startswith("{") and "\n" in text.strip():
            lines = text.split("\n")  # not splitlines(): U+2028 may sit inside a string
            return (*parse_jsonl(lines, max_papers), None)
        raise ListingError(source, _json_problem(err, text)) from err
    try:
        return (*parse_json_document(data, max_papers), daily_papers_day(data, today))
    except ShapeError as err:
        raise ListingError(source, f"not a paper listing: {err}") from err


def _json_problem(err: ValueError, text: str) -> str:
    msg, pos = getattr(err, "msg", str(err)), getattr(err, "pos", 0)
    truncated = msg.startswith("Unterminated") or pos >= len(text.rstrip()) - 1
    problem = "truncated JSON" if truncated else "malformed JSON"
    if hasattr(err, "lineno"):
        return f"{problem} at line {err.lineno} column {err.colno}"  # type: ignore[attr-defined]
    return f"{problem}: {msg}"


def _parse_text(text: str, source: str, today: date | None) -> Parsed:
    lines = [line.strip() for line in text_lines(text) if line.strip()]
    if not looks_like_hf_text(lines):
        raise ListingError(
            source,
            "unknown format; expected a saved Hugging Face Daily Papers page, "
            "HF API JSON, JSON Lines, or arXiv Atom/RSS",
        )
    return (*parse_hf_text(text, today=today), page_day(lines, today=today))


def parsed(http: Fetcher, fetched: Fetched, parse: Callable[[Fetched], T]) -> tuple[Fetched, T]:
    """(what was read, ``parse`` of it). A body that is not a listing (a 200 maintenance page, a
    body cut short) is dropped from the cache so the next run asks again, and a cached one that no
    longer reads is fetched again at once; a valid empty listing stays."""
    try:
        return fetched, parse(fetched)
    except EmptyListingError:
        raise
    except ListingError:
        http.forget(fetched.url)
        if not fetched.from_cache or http.offline:
            raise
    return parsed(http, http.get(fetched.url), parse)  # once: with the copy forgotten, this one is fresh
