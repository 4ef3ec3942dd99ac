"""A reading list as reference-manager files: BibTeX and RIS (what Zotero, JabRef, Mendeley import).

Titles, names and abstracts come from listings, so they are untrusted text; here
they must stay text in a format where some characters are commands:

- BibTeX: the LaTeX specials (``\\ { } $ & % # _ ~ ^``) are written as the
  commands that print them, and the ligatures TeX would make (``--`` into a
  dash, two quotes into a curly one) are broken by an empty group, so that a
  title like ``50% {off} $\\alpha$ -- ½`` reads back as exactly that, and no field
  can close early or open an ``@`` entry of its own (in a parser that skips escaped
  braces, such as bibtexparser; classic bibtex counts them, so a title
  with unbalanced braces may cost that one entry there). Non-ASCII text is written
  as UTF-8 (biber, Zotero and JabRef read it; so does bibtex with inputenc).
  A name holding " and " or a comma is braced whole, so it stays one name.
  URLs, DOIs and arXiv ids are written only when they are plain (no spaces,
  braces or backslashes): verbatim fields, they are never escaped.
- RIS: one ``TAG  - value`` line per field; a value is one line (whitespace,
  line breaks included, collapsed), so no value can end its record.

Keys are stable: the same paper has the same key in every export, whatever else
the list holds (``lovelace2024reward-2411.00001``: first author's surname, year,
first title word, and the arXiv id or a short hash of the paper id, which keeps
keys unique).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable

from .model import Paper, arxiv_id, web_url

BIBTEX_TYPE = "application/x-bibtex; charset=utf-8"
RIS_TYPE = "application/x-research-info-systems; charset=utf-8"

_SPECIALS = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "%": r"\%", "#": r"\#",
             "_": r"\_", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_SPECIAL = re.compile("[" + re.escape("".join(_SPECIALS)) + "]")
_LIGATURE = re.compile(r"(?<=-)(?=-)|(?<=`)(?=`)|(?<=')(?=')|(?<=[!?])(?=`)|(?<=[<>])(?=[<>])|(?<=,)(?=,)")
_PLAIN = re.compile(r"^[^\s{}\\\"]+$")
_STOPWORDS = frozenset("a an the on of in for to and with from by at is are via towards toward".split())


def bibtex_escape(text: str) -> str:
    """Untrusted text as the content of a braced BibTeX field: printed as it reads, never a command."""
    escaped = _SPECIAL.sub(lambda m: _SPECIALS[m[0]], " ".join(text.split()))
    return _LIGATURE.sub("{}", escaped)


def cite_key(paper: Paper) -> str:
    """``surnameYEARword-id``: readable, and the same for a paper in every export."""
    surname = _ascii_word(paper.authors[0].split()[-1]) if paper.authors and paper.authors[0].split() else ""
    words = [_ascii_word(w) for w in paper.title.split()]
    word = next((w for w in words if w[:1].isalpha() and w not in _STOPWORDS), "")
    year = year_of(paper)
    known = arxiv_id(paper.id)
    tail = known.replace("/", "-") if known == paper.id else hashlib.sha256(paper.id.encode()).hexdigest()[:8]
    return f"{surname or 'anon'}{year or ''}{word}-{tail}"


def year_of(paper: Paper) -> int | None:
    """The published year; else the one an arXiv id carries (``2411.00001``: 2024; ``hep-th/9901001``: 1999)."""
    if paper.published:
        return paper.published.year
    known = arxiv_id(paper.id)
    digits = re.search(r"(\d{2})\d{2}[.\d]", known.split("/")[-1]) if known == paper.id and known else None
    if digits is None:
        return None
    two = int(digits[1])
    return 1900 + two if two >= 91 else 2000 + two


def to_bibtex(papers: Iterable[Paper]) -> str:
    return "\n".join(_bibtex_entry(paper) for paper in papers)


def _bibtex_entry(paper: Paper) -> str:
    fields: list[tuple[str, str]] = [("title", bibtex_escape(paper.title))]
    if paper.authors:
        fields.append(("author", " and ".join(_bibtex_name(name) for name in paper.authors)))
    year = year_of(paper)
    if year:
        fields.append(("year", str(year)))
    known = arxiv_id(paper.id)
    if known == paper.id:
        fields += [("eprint", known), ("archivePrefix", "arXiv")]
    fields += [(name, value) for name, value in (("doi", paper.doi), ("url", link_of(paper)))
               if value and _PLAIN.match(value)]
    if paper.venue:
        fields.append(("note", bibtex_escape(paper.venue)))
    if paper.abstract:
        fields.append(("abstract", bibtex_escape(paper.abstract)))
    body = "".join(f"  {name} = {{{value}}},\n" for name, value in fields)
    return f"@misc{{{cite_key(paper)},\n{body}}}\n"


def link_of(paper: Paper) -> str | None:
    """The paper's http(s) page, as the email links it: else its arXiv page, else none."""
    known = arxiv_id(paper.id)
    return web_url(paper.url) or (f"https://arxiv.org/abs/{known}" if known == paper.id else None)


def _bibtex_name(name: str) -> str:
    escaped = bibtex_escape(name)
    return f"{{{escaped}}}" if re.search(r"\band\b|,", name, re.I) else escaped


def to_ris(papers: Iterable[Paper]) -> str:
    return "".join(_ris_record(paper) for paper in papers)


def _ris_record(paper: Paper) -> str:
    lines = [("TY", "UNPB"), ("ID", cite_key(paper)), ("TI", paper.title)]
    lines += [("AU", name) for name in paper.authors]
    year = year_of(paper)
    if year:
        lines.append(("PY", str(year)))
    if paper.published:
        lines.append(("DA", paper.published.strftime("%Y/%m/%d")))
    lines += [(tag, value) for tag, value in (("DO", paper.doi), ("UR", link_of(paper))) if value and _PLAIN.match(value)]
    lines += [(tag, value) for tag, value in (("N1", paper.venue), ("AB", paper.abstract)) if value]
    text = "".join(f"{tag}  - {' '.join(value.split())}\r\n" for tag, value in lines)
    return text + "ER  - \r\n\r\n"


def _ascii_word(text: str) -> str:
    """Letters and digits of ``text``, accents dropped, lower case (``Łukasz`` -> ``ukasz``, ``Gödel`` -> ``godel``)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", folded.lower())
