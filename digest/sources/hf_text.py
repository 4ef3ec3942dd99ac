"""Text saved from Hugging Face Daily Papers pages (select all, copy, paste).

Three layouts exist in the wild:

* blocks separated by blank lines: a page header, then title / abstract pairs;
* no blank lines at all, the first title glued to the header word ``Subscribe``;
* either of the above where an abstract may be followed by a metadata block:
  ``  • 10 authors`` or an organisation line, then ``·``, then a date line
  (``Jul 7``, ``Nov 14, 2023``) optionally followed by an upvote count.

Blank lines carry no meaning here, so the parser works on non-blank lines.
"""

from __future__ import annotations

import re
from datetime import date

from ..model import MissingText, Paper, PaperExtra, make_paper
from .json_formats import Warnings

HEADER_LINES = {
    "new",
    "get trending papers in your email inbox!",
    "get trending papers in your email inbox once a day!",
    "subscribe",
    "daily papers",
    "byak and the research community",
}
_MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
DATE_LINE = re.compile(
    rf"^(?P<mon>{_MONTHS})[a-z]* (?P<day>\d{{1,2}})(?:, (?P<year>\d{{4}}))?(?: (?P<up>\d+))?$"
)
AUTHORS_LINE = re.compile(r"^•\s*(?P<n>\d+) authors?$")
SEPARATOR = "·"
_GLUED = re.compile(r"^Subscribe(?=\S)")
MIN_ABSTRACT = 80  # characters: the shortest abstract a real page shows is far longer
MAX_TITLE = 300
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SPACING_CONTROLS = re.compile(r"[\x0b\x0c\x1c-\x1f\x85]")  # the controls Python counts as spaces


def looks_like_hf_text(lines: list[str]) -> bool:
    """A page header, or else a title-sized line followed by an abstract-sized one."""
    head = [line.casefold() for line in lines[:8]]
    if any(line in HEADER_LINES or line.startswith("subscribe") for line in head):
        return True
    return len(lines) >= 2 and len(lines[0]) <= MAX_TITLE and len(lines[1]) >= MIN_ABSTRACT


def parse_hf_text(text: str, *, today: date | None = None) -> tuple[list[Paper], list[str]]:
    """Parse a saved page; returns the papers and warnings about odd blocks."""
    _, lines = _split_header([line.strip() for line in text_lines(text) if line.strip()])
    papers: list[Paper] = []
    warnings = Warnings()
    i = 0
    while i < len(lines):
        title = lines[i]
        if i + 1 >= len(lines):
            warnings.add(f"title without an abstract at the end: {title[:60]!r}")
            break
        abstract = lines[i + 1]
        if not looks_like_paper(title, abstract):
            warnings.add(f"{title[:60]!r} skipped: not a paper (a title, then an abstract of at least "
                            f"{MIN_ABSTRACT} characters)")
            i += 1  # the next line may start a paper again: a junk line does not shift every pair after it
            continue
        meta, i = _read_metadata(lines, i + 2)
        try:
            papers.append(_paper(title, abstract, meta, today))
        except MissingText as err:
            warnings.add(f"{title[:60]!r} skipped: {err}")
    return papers, warnings.lines()


def looks_like_paper(title: str, abstract: str) -> bool:
    """The shape of a listed paper: a title-sized line, then a longer abstract of several words;
    no control characters in either (a stray line, a log or an escape sequence pasted in is not one)."""
    if _CONTROL.search(title) or _CONTROL.search(abstract):
        return False
    return (len(title) <= MAX_TITLE and len(abstract) >= MIN_ABSTRACT and len(abstract) > len(title)
            and len(abstract.split()) >= 8)


def page_day(lines: list[str], *, today: date | None = None) -> date | None:
    """The day a saved page (its non-blank lines) shows in its header (``Mar 12``: the Daily
    Papers day it is for), or None; without a year it is the latest such date not after ``today``."""
    header, _ = _split_header(lines)
    shown = [line for line in header if DATE_LINE.match(line)]
    return _parse_date_line(shown[0], today)[0] if shown else None


def _split_header(lines: list[str]) -> tuple[list[str], list[str]]:
    """(the page header's lines, the rest); a title glued to ``Subscribe`` is freed."""
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.casefold() in HEADER_LINES or DATE_LINE.match(line):
            i += 1
        elif _GLUED.match(line):
            return lines[:i], [_GLUED.sub("", line), *lines[i + 1 :]]
        else:
            break
    return lines[:i], lines[i:]


def _read_metadata(lines: list[str], i: int) -> tuple[dict[str, str], int]:
    """Read an optional metadata block starting at ``lines[i]``."""
    meta: dict[str, str] = {}
    j = i
    while j < len(lines) and j < i + 3:
        if lines[j] == SEPARATOR:
            break
        j += 1
    else:
        return meta, i
    if j >= len(lines) or j == i or (j - i == 2 and not AUTHORS_LINE.match(lines[i])):
        return meta, i
    for line in lines[i:j]:
        authors = AUTHORS_LINE.match(line)
        if authors:
            meta["authors_count"] = authors.group("n")
        else:
            meta["organization"] = line
    j += 1
    if j < len(lines) and DATE_LINE.match(lines[j]):
        meta["date"] = lines[j]
        j += 1
    return meta, j


def _paper(title: str, abstract: str, meta: dict[str, str], today: date | None) -> Paper:
    extra: PaperExtra = {}
    if "authors_count" in meta:
        extra["authors_count"] = _count(meta["authors_count"])
    if "organization" in meta:
        extra["organization"] = meta["organization"]
    if "date" in meta:
        published, upvotes = _parse_date_line(meta["date"], today)
        extra["published"] = published
        extra["upvotes"] = upvotes
    return make_paper(title, abstract, **extra)


def _count(digits: str) -> int | None:
    """A count from the page; a run of digits too long to be one (or to parse) is ignored."""
    return int(digits) if len(digits) <= 9 else None


def _parse_date_line(line: str, today: date | None) -> tuple[date | None, int | None]:
    """A page date; without a year it is the latest such date not after ``today``."""
    match = DATE_LINE.match(line)
    assert match
    month = _MONTHS.split("|").index(match.group("mon")) + 1
    day = int(match.group("day"))
    up = _count(match.group("up")) if match.group("up") else None
    try:
        if match.group("year"):
            return date(int(match.group("year")), month, day), up
        if today is None:
            return None, up
        guess = date(today.year, month, day)
        return (guess if guess <= today else date(today.year - 1, month, day)), up
    except ValueError:
        return None, up


def text_lines(text: str) -> list[str]:
    """The lines of a saved text page: broken at CR, LF or CRLF only. ``str.splitlines`` also breaks at
    U+2028, NEL or a form feed, which an abstract may carry: a paper would be cut in two."""
    spaced = _SPACING_CONTROLS.sub(" ", text)  # a form feed or NEL in an abstract is a space there, not junk
    return spaced.replace("\r\n", "\n").replace("\r", "\n").split("\n")
