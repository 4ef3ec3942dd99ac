"""A short venue ("ICLR 2026", "CVPR 2026 Findings") from an arXiv comment, conservatively.

Authors write what they like in the comment: page counts, keywords, "accepted at",
whole conference names. Only two shapes are read, and only with a year, since an
acronym alone ("GUI", "SBST", "TMR") is as often a topic as a venue:

* an acronym with a year beside it: ``ICLR 2026``, ``NeurIPS'25``, ``(ISSTA) 2022``,
  then optionally one qualifier word (``Findings``, ``Workshop``, ``Oral``...);
* a year that starts a conference, workshop or symposium name ending in its acronym:
  ``2025 IEEE/ACM International Workshop on ... (DeepTest)``.

Anything else gives None: better no venue than a wrong one.
"""

from __future__ import annotations

import re

_ACRONYM = r"(?P<name>[A-Z][A-Za-z0-9]*[A-Z][A-Za-z0-9]*|[A-Z]{2,})"
_YEAR = r"(?P<year>(?:19|20)\d\d|'\d\d)"
_QUALIFIER = r"(?:[\s,-]+(?P<extra>Findings|Workshops?|Oral|Spotlight|Poster|Demo|Main(?: Conference| Track)?))?"
_NAMED_YEAR = re.compile(rf"(?<![\w/-]){_ACRONYM}\)?(?:\s*|\s*-\s*){_YEAR}(?![\w/-]){_QUALIFIER}")
_FINDINGS = re.compile(rf"\bFindings of (?:the )?{_ACRONYM}\s*{_YEAR}(?!\w)")
_YEAR_THEN_NAME = re.compile(
    rf"(?<!\w){_YEAR} (?P<long>[A-Z][\w/&,' -]{{0,160}}?\b(?:Conference|Workshops?|Symposium)\b[\w/&,' -]{{0,160}}?)"
    rf"\({_ACRONYM}\)")
# Not venues, though they look like one beside a year: publishers, and words of the trade.
_NOT_VENUES = frozenset({"IEEE", "ACM", "SIAM", "IFIP", "USENIX", "AAAS", "IOP", "APS", "AIP", "LNCS", "CEUR",
                         "PMLR", "ISBN", "DOI", "AI", "ML", "LLM", "LLMS", "GPU", "GPUS", "COVID", "CC", "MIT",
                         "GPT", "ISO", "UTC", "PDF", "JSON", "DNA", "RNA"})
MAX_VENUE = 40


def venue_from_comment(comment: str | None) -> str | None:
    """The venue an arXiv comment names, or None when it names none for certain."""
    if not comment:
        return None
    text = " ".join(comment.split())
    for found in (_findings(text), _named_year(text), _year_then_name(text)):
        if found and len(found) <= MAX_VENUE:
            return found
    return None


def _findings(text: str) -> str | None:
    match = _FINDINGS.search(text)
    if not match or match.group("name").upper() in _NOT_VENUES:
        return None
    return f"{match.group('name')} {_full_year(match.group('year'))} Findings"


def _named_year(text: str) -> str | None:
    for match in _NAMED_YEAR.finditer(text):
        name = match.group("name")
        if name.upper() in _NOT_VENUES:
            continue
        extra = match.group("extra")
        return f"{name} {_full_year(match.group('year'))}" + (f" {extra.capitalize()}" if extra else "")
    return None


def _year_then_name(text: str) -> str | None:
    match = _YEAR_THEN_NAME.search(text)
    if not match or match.group("name").upper() in _NOT_VENUES:
        return None
    return f"{match.group('name')} {_full_year(match.group('year'))}"


def _full_year(year: str) -> str:
    return f"20{year[1:]}" if year.startswith("'") else year
