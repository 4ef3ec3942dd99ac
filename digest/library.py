"""A reader's library of liked papers, from the files reference managers export.

    BibTeX       Zotero, Mendeley, JabRef, Google Scholar (.bib)       bibtexparser
    RIS          Zotero, Mendeley, EndNote, most publishers (.ris)     rispy
    Zotero CSV   "Export Collection... > CSV" (.csv)                   csv
    id list      one arXiv id or URL a line (# comments)               -

The format is told by the content, not the extension. Entries give a title and
abstract where the file has them, and an arXiv id where one can be found (an
``eprint`` field, an arxiv.org URL, an arXiv DOI, Google Scholar's "arXiv preprint
arXiv:..." journal). An entry with only an id takes its text from the day's
listings (``fill_from``). Entries with neither text nor id are skipped and
counted, never a crash; a missing or unreadable file is one ``ConfigError``
naming the path.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .model import Paper, arxiv_id, normalize_space

_RIS_START = re.compile(r"^\s*TY  - ", re.M)
_RIS_END = re.compile(r"^ER  -.*$", re.M)
_BIB_ENTRY = re.compile(r"^\s*@\w+\s*[{(]", re.M)
_CSV_TITLE = {"title"}
_CSV_ABSTRACT = ("abstract note", "abstract")
_CSV_IDS = ("url", "doi", "extra", "archive id", "arxiv id")


@dataclass(frozen=True, slots=True)
class Entry:
    paper_id: str | None  # the arXiv id when the file gives one
    title: str = ""
    abstract: str = ""


@dataclass(frozen=True, slots=True)
class Library:
    path: Path
    format: str
    entries: tuple[Entry, ...] = ()
    skipped: int = 0  # entries with neither an id nor a title, or that did not parse
    without_text: int = 0  # entries with an id only, not found in the listings (after fill_from)
    notes: tuple[str, ...] = field(default=())

    def summary(self) -> str:
        """One line for the logs: what was read and what was not."""
        parts = [f"{self.path}: {len(self.entries)} {self.format} entries"]
        if self.skipped:
            parts.append(f"{self.skipped} skipped (no title or id, or unreadable)")
        if self.without_text:
            parts.append(f"{self.without_text} with an id but no title or abstract")
        return ", ".join(parts)


def load_library(path: Path) -> Library:
    """Read a library file in any supported format; ``ConfigError`` if it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{path}: library file not found; check the reader's library = or DIGEST_LIBRARY") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read library file ({err}); export it again as UTF-8 BibTeX, RIS or CSV") from None
    kind, parser = _detect(text)
    entries, skipped = parser(text)
    library = Library(path, kind, tuple(entries), skipped)
    return replace(library, without_text=sum(1 for e in entries if not (e.title or e.abstract)))


def _detect(text: str) -> tuple[str, Any]:
    if _RIS_START.search(text):
        return "RIS", parse_ris
    if _BIB_ENTRY.search(text):
        return "BibTeX", parse_bibtex
    first = text.lstrip().split("\n", 1)[0].lower()
    if "title" in first and ("," in first or "\t" in first):
        return "CSV", parse_csv
    return "id list", parse_ids


def fill_from(library: Library, papers: Iterable[Paper]) -> Library:
    """Entries with an id but no abstract take the text a listing has for that paper."""
    known: Mapping[str, Paper] = {p.id: p for p in papers}
    entries = []
    for entry in library.entries:
        paper = known.get(entry.paper_id or "")
        if paper is not None and not entry.abstract:
            entry = Entry(entry.paper_id, entry.title or paper.title, paper.abstract)
        entries.append(entry)
    return replace(library, entries=tuple(entries),
                   without_text=sum(1 for e in entries if not (e.title or e.abstract)))


def _entry(title: str | None, abstract: str | None, *id_fields: str | None) -> Entry | None:
    """An entry from a record's fields; None when it has neither a title nor an arXiv id."""
    found = next((i for f in id_fields if f and (i := _arxiv(f))), None)
    title = normalize_space(title or "")
    if not title and not found:
        return None
    return Entry(found, title, normalize_space(abstract or ""))


