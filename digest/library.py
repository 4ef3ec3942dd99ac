"""A reader's library of liked papers, from the files reference managers export.

    BibTeX       Zotero, Mendeley, JabRef, Google Scholar (.bib)       bibtexparser
    RIS          Zotero, Mendeley, EndNote, most publishers (.ris)     rispy (abstract: AB, else N2)
    Zotero CSV   "Export Collection... > CSV" (.csv)                   csv
    id list      arXiv ids or URLs, one or more a line (# comments)    -

The format is told by the content, not the extension. Entries give a title and
abstract where the file has them, and an arXiv id where one can be found (an
``eprint`` field, an arxiv.org URL, an arXiv DOI, Google Scholar's "arXiv preprint
arXiv:..." journal, Semantic Scholar's and DBLP's journal "ArXiv" or "CoRR" with
volume "abs/ID"). An entry with only an id takes its text from the day's
listings (``fill_from``). Entries with neither text nor id are skipped and
counted, never a crash. BibTeX's ``%`` comments, between entries or between an
entry's fields, are skipped. Zotero's rich-text tags (``<i>``, ``<span class="nocase">``)
and the JATS tags of abstracts are read as a journal feed's titles are (``digest.markup``):
their words kept, ``H<sub>2</sub>O`` as ``H₂O``, HTML's entities as their characters.

The file is UTF-8 (with or without a byte order mark) or UTF-16 or UTF-32 with one; any
other is read as Windows-1252 (Latin-1's letters and more), with a warning line
and a note in ``Library.notes``. A file that cannot be read at all (missing, a
folder, unreadable, UTF-16 cut short, too big, malformed) is one ``LibraryError``
(a ``ConfigError``): one line naming the file, the problem and the fix.
``load_library`` is what ``digest check`` calls to validate a reader's library; a
send catches the error, ranks that reader on their keywords and votes alone and
reports the reader by address (``Digest.examples_for_readers``).

A library is one reader's file, so it is read within bounds that keep one export
from stalling everybody's digest. Every step is linear in the file's size, and
the limits below, checked before parsing, bound it at about 10 s (measured on
2 busy cores; a real Zotero export of 12,000 papers with abstracts is 18 MB,
0.7 million BibTeX marks and 110,000 lines, and reads in 3 to 5 s):

    MAX_LIBRARY_BYTES  20 MB, from the file's size, before reading it
    MAX_ENTRIES        50,000 entries (records, rows, ids); each costs 30 to 90 us
    MAX_LINES          500,000 lines (RIS is parsed line by line, 15 to 30 us each)
    MAX_BIBTEX_MARKS   1,000,000 braces, backslashes, quotes, commas, "=", "@",
                       percent signs and line breaks: bibtexparser's time grows
                       with these (4 to 10 us each), decoding the LaTeX of titles
                       and abstracts with the backslashes, and finding the
                       comments with the braces, quotes and percent signs
    MAX_TEXT_CHARS     5,000: a title, abstract or id field is cut to this first

Only the title and abstract are decoded from LaTeX, by ``latex_to_text``: a
single regular-expression pass for what titles and abstracts hold (accents,
``\\ss`` and friends, text symbols such as ``\\textless``, escaped characters,
``\\emph{...}``, grouping braces).
bibtexparser's ``LatexDecodingMiddleware`` decoded every field of every entry
with pylatexenc, 30 to 180 us a character (a 350 KB field took 13 s, a 21 MB one
over 3 minutes) and a RecursionError on a few hundred nested braces. The csv
module's field limit (128 KB by default: a longer Zotero note was a
``_csv.Error``) is process-wide; reading a CSV library raises it to
``MAX_LIBRARY_BYTES``, never lowers it, and nothing in digest relies on the
smaller one.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import re
import stat
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import LibraryError, shown_path
from .markup import strip_inline_html
from .model import Paper, arxiv_id, normalize_space
from .text import bom_encoding

log = logging.getLogger("digest")

MAX_LIBRARY_BYTES = 20_000_000
MAX_ENTRIES = 50_000
MAX_LINES = 500_000
MAX_BIBTEX_MARKS = 1_000_000
MAX_TEXT_CHARS = 5_000
MAX_RIS_RECORD_LINES = 2_000  # of one RIS record; the rest of a longer one is dropped

# [ \t]*, not \s*: \s* spans line breaks, so each of n blank lines rescanned the rest (80 KB took 36 s)
_RIS_START = re.compile(r"^[ \t]*TY  - ", re.M)
_RIS_END = re.compile(r"^ER  -.*$", re.M)
_BIB_ENTRY = re.compile(r"^[ \t]*@\w+[ \t]*[{(]", re.M)
_COMMENT = re.compile(r"\s*#(?![,;\t])")  # a comment line; "#,Title,..." is a CSV's numbering column
_BIB_MARKS = '{}",=@%\n\\'
_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_UNBRACE = {ord("{"): None, ord("}"): None, ord("~"): " "}
_EXPORT_AGAIN = "export it again as UTF-8 BibTeX, RIS or CSV"
_EXPORT_FEWER = "export only the papers you want more like (a collection), without notes or attachments"
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
    notes: tuple[str, ...] = field(default=())  # warnings about reading it (an encoding guessed)

    def summary(self) -> str:
        """One line for the logs: what was read and what was not."""
        parts = [f"{self.path}: {len(self.entries)} {self.format} entries"]
        if self.skipped:
            parts.append(f"{self.skipped} skipped (no title or id, or unreadable)")
        if self.without_text:
            parts.append(f"{self.without_text} with an id but no title or abstract")
        return ", ".join(parts)


def load_library(path: Path) -> Library:
    """Read a library file in any supported format; one ``LibraryError`` naming it if it cannot be read."""
    text, note = _read(path)
    if note:
        log.warning("%s", note)
    kind, parser = _detect(text)
    too_much = _over_bounds(kind, text)
    if too_much:
        raise LibraryError(path, f"library file too big to read in bounded time ({too_much})", _EXPORT_FEWER)
    try:
        entries, skipped = parser(text)
    except _TooManyEntries:
        raise LibraryError(path, f"library file too big to read in bounded time (over {MAX_ENTRIES:,} "
                           "entries)", _EXPORT_FEWER) from None
    except csv.Error as err:
        raise LibraryError(path, f"cannot read library file as CSV ({err})", _EXPORT_AGAIN) from err
    if not entries:  # read as nothing: the reader would be ranked without it and never know why
        what = f"{skipped} {kind} entries, none with a title or an arXiv id" if skipped else f"empty as {kind}"
        raise LibraryError(path, f"no paper could be read from the library file ({what})", _EXPORT_AGAIN)
    once = tuple(dict.fromkeys(entries))  # a paper exported twice counts once
    return Library(path, kind, once, skipped, without_text=sum(1 for e in once if not (e.title or e.abstract)),
                   notes=(note,) if note else ())


class _TooManyEntries(Exception):
    """A parser counted past ``MAX_ENTRIES`` (CSV rows and id lines are only counted while parsing)."""


def _over_bounds(kind: str, text: str) -> str:
    """What of ``text`` is past its limit, in words ("" when nothing is); counted by C loops, not parsed."""
    lines = sum(text.count(c) for c in _LINE_BREAKS) - text.count("\r\n")  # as str.splitlines (rispy, ids) counts
    if lines > MAX_LINES:
        return f"{lines:,} lines; at most {MAX_LINES:,}"
    if kind == "BibTeX" and (marks := sum(text.count(c) for c in _BIB_MARKS)) > MAX_BIBTEX_MARKS:
        return (f"{marks:,} braces, backslashes, quotes, commas, percent signs and line breaks; "
                f"at most {MAX_BIBTEX_MARKS:,}")
    pattern = {"BibTeX": _BIB_ENTRY, "RIS": _RIS_START}.get(kind)
    if pattern is not None and (entries := sum(1 for _ in pattern.finditer(text))) > MAX_ENTRIES:
        return f"{entries:,} entries; at most {MAX_ENTRIES:,}"
    return ""


def read_libraries(paths: Iterable[Path]) -> tuple[dict[Path, Library], dict[Path, LibraryError]]:
    """Each file once: (the libraries read, the error of each that could not be), so one bad file costs only its readers."""
    read: dict[Path, Library] = {}
    failed: dict[Path, LibraryError] = {}
    for path in dict.fromkeys(paths):
        try:
            read[path] = load_library(path)
        except LibraryError as err:
            failed[path] = err
    return read, failed


def _read(path: Path) -> tuple[str, str]:
    """(the file's text, a warning about its encoding or ""), read only after ``_checked_size`` (at most
    ``MAX_LIBRARY_BYTES``, even if it grows meanwhile)."""
    size = _checked_size(path)
    try:
        with path.open("rb") as file:
            data = file.read(MAX_LIBRARY_BYTES + 1)
    except OSError as err:
        raise LibraryError(path, f"cannot read library file ({err.strerror or err})", "check its permissions") from err
    if max(size, len(data)) > MAX_LIBRARY_BYTES:
        raise LibraryError(path, f"library file too big ({math.ceil(max(size, len(data)) / 1e5) / 10:.1f} MB; digest "
                           f"reads at most {MAX_LIBRARY_BYTES / 1e6:g} MB)", _EXPORT_FEWER)
    text, note = _decoded_file(path, data)
    return text.replace("\r\n", "\n").replace("\r", "\n"), note  # Mac "CSV": CR alone


def _decoded_file(path: Path, data: bytes) -> tuple[str, str]:
    """(the text, a warning or ""): UTF-8, or UTF-16/32 told by its byte order mark; else Windows-1252.

    Windows tools (EndNote, Excel's CSV, older JabRef) save in the system's code
    page, which in Western Europe and the Americas is Windows-1252, a superset of
    Latin-1's letters; any byte string decodes as it, so the fallback never fails,
    but it may be the wrong guess, and the warning says so.
    """
    encoding = bom_encoding(data)
    if encoding:
        try:
            return data.decode(encoding), ""
        except UnicodeDecodeError as err:
            name = encoding.removesuffix("-sig").upper()
            raise LibraryError(path, f"cannot read library file (it starts as {name} but is not: {err.reason} "
                               f"at offset {err.start})", _EXPORT_AGAIN) from err
    try:
        return data.decode("utf-8"), ""
    except UnicodeDecodeError as err:
        note = (f"{shown_path(path)}: library file is not UTF-8 (byte {data[err.start]:#04x} at offset {err.start}); "
                "read as Windows-1252 (Latin-1); if its accents look wrong, export it again as UTF-8")
        return data.decode("cp1252", errors="replace"), note  # 5 bytes mean nothing in it: U+FFFD, visibly


def _checked_size(path: Path) -> int:
    """The size of ``path``, once it is known to be a file: a folder or a pipe (which would block) is refused."""
    try:
        info = path.stat()
    except ValueError:  # a NUL in the name: no file can have it
        raise LibraryError(path, "library file name has a character no file name can hold (NUL)",
                           "check the reader's library = or DIGEST_LIBRARY") from None
    except (FileNotFoundError, NotADirectoryError) as err:
        raise LibraryError(path, "library file not found", "check the reader's library = or DIGEST_LIBRARY") from err
    except OSError as err:
        raise LibraryError(path, f"cannot read library file ({err.strerror or err})", "check its permissions") from err
    if stat.S_ISDIR(info.st_mode):
        raise LibraryError(path, "library file is a folder", "set library = to the file your reference manager exported")
    if not stat.S_ISREG(info.st_mode):
        raise LibraryError(path, "library file is not a regular file", "export the library to a file and name that file")
    return info.st_size


def _detect(text: str) -> tuple[str, Any]:
    if _RIS_START.search(text):
        return "RIS", parse_ris
    if _BIB_ENTRY.search(text):
        return "BibTeX", parse_bibtex
    first = _header(text).lower()
    if "title" in first and any(mark in first for mark in ",;\t"):
        return "CSV", parse_csv
    return "id list", parse_ids


def _header(text: str) -> str:
    """A CSV's first line, or an id list's first line that is not a ``#`` comment or blank."""
    return next((line for line in text.split("\n", 20)[:20] if line.strip() and not _COMMENT.match(line)), "")


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
    found = next((i for f in id_fields if f and (i := _arxiv(f[:MAX_TEXT_CHARS]))), None)
    title = _plain((title or "")[:MAX_TEXT_CHARS])
    if not title and not found:
        return None
    return Entry(found, title, _plain((abstract or "")[:MAX_TEXT_CHARS]))


def _plain(text: str) -> str:
    """Zotero's rich text (``<i>``, ``<sub>``, ``<span class="nocase">``, which its BibTeX import makes of
    ``{BERT}``) and the JATS of abstracts fetched by DOI, as its CSV and RIS exports write them, read as the
    titles of a journal's feed are."""
    return normalize_space(strip_inline_html(text))


def _arxiv(text: str) -> str | None:
    """An arXiv id only where the text says it is one (a bare 2301.00001, or next to "arxiv")."""
    stripped = text.strip()
    if "arxiv" in stripped.lower() or re.fullmatch(r"\d{4}\.\d{4,5}(v\d+)?", stripped):
        return arxiv_id(stripped)
    return None


# --- BibTeX ------------------------------------------------------------------


def parse_bibtex(text: str) -> tuple[list[Entry], int]:
    """Fields as written; only the title and abstract are decoded from LaTeX, cut to ``MAX_TEXT_CHARS`` first."""
    import bibtexparser
    from bibtexparser.model import DuplicateBlockKeyBlock, Entry as BibEntry

    logging.getLogger("bibtexparser").setLevel(logging.ERROR)  # it logs each broken block; we count them
    # values as written (_expanded reads them), less the comments bibtexparser would read as field names
    parsed = bibtexparser.parse_string(_without_comments(text), parse_stack=[])
    entries: list[Entry] = []
    # two papers under one key (Scholar's "lin2025reward" is easily taken twice) are two papers
    again = [b.ignore_error_block for b in parsed.failed_blocks
             if isinstance(b, DuplicateBlockKeyBlock) and isinstance(b.ignore_error_block, BibEntry)]
    skipped = len(parsed.failed_blocks) - len(again)
    macros = _macros(parsed)
    for item in [*parsed.entries, *again]:
        fields = {k.lower(): _expanded(str(f.value), macros) for k, f in item.fields_dict.items()}
        eprint = fields.get("eprint")
        if eprint and "arxiv" in (fields.get("archiveprefix", "") + fields.get("eprinttype", "")).lower():
            eprint = f"arXiv:{eprint}"
        entry = _entry(_decoded(fields.get("title")), _decoded(fields.get("abstract")), eprint, fields.get("arxivid"),
                       fields.get("url"), fields.get("doi"), fields.get("journal"), fields.get("note"),
                       _arxiv_volume(fields))
        if entry is None:
            skipped += 1
        else:
            entries.append(entry)
    return entries, skipped


# what tells a comment from a value's text: a % (first on its line or not), an entry's start, braces, quotes
_BIB_SCAN = re.compile(r'(?P<line>^[ \t]*%)|^[ \t]*@(?P<kind>\w+)[ \t]*[{(]|[%{}"]', re.M)
_RAW_ENTRIES = frozenset({"comment", "preamble"})  # their text is kept as written, % and all


def _without_comments(text: str) -> str:
    """The text less its ``%`` comments: lines between entries, and from a ``%`` between an
    entry's fields to the end of its line.

    JabRef, biber and people editing by hand write them, and bibtexparser reads one
    inside an entry as part of the next field's name: the entry, or its later fields,
    were lost. A ``%`` inside a braced or quoted value is the value's text and stays
    (dropping the rest of its line could drop the value's closing brace), as does all
    of an ``@comment`` or ``@preamble``. Each entry's start resets the count, so an
    unbalanced brace costs at most its own entry. One pass, on a file with a ``%`` only.
    """
    if "%" not in text:
        return text
    kept: list[str] = []
    at = pos = depth = 0
    quoted, plain = False, True  # in a quoted value; in an entry whose % may start a comment
    while (mark := _BIB_SCAN.search(text, pos)) is not None:
        pos, token = mark.end(), mark[0][-1]
        if mark["kind"] is not None:
            depth, quoted, plain = 1, False, mark["kind"].lower() not in _RAW_ENTRIES
        elif token in "{}":
            depth = depth + 1 if token == "{" else max(0, depth - 1)
            quoted = quoted and depth > 0
        elif token == '"':
            quoted = quoted != (depth == 1)  # a quote inside braces is text
        elif depth == 0 and mark["line"] or depth == 1 and plain and not quoted:
            line_end = text.find("\n", pos)
            end = len(text) if line_end < 0 else line_end + 1 if mark["line"] else line_end
            kept.append(text[at:mark.start()])
            at = pos = end
    kept.append(text[at:])
    return "".join(kept)


def _arxiv_volume(fields: dict[str, str]) -> str | None:
    """Semantic Scholar's and DBLP's citation of an arXiv paper: journal "ArXiv" or "CoRR", volume "abs/ID"."""
    volume = fields.get("volume", "").strip()
    if fields.get("journal", "").strip().lower() in ("arxiv", "corr") and volume.lower().startswith("abs/"):
        return f"arXiv:{volume[4:]}"
    return None


_MONTHS = {m: m.capitalize() for m in ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                       "nov", "dec")}
_MARKS = re.compile(r'[{}"]')
_BARE = re.compile(r"[^\s#]*")


