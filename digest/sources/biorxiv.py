"""bioRxiv and medRxiv: ``biorxiv:SUBJECT`` and ``medrxiv:SUBJECT`` from their public details API.

One API serves both servers (``https://api.biorxiv.org``):

    GET /details/{server}/{from}/{to}/{cursor}/json[?category=cell_biology]

answers ``{"messages": [{"status": "ok", "cursor": 0, "count": 100, "total": 233, ...}],
"collection": [{"doi", "title", "authors": "Last, F.; Other, A.", "date", "version",
"abstract", "category", "published", ...}]}``, at most 100 preprints a page; the next
page starts at ``cursor + count``. Every request goes through the shared polite
:class:`~digest.sources.http.Fetcher` (retries, cache, size and time bounds).

The interval is the lookback: from ``DIGEST_LOOKBACK_DAYS`` days before today to
today, so a preprint posted after one run's request is in the next run's (a reader
is never sent one paper twice). A preprint revised in the interval is listed once
per version: the newest is kept.

Subjects are checked against each server's list before anything is fetched. For
bioRxiv the API's own ``category`` filter is asked for; medRxiv's category names
carry qualifiers ("Infectious Diseases (except HIV/AIDS)") the filter wants spelled
exactly, so there digest asks for every preprint and keeps the subject's itself.
Either way each preprint's ``category`` field is checked here too.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from ..errors import ConfigError, EmptyListingError, ListingError, SourceError
from ..model import Listing, MissingText, Paper, make_paper
from .json_formats import Fields, Warnings, loads
from .parse import no_papers, parsed

MAX_PAGES = 200  # 6,000 preprints a request chain at 30 a page (DIGEST_MAX_PAPERS caps the listing anyway)
SITES = {"biorxiv": ("bioRxiv", "https://www.biorxiv.org"), "medrxiv": ("medRxiv", "https://www.medrxiv.org")}

BIORXIV_SUBJECTS = (
    "animal behavior and cognition", "biochemistry", "bioengineering", "bioinformatics", "biophysics",
    "cancer biology", "cell biology", "clinical trials", "developmental biology", "ecology", "epidemiology",
    "evolutionary biology", "genetics", "genomics", "immunology", "microbiology", "molecular biology",
    "neuroscience", "paleontology", "pathology", "pharmacology and toxicology", "physiology", "plant biology",
    "scientific communication and education", "synthetic biology", "systems biology", "zoology",
)
MEDRXIV_SUBJECTS = (
    "addiction medicine", "allergy and immunology", "anesthesia", "cardiovascular medicine",
    "dentistry and oral medicine", "dermatology", "emergency medicine", "endocrinology", "epidemiology",
    "forensic medicine", "gastroenterology", "genetic and genomic medicine", "geriatric medicine",
    "health economics", "health informatics", "health policy", "health systems and quality improvement",
    "hematology", "hiv aids", "infectious diseases", "intensive care and critical care medicine",
    "medical education", "medical ethics", "nephrology", "neurology", "nursing", "nutrition",
    "obstetrics and gynecology", "occupational and environmental health", "oncology", "ophthalmology",
    "orthopedics", "otolaryngology", "pain medicine", "palliative medicine", "pathology", "pediatrics",
    "pharmacology and therapeutics", "primary care research", "psychiatry and clinical psychology",
    "public and global health", "radiology and imaging", "rehabilitation medicine and physical therapy",
    "respiratory medicine", "rheumatology", "sexual and reproductive health", "sports medicine", "surgery",
    "toxicology", "transplantation", "urology",
)
SUBJECTS = {"biorxiv": BIORXIV_SUBJECTS, "medrxiv": MEDRXIV_SUBJECTS}
_QUALIFIER = re.compile(r"\([^)]*\)")
_NOT_WORD = re.compile(r"[^0-9a-z]+")


def subject_key(text: str) -> str:
    """``Cell_Biology``, ``cell biology`` and ``Infectious Diseases (except HIV/AIDS)`` as one spelling."""
    return " ".join(_NOT_WORD.sub(" ", _QUALIFIER.sub(" ", text.lower())).split())


@dataclass
class RxivSource:
    """The preprints one server posted in the lookback interval, in some subjects or all (``()``)."""

    server: str  # "biorxiv" or "medrxiv"
    subjects: tuple[str, ...] = ()
    needs_http = True

    @property
    def name(self) -> str:
        return f"{self.server}:{'+'.join(s.replace(' ', '_') for s in self.subjects) or 'all'}"

    def interval(self, context: Any) -> tuple[date, date]:
        return context.today - timedelta(days=max(context.lookback_days, 1)), context.today

    def fetch(self, context: Any) -> Listing:
        if context.http is None:
            raise SourceError(self.name, "no HTTP client available for a live source")
        papers: dict[str, Paper] = {}
        warnings = Warnings()
        oldest: list[float] = []
        for ask, keep in self.queries():
            for paper in self._fetch_query(context, ask, keep, warnings, oldest):
                kept = papers.get(paper.id)
                if kept is None or _version(paper) > _version(kept):
                    papers[paper.id] = paper
        if oldest and context.http.offline:
            from .http import describe_age  # the live sources' one way of saying it

            context.notes.append(f"{self.name}: offline, using the cache (oldest copy "
                                 f"{describe_age(context.http.clock() - min(oldest))})")
        if not papers and warnings.shown:  # preprints came, none could be read: not a quiet week
            raise no_papers(self.name, warnings.lines())
        if not papers:
            start, end = self.interval(context)
            raise EmptyListingError(self.name, f"no preprints posted from {start} to {end}")
        return Listing(source=self.name, papers=list(papers.values()), warnings=warnings.lines(), day=context.today)

    def queries(self) -> list[tuple[str | None, tuple[str, ...]]]:
        """(the category the API is asked for, the subjects kept of what it answers), one per request chain."""
        if self.server == "biorxiv" and self.subjects:
            return [(subject, (subject,)) for subject in self.subjects]
        return [(None, self.subjects)]

    def _fetch_query(self, context: Any, ask: str | None, keep: tuple[str, ...], warnings: Warnings,
                     oldest: list[float]) -> list[Paper]:
        start, end = self.interval(context)
        base = f"{context.biorxiv_base_url.rstrip('/')}/details/{self.server}/{start}/{end}"
        params = {"category": ask.replace(" ", "_")} if ask else None
        papers: list[Paper] = []
        seen: set[tuple[str, int]] = set()
        cursor = 0
        for _ in range(MAX_PAGES):
            fetched, page = parsed(context.http, context.http.get(f"{base}/{cursor}/json", params),
                                   lambda got: parse_page(got.content, got.url, self.server, keep, warnings,
                                                          asked=ask is not None))
            if fetched.from_cache:
                oldest.append(fetched.fetched_at)
            new = [p for p in page.papers if (p.id, _version(p)) not in seen]
            seen.update((p.id, _version(p)) for p in new)
            papers.extend(new)
            cursor += page.count  # the cursor is a record offset: step by what came (30 a page today, 100 once)
            if not page.count or (page.total is not None and cursor >= page.total) or (not new and page.papers):
                break
        else:
            warnings.add(f"stopped after {MAX_PAGES} pages ({cursor} of {page.total or 'more'} preprints); "
                         "shorten DIGEST_LOOKBACK_DAYS or name subjects")
        return papers


def _version(paper: Paper) -> int:
    match = re.search(r"v(\d+)$", paper.url or "")
    return int(match.group(1)) if match else 0


@dataclass
class Page:
    """One page of the details API: its preprints, how many items it had, and the interval's total."""

    papers: list[Paper] = field(default_factory=list)
    count: int = 0
    total: int | None = 0