def _arxiv(text: str) -> str | None:
    """An arXiv id only where the text says it is one (a bare 2301.00001, or next to "arxiv")."""
    stripped = text.strip()
    if "arxiv" in stripped.lower() or re.fullmatch(r"\d{4}\.\d{4,5}(v\d+)?", stripped):
        return arxiv_id(stripped)
    return None


# --- BibTeX ------------------------------------------------------------------


def parse_bibtex(text: str) -> tuple[list[Entry], int]:
    import bibtexparser
    from bibtexparser.middlewares import LatexDecodingMiddleware

    logging.getLogger("bibtexparser").setLevel(logging.ERROR)  # it logs each broken block; we count them
    parsed = bibtexparser.parse_string(text, append_middleware=[LatexDecodingMiddleware()])
    entries: list[Entry] = []
    skipped = len(parsed.failed_blocks)
    for item in parsed.entries:
        fields = {k.lower(): str(f.value) for k, f in item.fields_dict.items()}
        eprint = fields.get("eprint")
        if eprint and "arxiv" in (fields.get("archiveprefix", "") + fields.get("eprinttype", "")).lower():
            eprint = f"arXiv:{eprint}"
        entry = _entry(fields.get("title"), fields.get("abstract"), eprint, fields.get("arxivid"),
                       fields.get("url"), fields.get("doi"), fields.get("journal"), fields.get("note"))
        if entry is None:
            skipped += 1
        else:
            entries.append(entry)
    return entries, skipped


# --- RIS ---------------------------------------------------------------------


def parse_ris(text: str) -> tuple[list[Entry], int]:
    """Each ``TY`` ... ``ER`` record on its own, so one broken record costs only itself."""
    import rispy

    entries: list[Entry] = []
    skipped = 0
    for record in _ris_records(text):
        try:
            items = rispy.loads(record)
        except Exception:  # noqa: BLE001 (rispy raises plain IOError/ValueError/KeyError on bad records)
            skipped += 1
            continue
        for item in items:
            entry = _entry(
                item.get("title") or item.get("primary_title"), item.get("abstract"),
                *(item.get("urls") or []), item.get("doi"), *(item.get("notes") or []),
            )
            if entry is None:
                skipped += 1
            else:
                entries.append(entry)
    return entries, skipped


def _ris_records(text: str) -> list[str]:
    starts = [m.start() for m in _RIS_START.finditer(text)]
    return [text[a:b] if _RIS_END.search(text[a:b]) else text[a:b] + "\nER  - \n"
            for a, b in zip(starts, [*starts[1:], len(text)])]


# --- Zotero CSV --------------------------------------------------------------


def parse_csv(text: str) -> tuple[list[Entry], int]:
    dialect = "excel-tab" if "\t" in text.split("\n", 1)[0] and "," not in text.split("\n", 1)[0] else "excel"
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    names = {name.strip().lower(): name for name in reader.fieldnames or []}
    title = next((names[n] for n in _CSV_TITLE if n in names), None)
    abstract = next((names[n] for n in _CSV_ABSTRACT if n in names), None)
    ids = [names[n] for n in _CSV_IDS if n in names]
    entries: list[Entry] = []
    skipped = 0
    for row in reader:
        if None in row or None in row.values():  # too many or too few cells: a broken row
            skipped += 1
            continue
        entry = _entry(row.get(title or ""), row.get(abstract or ""), *(row.get(n) for n in ids))
        if entry is None:
            skipped += 1
        else:
            entries.append(entry)
    return entries, skipped


# --- a list of ids -----------------------------------------------------------


def parse_ids(text: str) -> tuple[list[Entry], int]:
    """One arXiv id or URL a line; blank lines and # comments are ignored."""
    entries: list[Entry] = []
    skipped = 0
    for line in text.splitlines():
        line = re.split(r"(?:^|\s)#", line, maxsplit=1)[0].strip()
        if not line:
            continue
        found = arxiv_id(line)
        if found:
            entries.append(Entry(found))
        else:
            skipped += 1
    return entries, skipped