def _macros(parsed: Any) -> dict[str, str]:
    """The file's ``@string`` macros and the month names, by lower-case name, their values expanded in turn."""
    macros = dict(_MONTHS)
    for string in parsed.strings:
        macros[string.key.lower()] = _expanded(str(string.value), macros)
    return macros


def _expanded(raw: str, macros: dict[str, str]) -> str:
    """A field's value as BibTeX reads it: ``ttl # " for robots"`` joins a macro's value and a quoted text.

    Each piece a ``#`` joins is ``{text}``, ``"text"``, a number or a macro's name (an
    unknown name is kept as written). Only the first ``MAX_TEXT_CHARS`` are read: that is
    all the title and abstract keep, and more than any id field holds.
    """
    raw = raw[:MAX_TEXT_CHARS + 2].strip()
    if "#" not in raw:  # one piece, by far the most common: no scan
        if raw[:1] == "{" and raw[-1:] == "}" or raw[:1] == '"' and raw[-1:] == '"' and len(raw) > 1:
            return raw[1:-1]
        return macros.get(raw.lower(), raw.lstrip('{"'))
    pieces: list[str] = []
    at = 0
    while True:
        at = _skip_spaces(raw, at)
        if at >= len(raw):
            return "".join(pieces)
        if raw[at] in "{\"":
            end = _closing(raw, at)
            pieces.append(raw[at + 1:end])
            at = end + 1
        else:
            word = _BARE.match(raw, at)[0]  # type: ignore[index]  # matches at any position
            pieces.append(macros.get(word.lower(), word))
            at += len(word)
        at = _skip_spaces(raw, at)
        if at < len(raw) and raw[at] != "#":
            return "".join(pieces) + raw[at:]  # not a chain after all: the rest as written
        at += 1


