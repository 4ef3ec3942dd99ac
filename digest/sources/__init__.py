"""Where listings come from: files, the bundled sample, and live web sources.

Every source has the same small interface (``fetch(context) -> Listing``) and is
chosen by its spec's prefix from a registry, never an if/elif chain.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from ..errors import ConfigError, EmptyListingError, ListingError, SourceError
from ..model import Listing, Paper
from .parse import parse_listing

log = logging.getLogger("digest.sources")


@dataclass
class FetchContext:
    """What a source may use: the date, and (for live sources) the HTTP fetcher."""

    today: date
    http: Any = None
    lookback_days: int = 1
    announce_types: frozenset[str] = frozenset({"new", "cross"})
    hf_base_url: str = "https://huggingface.co"
    arxiv_base_url: str = "https://rss.arxiv.org"
    notes: list[str] = field(default_factory=list)


class Source(Protocol):
    name: str

    def fetch(self, context: FetchContext) -> Listing: ...


@dataclass
class FileSource:
    path: Path

    @property
    def name(self) -> str:
        return str(self.path)

    def fetch(self, context: FetchContext) -> Listing:
        return parse_listing(
            read_listing_file(self.path), self.name, today=context.today,
            announce_types=context.announce_types,
        )


@dataclass
class SampleSource:
    name: str = "sample"

    def fetch(self, context: FetchContext) -> Listing:
        data = resources.files("digest").joinpath("data/sample.jsonl").read_bytes()
        return parse_listing(data, self.name, today=context.today)


def read_listing_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as err:
        raise ListingError(str(path), "no such file; check the path given to --source") from err
    except IsADirectoryError as err:
        raise ListingError(str(path), "is a directory; give a listing file") from err
    except PermissionError as err:
        raise ListingError(str(path), "permission denied") from err
    except OSError as err:
        raise ListingError(str(path), f"cannot read: {err.strerror}") from err


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


def resolve(spec: str) -> list[Source]:
    """``"hf, arxiv:cs.LG, ./saved.txt"`` -> one Source per comma-separated part."""
    parts = [part.strip() for part in spec.split(",") if part.strip()]
    if not parts:
        raise ConfigError("no source given: set DIGEST_SOURCE or pass --source (e.g. sample)")
    return [_resolve_one(part) for part in parts]


def _resolve_one(spec: str) -> Source:
    if spec in _REGISTRY:
        return _REGISTRY[spec](spec)
    for prefix, factory in _PREFIXES:
        if spec.startswith(prefix):
            return factory(spec)
    return FileSource(Path(spec).expanduser())


def fetch_all(sources: list[Source], context: FetchContext) -> Listing:
    """Merge the sources' papers by id; one failing source only warns."""
    papers: dict[str, Paper] = {}
    warnings: list[str] = []
    failures: list[str] = []
    for source in sources:
        try:
            listing = source.fetch(context)
        except EmptyListingError as err:
            context.notes.append(str(err))
            continue
        except (ListingError, SourceError) as err:
            if len(sources) == 1:
                raise
            failures.append(str(err))
            warnings.append(f"skipped {err}")
            continue
        warnings.extend(f"{listing.source}: {w}" for w in listing.warnings)
        for paper in listing.papers:
            papers.setdefault(paper.id, paper)
    if failures and len(failures) == len(sources):
        raise SourceError("all sources", "; ".join(failures))
    name = ", ".join(s.name for s in sources)
    return Listing(source=name, papers=list(papers.values()), warnings=warnings)


from . import live  # noqa: E402,F401  (registers hf, arxiv: and http(s) sources)
