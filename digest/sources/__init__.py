"""Where listings come from: files, the bundled sample, and live web sources.

Every source has the same small interface (``fetch(context) -> Listing``) and is
chosen by its spec's prefix from a registry, never an if/elif chain.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from ..errors import ConfigError, EmptyListingError, ListingError, SourceError, expand_home, shown_url
from ..model import Listing, Paper
from .distinct import Distinct
from .files import load_listing_file
from .parse import parse_listing

log = logging.getLogger("digest.sources")
DEFAULT_MAX_PAPERS = 5000
DEFAULT_MAX_BYTES = 50_000_000


@dataclass
class FetchContext:
    """What a source may use: the date, and (for live sources) the HTTP fetcher."""

    today: date
    http: Any = None
    lookback_days: int = 1
    announce_types: frozenset[str] = frozenset({"new", "cross"})
    hf_base_url: str = "https://huggingface.co"
    arxiv_base_url: str = "https://rss.arxiv.org"
    biorxiv_base_url: str = "https://api.biorxiv.org"  # DIGEST_BIORXIV_BASE_URL: bioRxiv's and medRxiv's API
    notes: list[str] = field(default_factory=list)
    max_papers: int = DEFAULT_MAX_PAPERS  # DIGEST_MAX_PAPERS: papers kept per listing
    max_bytes: int = DEFAULT_MAX_BYTES  # DIGEST_HTTP_MAX_BYTES: a file read whole is no larger


class Source(Protocol):
    @property
    def name(self) -> str: ...  # read-only: a plain attribute or a property both satisfy it

    def fetch(self, context: FetchContext) -> Listing: ...


@dataclass
class FileSource:
    path: Path

    @property
    def name(self) -> str:
        return str(self.path)

    def fetch(self, context: FetchContext) -> Listing:
        return load_listing_file(
            self.path, today=context.today, announce_types=context.announce_types,
            max_papers=context.max_papers, max_bytes=context.max_bytes,
        )


@dataclass
class SampleSource:
    name: str = "sample"

    def fetch(self, context: FetchContext) -> Listing:
        data = resources.files("digest").joinpath("data/sample.jsonl").read_bytes()
        return parse_listing(data, self.name, today=context.today)


_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
SourceFactory = Callable[[str], Source]
_REGISTRY: dict[str, SourceFactory] = {"sample": lambda spec: SampleSource()}
_PREFIXES: list[tuple[str, SourceFactory]] = []


def register(exact: str | None = None, prefix: str | None = None) -> Callable[[SourceFactory], SourceFactory]:
    def add(factory: SourceFactory) -> SourceFactory:
        if exact:
            _REGISTRY[exact] = factory
        if prefix:
            _PREFIXES.append((prefix, factory))
        return factory

    return add


def split_sources(spec: str) -> list[str]:
    """``"hf, arxiv:cs.LG, ./saved.txt"`` -> its comma-separated parts; a comma in a URL's query with no
    space after it stays in the URL (``https://export.arxiv.org/api/query?id_list=2401.1,2401.2`` is one)."""
    parts: list[str] = []
    for piece in spec.split(","):
        if parts and _URL.match(parts[-1]) and "?" in parts[-1] and piece[:1] not in ("", " ", "\t"):
            parts[-1] += "," + piece.rstrip()
        else:
            parts.append(piece.strip())
    return [part for part in parts if part]


def resolve(spec: str) -> list[Source]:
    """``"hf, arxiv:cs.LG, ./saved.txt"`` -> one Source per part (``split_sources``)."""
    parts = split_sources(spec)
    if not parts:
        raise ConfigError("no source given: set DIGEST_SOURCE or pass --source (e.g. sample)")
    return [_resolve_one(part) for part in parts]


def source_names(spec: str) -> list[str]:
    """The sources ``spec`` names (``resolve``), sorted, each once, by a name the same however the spec writes
    it: ``arxiv: cs.LG`` as ``arxiv:cs.LG``, a file by its absolute path (``./saved.json`` and ``saved.json`` are
    one file, the same name in another folder another). What a run records as the sources it read, and what the
    catch-up's look-back asks for (``Digest.last_run_day``); a ``ConfigError`` for a spec no source reads."""
    return sorted({source_name(source) for source in resolve(spec)})


def source_name(source: Source) -> str:
    """The name a run records for ``source`` (``source_names``): a file by its absolute path, a URL with a key
    in its query (``?key=``, ``&access_token=``) or a password as ``***`` (``shown_url``), so the state database
    holds no key. The look-back compares these masked names: two URLs that differ only in a key are one source
    (the same feed with a new key keeps its look-back)."""
    return os.path.abspath(source.path) if isinstance(source, FileSource) else shown_url(source.name)


def _resolve_one(spec: str) -> Source:
    if spec in _REGISTRY:
        return _REGISTRY[spec](spec)
    for prefix, factory in _PREFIXES:
        if spec.startswith(prefix):
            return factory(spec)
    if _URL.match(spec):  # a URL of another kind, not a file name (Path would fold "ftp://x" into "ftp:/x")
        raise ConfigError(f"{spec}: not a source digest can read; a source is an http(s) URL, a file, "
                          "sample, hf, hf:YYYY-MM-DD, arxiv:CATS, biorxiv:SUBJECT or medrxiv:SUBJECT")
    return FileSource(expand_home(Path(spec)))


def fetch_all(sources: list[Source], context: FetchContext) -> Listing:
    """Merge the sources' papers by id; one failing source only warns, and is named in ``Listing.failed``, as is
    one that loaded only in part (its own listing's ``failed``: a day of its look-back skipped)."""
    papers: dict[str, Paper] = {}
    warnings: list[str] = []
    failures: list[str] = []
    failed: list[str] = []  # their names as a run records them (source_name): their look-back does not move
    loaded: list[str] = []  # the summary names only these: a source that failed is in the warnings
    days: list[date] = []  # the days the listings name (Daily Papers days); the newest dates the merge
    for source in sources:
        try:
            listing = source.fetch(_reading(context, len(papers)))
        except EmptyListingError as err:
            context.notes.append(str(err))
            failed.extend([source_name(source)] if err.incomplete else [])
            continue
        except (ListingError, SourceError) as err:
            if len(sources) == 1:
                raise
            failures.append(str(err))
            failed.append(source_name(source))
            warnings.append(f"skipped {err}")
            continue
        loaded.append(source.name)
        failed.extend([source_name(source)] if listing.failed else [])  # read in part: a day of it skipped
        days.extend([listing.day] if listing.day else [])
        warnings.extend(f"{listing.source}: {w}" for w in listing.warnings)
        warnings.extend(_listed_twice(listing))
        for paper in listing.papers:
            papers.setdefault(paper.id, paper)
    if failures and len(failures) == len(sources):
        raise SourceError("all sources", "; ".join(failures))
    name = ", ".join(loaded or [s.name for s in sources])
    kept = _capped(_one_per_doi(list(papers.values())), name, context.max_papers, warnings)
    return Listing(source=name, papers=kept, warnings=warnings, day=max(days, default=None), failed=failed)


def _reading(context: FetchContext, merged: int) -> FetchContext:
    """The context for the next source: it may stop after ``max_papers + merged`` distinct papers. Each of the
    ``merged`` papers before it may stand for two of its own (one by id, another by DOI) and takes one of the
    ``max_papers`` places itself, so the first ``max_papers`` of the merge are those reading it whole gives."""
    return replace(context, max_papers=context.max_papers + merged) if merged else context


def _listed_twice(listing: Listing) -> list[str]:
    """One source naming the same paper twice keeps the first; the operator hears of it (two sources may)."""
    counts = Counter(paper.id for paper in listing.papers)
    twice = [paper_id for paper_id, n in counts.items() if n > 1]
    if not twice:
        return []
    shown = ", ".join(twice[:3]) + (", ..." if len(twice) > 3 else "")
    return [f"{listing.source}: {len(twice)} paper(s) listed more than once ({shown}); kept the first of each"]


def _one_per_doi(papers: list[Paper]) -> list[Paper]:
    """One paper per DOI: a preprint bioRxiv lists and arXiv lists with the same DOI (``arxiv:DOI``)
    is kept as the source named first listed it, as papers with the same id are."""
    seen = Distinct()
    kept = []
    for paper in papers:
        if not seen.new(paper):
            log.info("%s: the same paper (DOI %s) as one listed before; kept once", paper.id, paper.doi)
            continue
        kept.append(paper)
    return kept


def _capped(papers: list[Paper], name: str, max_papers: int, warnings: list[str]) -> list[Paper]:
    if len(papers) > max_papers:
        warnings.append(f"{name}: kept the first {max_papers} of {len(papers)} papers; "
                        f"{len(papers) - max_papers} dropped (raise DIGEST_MAX_PAPERS to keep more)")
    return papers[:max_papers]


from . import live  # noqa: E402,F401  (registers hf, arxiv: and http(s) sources)