def _skip_spaces(text: str, at: int) -> int:
    while at < len(text) and text[at].isspace():
        at += 1
    return at


def _closing(text: str, at: int) -> int:
    """Where the ``{`` or ``"`` at ``at`` closes (braces nest; a quote closes outside them); the end if never."""
    opener, depth = text[at], int(text[at] == "{")
    for mark in _MARKS.finditer(text, at + 1):
        if mark[0] == '"':
            if opener == '"' and depth == 0:
                return mark.start()
            continue
        depth = max(0, depth + (1 if mark[0] == "{" else -1))
        if opener == "{" and depth == 0:
            return mark.start()
    return len(text)


def _decoded(value: str | None) -> str:
    return latex_to_text((value or "")[:MAX_TEXT_CHARS])


_ACCENTS = {"'": "\u0301", "`": "\u0300", "^": "\u0302", '"': "\u0308", "~": "\u0303", "=": "\u0304",
            ".": "\u0307", "c": "\u0327", "v": "\u030c", "u": "\u0306", "H": "\u030b", "r": "\u030a",
            "k": "\u0328", "d": "\u0323", "b": "\u0331"}
_SYMBOLS = {"ss": "ß", "o": "ø", "O": "Ø", "ae": "æ", "AE": "Æ", "aa": "å", "AA": "Å", "l": "ł", "L": "Ł",
            "oe": "œ", "OE": "Œ", "i": "ı", "j": "ȷ", "LaTeX": "LaTeX", "TeX": "TeX",
            # text symbols as JabRef's and Mendeley's exports write them ({\textless}, {\textquoteright})
            "textless": "<", "textgreater": ">", "textendash": "–", "textemdash": "—", "textquoteleft": "‘",
            "textquoteright": "’", "textquotedblleft": "“", "textquotedblright": "”", "textquotesingle": "'",
            "textbar": "|", "textbackslash": "\\", "textunderscore": "_", "textasciicircum": "^",
            "textbullet": "•", "textdegree": "°", "textperiodcentered": "·", "textellipsis": "…", "ldots": "…",
            "textregistered": "®", "texttrademark": "™", "textcopyright": "©", "textdollar": "$",
            "textsterling": "£", "texteuro": "€"}