def parse_page(content: bytes, url: str, server: str, keep: tuple[str, ...], warnings: Warnings, *,
               asked: bool = False) -> Page:
    """The preprints of one response in the subjects ``keep`` (all when empty); an item that is
    not a preprint is skipped with a warning. ``asked``: the API was asked for the subject, so
    a preprint that names no category is taken as one of it."""
    data = _document(content, url)
    messages = data.get("messages")
    message = messages[0] if isinstance(messages, list) and messages and isinstance(messages[0], dict) else {}
    items = data.get("collection")
    if not isinstance(items, list):
        if str(message.get("status", "")).strip().lower() not in ("", "ok"):  # "no posts found"
            return Page()
        raise ListingError(url, "not a bioRxiv details response: no \"collection\" array")
    total = Fields().count(message.get("total"), "total")
    page = Page(count=len(items), total=total)  # no total: the walk goes on until an empty page
    for item in items:
        paper = _paper(item, server, warnings)
        if paper is not None and (not keep or _in_subjects(item, keep, asked)):
            page.papers.append(paper)
    return page


def _document(content: bytes, url: str) -> dict[str, Any]:
    try:
        data = loads(content.decode("utf-8-sig"))
    except UnicodeDecodeError as err:
        raise ListingError(url, f"not valid UTF-8 (bad byte at offset {err.start})") from err
    except (ValueError, RecursionError) as err:
        start = content.lstrip()[:15].lower()
        what = "an HTML page (an error page?)" if start.startswith((b"<!doctype", b"<html")) else "malformed JSON"
        raise ListingError(url, f"not a bioRxiv details response: {what}") from err
    if not isinstance(data, dict):
        raise ListingError(url, "not a bioRxiv details response: expected a JSON object")
    return data


