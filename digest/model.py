"""The plain data classes every stage passes around."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TypedDict, Unpack

_ARXIV_NEW = re.compile(r"(\d{4}\.\d{4,5})(v\d+)?")
# The look-behind starts a match only where a run of letters starts: without it, a long run
# (a 40 KB "url" field in a library, a hostile feed id) took minutes, each start rescanning the run.
_ARXIV_OLD = re.compile(r"(?<![a-z\-])([a-z\-]+(?:\.[A-Z]{2})?/\d{7})(v\d+)?")
_SPACE = re.compile(r"\s+")
# Bidirectional controls (U+202E turns "gpj.exe" into "exe.jpg" on screen) and the
# C0/C1 control characters other than whitespace: never meaningful in a listing,
# and they would reach the Subject line and the HTML as they are.
_INVISIBLE = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
                        "\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")


def normalize_space(text: str) -> str:
    """Collapse runs of whitespace (arXiv hard wraps, tabs, CR/LF) to one space, and drop
    bidirectional and control characters."""
    return _SPACE.sub(" ", _INVISIBLE.sub("", text)).strip()


def title_key(title: str) -> str:
    """A form of a title that survives case, punctuation and wrapping changes."""
    text = unicodedata.normalize("NFKC", title).casefold()
    return " ".join(re.findall(r"\w+", text))


def arxiv_id(text: str) -> str | None:
    """The versionless arXiv id inside ``text`` (an id, abs/pdf URL or OAI guid)."""
    match = _ARXIV_NEW.search(text) or _ARXIV_OLD.search(text)
    return match.group(1) if match else None


def title_id(title: str) -> str:
    """A stable id for papers without an arXiv id: a hash of the title key."""
    digest = hashlib.sha256(title_key(title).encode()).hexdigest()[:16]
    return f"title:{digest}"


@dataclass(frozen=True, slots=True)
class Paper:
    """One paper from a listing; untrusted text, already whitespace-normalised."""

    id: str
    title: str
    abstract: str
    authors: tuple[str, ...] = ()
    authors_count: int | None = None
    published: date | None = None
    upvotes: int | None = None
    url: str | None = None
    github: str | None = None
    organization: str | None = None
    keywords: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "title": self.title,
            "abstract": self.abstract,
            "authors": list(self.authors),
            "authors_count": self.authors_count,
            "published": self.published.isoformat() if self.published else None,
            "upvotes": self.upvotes,
            "url": self.url,
            "github": self.github,
            "organization": self.organization,
            "keywords": list(self.keywords),
        }


class PaperExtra(TypedDict, total=False):
    """The optional fields of a Paper that make_paper takes as keywords."""

    authors_count: int | None
    published: date | None
    upvotes: int | None
    url: str | None
    github: str | None
    organization: str | None
    keywords: tuple[str, ...]


class MissingText(ValueError):
    """A paper without a title or an abstract once its text is cleaned."""


def make_paper(
    title: str,
    abstract: str,
    *,
    id: str | None = None,
    authors: tuple[str, ...] | list[str] = (),
    **extra: Unpack[PaperExtra],
) -> Paper:
    """Build a Paper with normalised text and a stable id.

    Raises MissingText when the title or abstract is empty once cleaned (a title
    made only of bidirectional controls, say); loaders skip such items.
    """
    clean_title, clean_abstract = normalize_space(title), normalize_space(abstract)
    if not clean_title or not clean_abstract:
        raise MissingText("missing title" if not clean_title else "missing abstract")
    clean_id = normalize_space(id) if id else ""
    found = arxiv_id(clean_id) if clean_id else None
    paper_id = found or clean_id or title_id(clean_title)
    names = tuple(name for name in (normalize_space(a) for a in authors if a) if name)
    url = _clean(extra.get("url"))
    authors_count = extra.get("authors_count")
    fields: PaperExtra = {
        **extra,
        "url": f"https://arxiv.org/abs/{found}" if url is None and found else url,
        "github": _clean(extra.get("github")),
        "organization": _clean(extra.get("organization")),
        "authors_count": len(names) if authors_count is None and names else authors_count,
    }
    return Paper(id=paper_id, title=clean_title, abstract=clean_abstract, authors=names, **fields)


def _clean(text: str | None) -> str | None:
    """Optional text normalised; blank is None."""
    return normalize_space(text) or None if isinstance(text, str) else text


@dataclass(frozen=True, slots=True)
class Listing:
    """The papers a source gave, with warnings about items it had to skip.

    ``notes`` say what is worth knowing but is not a problem: an empty day, a
    listing served from the cache while offline.
    """

    source: str
    papers: list[Paper]
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Subscriber:
    """One reader: where to send and what they want."""

    email: str
    keywords: tuple[str, ...]
    name: str = ""
    max_items: int | None = None
    min_score: float | None = None
    enabled: bool = True
    library: Path | None = None  # a file of liked papers (digest.library)