_SWITCHES = frozenset({"em", "it", "bf", "sc", "sl", "tt", "rm", "sf", "normalfont", "itshape", "bfseries",
                       "scshape", "slshape", "upshape", "mdseries", "rmfamily", "sffamily", "ttfamily", "tiny",
                       "scriptsize", "footnotesize", "small", "normalsize", "large", "Large", "LARGE", "huge",
                       "Huge", "boldmath", "unboldmath"})
_LATEX = re.compile(r"""
    \\(?P<accent>[.'`^"~=]|[cvuHrkdb](?=\s*\{))\s*(?:\{\s*(?P<in_braces>\\?[A-Za-z])\s*\}|(?P<bare>\\?[A-Za-z]))
  | \\(?P<name>[A-Za-z]+)\s*(?P<empty>\{\})?
  | \\(?P<escaped>[^A-Za-z])
""", re.X)


def latex_to_text(text: str) -> str:
    """LaTeX as titles and abstracts write it, in one linear pass: ``{\\"U}ber {GPT}--4`` is "Über GPT–4".

    Accents become the accented letter; ``\\ss``, ``\\o`` and friends their letter; a
    command with an argument (``\\emph{x}``) leaves the argument; other commands
    their name (``\\alpha`` is "alpha"); math is kept as written, less its braces.
    """
    if "\\" in text:  # one call per command: at most MAX_BIBTEX_MARKS in a file
        text = _LATEX.sub(_latex_token, text)
    text = text.translate(_UNBRACE).replace("---", "—").replace("--", "–")
    return unicodedata.normalize("NFC", text)


