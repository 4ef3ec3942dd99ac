"""The plain data classes every stage passes around."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from datetime import date
from pathlib import Path
from typing import TypedDict, Unpack

from .text import cut_words
from .titles import readable_title

_ARXIV_NEW = re.compile(r"(\d{4}\.\d{4,5})(v\d+)?")
# The look-behind starts a match only where a run of letters starts: without it, a long run
# (a 40 KB "url" field in a library, a hostile feed id) took minutes, each start rescanning the run.
_ARXIV_OLD = re.compile(r"(?<![a-z\-])([a-z\-]+(?:\.[A-Z]{2})?/\d{7})(v\d+)?")
_SPACE = re.compile(r"\s+")
# Bidirectional controls (U+202E turns "gpj.exe" into "exe.jpg" on screen) and the
# C0/C1 control characters other than whitespace: never meaningful in a listing,
# and they would reach the Subject line and the HTML as they are. With them the
# invisible breaks that split a word for matching while showing it whole (zero-width
# space, word joiner, BOM, soft hyphen: "pre\u00adtraining" is "pretraining"); the
# zero-width (non-)joiners stay, which some scripts and emoji need. And what shows as nothing
# at all: invisible maths operators (U+2061-2064), the Mongolian vowel separator, the Hangul
# fillers, and the tag characters (U+E0000-E007F), which spell ASCII no one sees but a
# summarising model reads ("ASCII smuggling"; a subdivision flag loses its region, shown as 🏴).
INVISIBLE_MARKS = ("\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u200b\u2060\ufeff\u00ad"  # a regex class's inside
                   "\u2061-\u2064\u180e\u115f\u1160\u3164\uffa0\U000e0000-\U000e007f")
_INVISIBLE = re.compile(f"[{INVISIBLE_MARKS}\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_HTTPS_URL = re.compile(r"^https://[^\s\"'<>\\]+$")
_WEB_URL = re.compile(r"^https?://[^\s\"'<>]+$")
# Far beyond any real title (arXiv's longest are ~300 characters) or abstract (arXiv allows 1,920): a
# longer one is cut at a word, so a 10 MB field cannot stall the title's markdown and LaTeX reading or
# the ranker, whose work grows with the square of a keyword's occurrences in one paper.
MAX_TITLE_CHARS = 1_000
MAX_ABSTRACT_CHARS = 20_000


def encodable(text: str) -> str:
    """``text`` as UTF-8 can encode it: a surrogate pair written as two escapes becomes the
    character it stands for, and a lone surrogate (JSON's ``"\\ud800"``) becomes U+FFFD.

    Surrogates are the only code points a Python string may hold that no UTF-8 encoder
    takes; one left in a title would stop the digest at the first ``.encode()``.
    """
    if not _SURROGATE.search(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def normalize_space(text: str) -> str:
    """Collapse runs of whitespace (arXiv hard wraps, tabs, CR/LF) to one space, drop
    bidirectional and control characters, and mend what UTF-8 cannot encode."""
    return _SPACE.sub(" ", _INVISIBLE.sub("", encodable(text))).strip()


def title_key(title: str) -> str:
    """A form of a title that survives case, punctuation and wrapping changes."""
    text = unicodedata.normalize("NFKC", title).casefold()
    return " ".join(re.findall(r"\w+", text))


def arxiv_id(text: str) -> str | None:
    """The versionless arXiv id inside ``text`` (an id, abs/pdf URL or OAI guid)."""
    match = _ARXIV_NEW.search(text) or _ARXIV_OLD.search(text)
    return match.group(1) if match else None


_DOI = re.compile(r"10\.\d{4,9}/\S+")


def clean_doi(text: object) -> str | None:
    """The DOI in ``text`` (a bare DOI, ``doi:``, or a doi.org URL), lower case (DOIs ignore case); else None."""
    match = _DOI.search(text) if isinstance(text, str) else None
    return match.group(0).rstrip(".,;").lower() if match else None


def title_id(title: str) -> str:
    """A stable id for papers without an arXiv id: a hash of the title key."""
    digest = hashlib.sha256(title_key(title).encode()).hexdigest()[:16]
    return f"title:{digest}"


HF_SUMMARY_BY = "Hugging Face"  # the label of an ai_summary (Hugging Face's summaries are English)


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
    summary: str | None = None  # a short plain-text summary (HF's ai_summary, or an LLM's)
    summary_by: str | None = None  # who wrote it, shown as its label: "Hugging Face", an LLM model name
    thumbnail: str | None = None  # an https URL of a picture of the paper
    stars: int | None = None  # GitHub stars of the code repository
    venue: str | None = None  # where it is published: "ICLR 2026", from the arXiv comment
    doi: str | None = None  # lower case, without https://doi.org/: merges one paper listed by bioRxiv and arXiv
    hf_users: tuple[str, ...] = ()  # the Hugging Face user names of the authors who claimed the paper there

    def to_json(self) -> dict[str, object]:
        """The paper as JSON; the DOI and HF user names only when there are some (older copies have none)."""
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
            "summary": self.summary,
            "summary_by": self.summary_by,
            "thumbnail": self.thumbnail,
            "stars": self.stars,
            "venue": self.venue,
            **({"doi": self.doi} if self.doi else {}),
            **({"hf_users": list(self.hf_users)} if self.hf_users else {}),
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
    summary: str | None
    summary_by: str | None
    thumbnail: str | None
    stars: int | None
    venue: str | None
    doi: str | None
    hf_users: tuple[str, ...]


class MissingText(ValueError):
    """A paper without a title or an abstract once its text is cleaned, or whose title or
    abstract is not text at all."""


def make_paper(
    title: str,
    abstract: str,
    *,
    id: str | None = None,
    authors: tuple[str, ...] | list[str] = (),
    **extra: Unpack[PaperExtra],
) -> Paper:
    """Build a Paper with normalised text and a stable id.

    Every loader comes through here, so this is where listing text is made safe for
    every later stage: whitespace collapsed, controls dropped, surrogates mended
    (``encodable``), the title's LaTeX and markdown turned into plain text
    (``readable_title``), a title or abstract longer than ``MAX_TITLE_CHARS`` or
    ``MAX_ABSTRACT_CHARS`` cut at a word, and each field checked by type, whatever the caller
    passed (an optional field that is not what it should be is dropped; a thumbnail must be https).

    Raises MissingText when the title or abstract is not text, or is empty once
    cleaned (a title made only of bidirectional controls, say); loaders skip such items.
    """
    clean_title = normalize_space(readable_title(_required(title, "title", MAX_TITLE_CHARS)))
    clean_abstract = _required(abstract, "abstract", MAX_ABSTRACT_CHARS)
    clean_id = _clean(str(id) if type(id) is int else id) or ""
    found = arxiv_id(clean_id) if clean_id else None
    names = _texts(authors)
    url = _clean(extra.get("url"))
    authors_count = _count(extra.get("authors_count"))
    published = extra.get("published")
    fields: PaperExtra = {
        "url": f"https://arxiv.org/abs/{found}" if url is None and found else url,
        "github": _clean(extra.get("github")),
        "organization": _clean(extra.get("organization")),
        "authors_count": len(names) if authors_count is None and names else authors_count,
        "published": published if isinstance(published, date) else None,
        "upvotes": _count(extra.get("upvotes")),
        "keywords": _texts(extra.get("keywords", ())),
        "summary": _clean(extra.get("summary")),
        "summary_by": _clean(extra.get("summary_by")),
        "thumbnail": _https(extra.get("thumbnail")),
        "stars": _count(extra.get("stars")),
        "venue": _clean(extra.get("venue")),
        "doi": clean_doi(extra.get("doi")),
        "hf_users": _texts(extra.get("hf_users", ())),
    }
    return Paper(id=found or clean_id or title_id(clean_title), title=clean_title, abstract=clean_abstract,
                 authors=names, **fields)


def paper_from_stored(data: dict[str, object]) -> Paper:
    """A Paper back from ``Paper.to_json`` (the store's copy; fields it does not know are ignored)."""
    known = {f.name for f in dataclass_fields(Paper)}
    values: dict[str, object] = {k: v for k, v in data.items() if k in known}
    for name in ("authors", "keywords", "hf_users"):
        items = values.get(name)
        values[name] = tuple(items) if isinstance(items, (list, tuple)) else ()
    if isinstance(values.get("published"), str):
        values["published"] = date.fromisoformat(str(values["published"]))
    return Paper(**values)  # type: ignore[arg-type]


def _required(text: object, name: str, limit: int) -> str:
    """``text`` cleaned, and cut at a word to at most ``limit`` characters."""
    if text is None:
        raise MissingText(f"missing {name}")
    if not isinstance(text, str):
        raise MissingText(f"{name} is {_kind(text)}, not text")
    clean = normalize_space(text)
    if not clean:
        raise MissingText(f"missing {name}")
    return cut_words(clean, limit)


def _clean(text: object) -> str | None:
    """Optional text normalised; blank, or not text at all, is None."""
    return normalize_space(text) or None if isinstance(text, str) else None


def _texts(values: object) -> tuple[str, ...]:
    """The entries of a list that are text, cleaned; blank ones and the rest dropped."""
    if not isinstance(values, (list, tuple)):
        return ()
    return tuple(clean for value in values if (clean := _clean(value)))


def web_url(url: str | None) -> str | None:
    """The URL if it is http(s) without spaces, quotes or brackets: only those from a listing reach a reader
    (a link in the email or a page, an export for a reference manager); a ``javascript:`` URL never does."""
    return url if url and _WEB_URL.match(url) else None


def _https(value: object) -> str | None:
    """An https URL without spaces or quotes, or None: a picture over http (or a ``javascript:``
    or ``data:`` URL) would make the mail app warn, or worse."""
    url = _clean(value)
    return url if url and _HTTPS_URL.match(url) else None


def _count(value: object) -> int | None:
    return value if type(value) is int and value >= 0 else None


def _kind(value: object) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "a number"
    return f"a {type(value).__name__}"


@dataclass(frozen=True, slots=True)
class Listing:
    """The papers a source gave, with warnings about items it had to skip.

    ``notes`` say what is worth knowing but is not a problem: an empty day, a
    listing served from the cache while offline. ``day`` is the day the listing
    itself names, when it names one: the Hugging Face Daily Papers day it was
    published for (not the arXiv dates of its papers, which are earlier), or the
    date a saved page shows. The digest is dated by it. ``failed`` names the
    sources of several that could not be read and were skipped (a warning says
    why), as a run records the sources it read (``digest.sources.source_name``):
    the run counts for the others' catch-up look-back, not for theirs. A source that read only some of its
    days (Daily Papers with a day of its look-back unreadable, or offline without a cached copy) is named
    too: its papers from the other days are in the listing, and the next run reads the skipped day again.
    """

    source: str
    papers: list[Paper]
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    day: date | None = None
    failed: list[str] = field(default_factory=list)


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
    language: str | None = None  # of the LLM summaries (digest.summaries); None: English
    authors: tuple[str, ...] = ()  # followed: "Yann LeCun", "LeCun, Y.", "@ylecun" (digest.ranking.authors)
    orgs: tuple[str, ...] = ()  # followed labs: "Meta AI" (the listing's organisation)
