"""arXiv API (Atom), arXiv RSS and RSS 1.0 (RDF, as journals' feeds are), parsed with defusedxml
(no entity expansion).

A journal's RSS description (or ``content:encoded``) is HTML, as RSS has it, and so is an Atom summary or
content of type ``html`` (or ``xhtml``, and then its title too): it is read as text (``digest.markup.html_to_text``: ``<p>``, ``<i>``, ``<sub>``,
``<img>`` and entities), less the line Nature's feeds begin with ("Nature, Published online: 03 December
2025; doi:..."). arXiv's abstracts are plain text ("p < 0.05" is what its authors wrote) and stay as they are:
its RSS items, which carry an ``arxiv:announce_type`` or an arXiv guid, and Atom summaries of type ``text``.
"""

from __future__ import annotations

import re
from html import escape
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from xml.etree.ElementTree import Element

from ..markup import html_to_text
from ..model import MissingText, Paper, arxiv_id, make_paper
from .distinct import Cap
from .json_formats import Warnings
from .venue import venue_from_comment

ATOM = "{http://www.w3.org/2005/Atom}"
ARXIV = "{http://arxiv.org/schemas/atom}"
DC = "{http://purl.org/dc/elements/1.1/}"
RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
RSS1 = "{http://purl.org/rss/1.0/}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"

Parsed = tuple[list[Paper], list[str]]
_COMMENTS = re.compile(r"^\s*Comments:\s*(.+)$", re.M)
# what a Nature feed's description begins with: "Nature, Published online: 03 December 2025; doi:10.1038/..."
_PUBLISHED_LINE = re.compile(r"\s*[^;:]{1,100}, Published online: [^;]{1,40};(?:\s*doi:\s*\S+)?\s*")


class FeedError(ValueError):
    """The feed itself reports an error (arXiv answers errors as an Atom entry)."""


def parse_atom(root: Element, max_papers: int | None = None) -> Parsed:
    """arXiv's API; the entries after ``max_papers`` distinct papers are only counted."""
    papers: list[Paper] = []
    warnings = Warnings()
    cap = Cap(max_papers)
    for entry in root.iter(f"{ATOM}entry"):
        if cap.full:
            cap.unread += 1
            continue
        entry_id = _text(entry, f"{ATOM}id")
        if "/api/errors" in entry_id:
            raise FeedError(f"arXiv API error: {_text(entry, f'{ATOM}summary')}")
        title = _xhtml_title(entry) if _typed(entry, "title", "xhtml") else _text(entry, f"{ATOM}title")
        summary = _atom_text(entry, "summary") or _atom_text(entry, "content")
        if not title or not summary:
            warnings.add(f"entry {entry_id or '?'} skipped: missing title or summary")
            continue
        try:
            papers.append(make_paper(
                title,
                summary,
                id=entry_id,
                authors=[_text(a, f"{ATOM}name") for a in entry.iter(f"{ATOM}author")],
                published=_iso_date(_text(entry, f"{ATOM}published")),
                url=f"https://arxiv.org/abs/{arxiv_id(entry_id)}" if arxiv_id(entry_id) else None,
                venue=venue_from_comment(_text(entry, f"{ARXIV}comment")),
                doi=_text(entry, f"{ARXIV}doi") or None,
            ))
        except MissingText as err:
            warnings.add(f"entry {entry_id or '?'} skipped: {err}")
            continue
        cap.add(papers[-1])
    return papers, [*warnings.lines(), *cap.warnings("entries")]


def parse_rss(root: Element, announce_types: frozenset[str] | None = None, ns: str = "",
              max_papers: int | None = None) -> Parsed:
    """arXiv RSS; ``announce_types`` keeps e.g. only ``new`` and ``cross`` items. ``ns``: RSS 1.0's
    namespace (``RSS1``) for an RDF feed, whose items carry ``rdf:about`` and ``dc:date`` instead.
    The items after ``max_papers`` distinct papers are only counted."""
    papers: list[Paper] = []
    warnings = Warnings()
    cap = Cap(max_papers)
    for item in root.iter(f"{ns}item"):
        kind = _text(item, f"{ARXIV}announce_type") or "new"
        if announce_types is not None and kind not in announce_types:
            continue
        if cap.full:
            cap.unread += 1
            continue
        title = _text(item, f"{ns}title")
        ident = _text(item, f"{ns}guid") or _text(item, f"{ns}link") or item.get(f"{RDF}about", "").strip()
        description = _text(item, f"{ns}description") if _from_arxiv(item, ident) else _html_description(item, ns)
        abstract = _rss_abstract(description)
        if not title or not abstract:
            warnings.add(f"item {ident or '?'} skipped: missing title or abstract")
            continue
        try:
            papers.append(make_paper(
                title,
                abstract,
                id=ident or None,
                authors=_creators(item),
                published=_rfc_date(_text(item, "pubDate")) or _iso_date(_text(item, f"{DC}date")),
                url=_text(item, f"{ns}link") or None,
                venue=venue_from_comment(_rss_comment(description)),
                # the journal's (or bioRxiv's) DOI, when the authors gave one; a journal's RDF feed names its own
                doi=_text(item, f"{ARXIV}DOI") or _text(item, f"{DC}identifier") or None,
            ))
        except MissingText as err:
            warnings.add(f"item {ident or '?'} skipped: {err}")
            continue
        cap.add(papers[-1])
    return papers, [*warnings.lines(), *cap.warnings("items")]