def _latex_token(match: re.Match[str]) -> str:
    if match["accent"]:
        letter = (match["in_braces"] or match["bare"]).lstrip("\\")
        return letter + _ACCENTS[match["accent"]]
    if match["name"]:
        name = match["name"]
        if name in _SYMBOLS:
            return _SYMBOLS[name]
        if name in _SWITCHES:
            return ""  # {\em x} is x
        if match.string.startswith("{", match.end()):
            return ""  # \emph{x}: the argument stays, its braces go
        return name + (" " if match[0][-1].isspace() else "")  # "\alpha beta" keeps two words
    return " " if match["escaped"] == "\\" else match["escaped"]  # \\ is a line break; \% is %


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
                item.get("title") or item.get("primary_title"), item.get("abstract") or item.get("notes_abstract"),
                *(item.get("urls") or []), item.get("doi"), *(item.get("notes") or []),
            )
            if entry is None:
                skipped += 1
            else:
                entries.append(entry)
    return entries, skipped


def _ris_records(text: str) -> list[str]:
    starts = [m.start() for m in _RIS_START.finditer(text)]
    records = [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)])]
    return [_cut(record) if record.count("\n") > MAX_RIS_RECORD_LINES else
            record if _RIS_END.search(record) else record + "\nER  - \n" for record in records]