def _in_subjects(item: Any, keep: tuple[str, ...], asked: bool) -> bool:
    """The preprint's own category is one of the subjects asked for."""
    category = item.get("category") if isinstance(item, dict) else None
    if not isinstance(category, str) or not category.strip():
        return asked  # the API's filter chose it; nothing here says otherwise
    return subject_key(category) in {subject_key(subject) for subject in keep}


def _paper(item: Any, server: str, warnings: Warnings) -> Paper | None:
    if not isinstance(item, dict):
        warnings.add(f"a {type(item).__name__} in the collection skipped: not a preprint")
        return None
    doi = item.get("doi")
    label = f"preprint {doi}" if isinstance(doi, str) else "a preprint"
    if not isinstance(doi, str) or not re.fullmatch(r"10\.\d{4,9}/\S+", doi.strip()):
        warnings.add(f"{label} skipped: no DOI")
        return None
    fields = Fields()
    try:
        paper = _make(item, doi.strip(), server, fields)
    except MissingText as err:
        warnings.add(f"{label} skipped: {err}")
        return None
    if fields.dropped:
        warnings.add(f"{label}: ignored {', '.join(fields.dropped)}")
    return paper


def _make(item: dict[str, Any], doi: str, server: str, fields: Fields) -> Paper:
    version = fields.count(item.get("version"), "version")
    suffix = f"v{version}" if version else ""
    title: Any = item.get("title")  # make_paper checks its type (MissingText), and the abstract's
    abstract: Any = item.get("abstract")
    paper = make_paper(
        title, abstract,
        id=doi,
        authors=_authors(fields.text(item.get("authors"), "authors")),
        published=fields.day(item.get("date"), "date"),
        url=f"{SITES[server][1]}/content/{doi}{suffix}",
        organization=fields.text(item.get("author_corresponding_institution"), "author_corresponding_institution"),
        doi=doi,
    )
    return paper if paper.id == doi else replace(paper, id=doi)  # never taken for an arXiv id inside the DOI


def _authors(text: str | None) -> list[str]:
    """``"Smith, Jane A.; Lee, M."`` -> ``["Jane A. Smith", "M. Lee"]`` (a name without a comma stays)."""
    names = []
    for part in (text or "").split(";"):
        last, comma, first = part.partition(",")
        name = f"{first.strip()} {last.strip()}" if comma and first.strip() else last.strip()
        if name:
            names.append(name)
    return names


def parse_spec(spec: str) -> RxivSource:
    """``biorxiv:neuroscience``, ``medrxiv:infectious_diseases``, ``biorxiv:genomics+genetics``, ``biorxiv:all``."""
    server, _, text = spec.partition(":")
    server = server.strip().lower()
    parts = [part.strip() for part in text.split("+")]
    if [subject_key(p) for p in parts] == ["all"]:
        return RxivSource(server)
    known = {subject_key(name): name for name in SUBJECTS[server]}
    subjects: list[str] = []
    for part in parts:
        name = known.get(subject_key(part))
        if name is None:
            raise ConfigError(_unknown_subject(spec, server, part, list(known)))
        subjects.append(name)
    return RxivSource(server, tuple(dict.fromkeys(subjects)))


def _unknown_subject(spec: str, server: str, part: str, known: list[str]) -> str:
    close = difflib.get_close_matches(subject_key(part), known, n=1)
    hint = f"did you mean {server}:{close[0].replace(' ', '_')}? " if close else ""
    what = f"{part[:60]!r} is not a {SITES[server][0]} subject" if part else "no subject"
    return (f"source {spec[:80]!r}: {what}; {hint}use e.g. {server}:{known[0].replace(' ', '_')}, "
            f"or {server}:all (the subjects are listed in the README)")