def _creators(item: Element) -> list[str]:
    """The authors: arXiv names them all in one ``dc:creator``, separated by commas; a journal's feed
    (Nature's) gives each their own ``dc:creator``, which may be "Last, First"."""
    names = [(creator.text or "").strip() for creator in item.iterfind(f"{DC}creator")]
    names = [name for name in names if name]
    return names[0].split(",") if len(names) == 1 else names


def _atom_text(entry: Element, name: str) -> str:
    """An Atom text construct as text: HTML read as such when its ``type`` says so, and XHTML (a ``div``
    of elements, RFC 4287 3.1.1.3) as the same HTML would be."""
    child = entry.find(f"{ATOM}{name}")
    kind = child.get("type") if child is not None else None
    if child is not None and kind == "xhtml":
        return html_to_text(_as_html(child)).strip()
    text = _text(entry, f"{ATOM}{name}")
    return html_to_text(text).strip() if kind == "html" else text


def _xhtml_title(entry: Element) -> str:
    """An XHTML title as ``make_paper`` takes a title: text whose ``<``, ``>`` and ``&`` are written as entities,
    which its title reading (``strip_inline_html``) reads once; read as text here, they would be read twice."""
    return escape(_atom_text(entry, "title"), quote=False)


def _typed(entry: Element, name: str, kind: str) -> bool:
    child = entry.find(f"{ATOM}{name}")
    return child is not None and child.get("type") == kind


def _as_html(top: Element) -> str:
    """XHTML elements written back as HTML (text escaped, namespaces dropped) for ``html_to_text``; a loop, not
    a recursion: a feed's nesting has no bound."""
    out: list[str] = []
    stack: list[tuple[Element, bool]] = [(node, False) for node in reversed(top)]
    while stack:
        node, closing = stack.pop()
        name = node.tag.rpartition("}")[2] if isinstance(node.tag, str) else ""
        if closing:
            out.append(f"</{name}>" + escape(node.tail or "", quote=False))
            continue
        out.append(f"<{name}>" + escape(node.text or "", quote=False))
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(node))
    return "".join(out)


def _from_arxiv(item: Element, ident: str) -> bool:
    """An arXiv announcement, whose description is plain text: ``arxiv:announce_type``, or an arXiv guid or link."""
    return item.find(f"{ARXIV}announce_type") is not None or "arxiv.org" in ident.lower()


def _html_description(item: Element, ns: str) -> str:
    """A journal's description as text, less Nature's "Published online" line; where that line is all there is,
    the ``content:encoded`` instead."""
    for tag in (f"{ns}description", CONTENT):
        text = _without_published_line(html_to_text(_text(item, tag))).strip()
        if text:
            return text
    return ""


def _without_published_line(text: str) -> str:
    line = _PUBLISHED_LINE.match(text)
    return text[line.end():] if line else text


def _rss_abstract(description: str) -> str:
    """arXiv puts ``arXiv:ID Announce Type: new \\nAbstract: ...`` in the description."""
    marker = description.find("Abstract:")
    return description[marker + len("Abstract:") :] if marker >= 0 else description


def _rss_comment(description: str) -> str | None:
    """A ``Comments:`` line before the abstract, where a feed has one (today's arXiv RSS does not)."""
    head = description[: max(description.find("Abstract:"), 0)]
    match = _COMMENTS.search(head)
    return match.group(1) if match else None


def _text(node: Element, tag: str) -> str:
    child = node.find(tag)
    return (child.text or "").strip() if child is not None else ""


def _iso_date(text: str) -> date | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date() if text else None
    except ValueError:
        return None


def _rfc_date(text: str) -> date | None:
    try:
        return parsedate_to_datetime(text).date() if text else None
    except (TypeError, ValueError):
        return None