def _cut(record: str) -> str:
    """A record's first ``MAX_RIS_RECORD_LINES`` lines, closed: rispy joins a field's continuation lines one
    string at a time, so 490,000 of them took three minutes (a real record has a few dozen)."""
    end = -1
    for _ in range(MAX_RIS_RECORD_LINES):
        end = record.find("\n", end + 1)
    return record[:end] + "\nER  - \n"


# --- Zotero CSV --------------------------------------------------------------


def parse_csv(text: str) -> tuple[list[Entry], int]:
    """Zotero's columns by name; a field may be as long as the file (a long note is no ``_csv.Error``)."""
    if csv.field_size_limit() < MAX_LIBRARY_BYTES:
        csv.field_size_limit(MAX_LIBRARY_BYTES)  # process-wide, only ever raised: see the module docstring
    header = _header(text)
    delimiter = next((mark for mark in "\t;" if mark in header and "," not in header), ",")  # Excel: ";"
    reader = csv.DictReader(io.StringIO(text[text.index(header):]), dialect="excel", delimiter=delimiter)
    names = {name.strip().lower(): name for name in reader.fieldnames or []}
    title = next((names[n] for n in _CSV_TITLE if n in names), None)
    abstract = next((names[n] for n in _CSV_ABSTRACT if n in names), None)
    ids = [names[n] for n in _CSV_IDS if n in names]
    entries: list[Entry] = []
    skipped = 0
    for row in reader:
        if len(entries) + skipped >= MAX_ENTRIES:
            raise _TooManyEntries
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
    """arXiv ids or URLs, one or more a line (split by commas, semicolons or spaces); # comments are ignored.

    A word beside ids that is not one is counted as skipped; a line with no id at all
    (a note) counts once.
    """
    entries: list[Entry] = []
    skipped = 0
    for line in text.splitlines():
        line = re.split(r"(?:^|\s)#", line, maxsplit=1)[0].strip()
        if not line:
            continue
        found, others = _ids_in(line)
        entries.extend(Entry(paper_id) for paper_id in found)
        skipped += others if found else 1
        if len(entries) + skipped > MAX_ENTRIES:
            raise _TooManyEntries
    return entries, skipped


_ID_SEPARATORS = re.compile(r"[\s,;]+")


def _ids_in(line: str) -> tuple[list[str], int]:
    """The ids of one line, and how many of its words are not one."""
    found: list[str] = []
    others = 0
    for word in _ID_SEPARATORS.split(line)[:MAX_ENTRIES + 1]:  # past that the file is refused anyway
        paper_id = arxiv_id(word) if word and len(word) <= MAX_TEXT_CHARS else None  # no id or URL is longer
        if paper_id:
            found.append(paper_id)
        elif word:
            others += 1
    return found, others
