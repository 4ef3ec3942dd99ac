"""Live sources over HTTP: ``hf``, ``hf:YYYY-MM-DD``, ``arxiv:CATS``, ``biorxiv:``/``medrxiv:SUBJECT`` and URLs.

Each source asks the shared :class:`~digest.sources.http.Fetcher` (in the fetch
context) for bytes and hands them to the same parser as a saved file, so a live
listing and a saved one give the same papers.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from ..errors import ConfigError, EmptyListingError, ListingError, SourceError, UnreadableItemsError, shown_url
from ..model import Listing, Paper
from ..settings import url_problem
from . import FetchContext, register
from .biorxiv import RxivSource
from .biorxiv import parse_spec as parse_rxiv_spec
from .parse import parse_listing, parsed

log = logging.getLogger("digest.sources")

HF_PAGE_SIZE = 100
HF_MAX_PAGES = 50
PAST_DAY_FRESH = 6 * 3600  # seconds: an earlier day's listing barely changes; today's is revalidated
_CATEGORY = re.compile(r"^[a-z][a-z-]*(\.[A-Za-z][A-Za-z-]*)?$")


@dataclass
class _CacheAges:
    """The oldest cached copy a source used offline, for one note per source."""

    oldest: float | None = None
    missing: list[str] = field(default_factory=list)

    def add(self, fetched) -> None:
        if fetched.from_cache and (self.oldest is None or fetched.fetched_at < self.oldest):
            self.oldest = fetched.fetched_at

    def note(self, name: str, context: FetchContext) -> None:
        if context.http is None or not context.http.offline or self.oldest is None:
            return
        from .http import describe_age  # imported late: file sources never load httpx

        age = describe_age(context.http.clock() - self.oldest)
        context.notes.append(f"{name}: offline, using the cache (oldest copy {age})")


def _http(context: FetchContext, name: str):
    if context.http is None:
        raise SourceError(name, "no HTTP client available for a live source")
    return context.http


@dataclass
class HuggingFaceSource:
    """Hugging Face Daily Papers: one day, or today and the lookback days before it."""

    day: date | None = None
    needs_http = True

    @property
    def name(self) -> str:
        return f"hf:{self.day.isoformat()}" if self.day else "hf"

    def days(self, context: FetchContext) -> list[date]:
        if self.day:
            return [self.day]
        return [context.today - timedelta(days=n) for n in range(max(context.lookback_days, 1))]

    def fetch(self, context: FetchContext) -> Listing:
        http = _http(context, self.name)
        ages = _CacheAges()
        papers: dict[str, Paper] = {}
        warnings: list[str] = []
        empty: list[date] = []
        listed: list[date] = []
        unreadable: list[UnreadableItemsError] = []
        for day in self.days(context):  # newest first: a paper listed twice keeps its latest entry
            try:
                day_papers, day_warnings = self._fetch_day(http, context, day, ages)
            except UnreadableItemsError as error:  # that day only: an error below if no day reads
                unreadable.append(error)
                continue
            (listed if day_papers else empty).append(day)
            warnings.extend(day_warnings)
            for paper in day_papers:
                papers.setdefault(paper.id, paper)
        ages.note(self.name, context)
        if ages.missing and len(ages.missing) == len(self.days(context)):
            raise SourceError(self.name, "nothing in the cache; run once without --offline to fetch it")
        for missing in ages.missing:
            context.notes.append(f"{self.name}: no cached copy for {missing}; skipped (offline)")
        if not papers and unreadable:
            raise unreadable[0]
        # A day skipped (unreadable, or offline with no cached copy): the source was not read whole, and a run
        # that counted as having read it would move its look-back past that day (``Listing.failed``)
        incomplete = bool(unreadable or ages.missing)
        if not papers:
            raise EmptyListingError(self.name, f"no papers listed for {_dates(empty)}", incomplete=incomplete)
        warnings.extend(f"skipped {error}" for error in unreadable)
        for day in empty:
            log.info("%s: no papers listed for %s", self.name, day)
        # Dated by the newest Daily Papers day that listed papers, not by its papers' arXiv dates
        return Listing(source=self.name, papers=list(papers.values()), warnings=warnings, day=max(listed),
                       failed=[self.name] if incomplete else [])

    def _fetch_day(self, http, context: FetchContext, day: date, ages: _CacheAges) -> tuple[list[Paper], list[str]]:
        """Every page of one day, until an empty page (or one with nothing new).

        A page shorter than the limit asked for is not taken as the last: a server
        that caps its pages below ``HF_PAGE_SIZE`` would otherwise lose the rest of
        a busy day. The page after it is asked for once, and only if that check
        fails is the short page taken as the last (logged, not an error).
        """
        url = f"{context.hf_base_url.rstrip('/')}/api/daily_papers"
        papers: list[Paper] = []
        warnings: list[str] = []
        seen: set[str] = set()
        short = capped = False
        for page in range(HF_MAX_PAGES):
            try:
                fetched = http.get(url, {"date": day.isoformat(), "limit": HF_PAGE_SIZE, "p": page},
                                   fresh_for=PAST_DAY_FRESH if day < context.today else 0.0)
                fetched, listing = parsed(http, fetched, lambda got: parse_listing(
                    got.content, got.url, today=day, charset=got.charset))
            except EmptyListingError:
                ages.add(fetched)
                break
            except (SourceError, ListingError) as error:  # no answer, or one that is no listing (a 200 HTML page)
                if isinstance(error, SourceError) and http.offline and page == 0:
                    ages.missing.append(day.isoformat())
                    return [], []
                if short:
                    log.info("%s: page %d of %s not checked (%s); taking page %d as the last",
                             self.name, page, day, error, page - 1)
                    break
                if page and isinstance(error, UnreadableItemsError):  # after a full page: papers would be missing
                    raise ListingError(error.source, error.problem) from error
                raise
            ages.add(fetched)
            new = [p for p in listing.papers if p.id not in seen]
            if not new:  # the server ignored the page number: stop instead of looping
                break
            if short and not capped:
                capped = True
                log.warning("%s: %s has more papers after a page of fewer than %d (the server caps its pages)",
                            self.name, day, HF_PAGE_SIZE)
            seen.update(p.id for p in new)
            papers.extend(new)
            warnings.extend(f"{day}: {w}" for w in listing.warnings)
            short = short or _item_count(fetched.content) < HF_PAGE_SIZE
        else:
            warnings.append(f"{day}: stopped after {HF_MAX_PAGES} pages of papers; the rest of the day is not read")
        return papers, warnings


def _item_count(content: bytes) -> int:
    try:
        data = json.loads(content)
    except (ValueError, RecursionError):
        return 0
    return len(data) if isinstance(data, list) else 0


def _dates(days: list[date]) -> str:
    texts = [d.isoformat() for d in sorted(days)]
    if len(texts) <= 2:
        return " or ".join(texts)
    return f"{texts[0]} to {texts[-1]}"


@dataclass
class ArxivSource:
    """Today's arXiv RSS announcements for ``cs.LG+cs.AI`` (new and cross-lists by default)."""

    categories: str
    needs_http = True

    @property
    def name(self) -> str:
        return f"arxiv:{self.categories}"

    def fetch(self, context: FetchContext) -> Listing:
        http = _http(context, self.name)
        fetched = http.get(f"{context.arxiv_base_url.rstrip('/')}/rss/{self.categories}")
        ages = _CacheAges()
        try:
            fetched, listing = parsed(http, fetched, lambda got: parse_listing(
                got.content, got.url, today=context.today, announce_types=context.announce_types,
                max_papers=context.max_papers, charset=got.charset))
        except EmptyListingError as err:
            raise EmptyListingError(
                self.name, f"no papers listed for {context.today} (arXiv announces nothing on weekends "
                "and holidays)"
            ) from err
        finally:
            ages.add(fetched)
            ages.note(self.name, context)
        return Listing(source=self.name, papers=listing.papers, warnings=listing.warnings, day=listing.day)


@dataclass
class UrlSource:
    """Any listing file on the web, in a format the file loader reads."""

    url: str
    needs_http = True

    @property
    def name(self) -> str:
        """The URL with a key in its query (or a password) as ``***``: the name its listing, notes and warnings
        show and a run records (``digest.sources.source_name``); only the request itself carries the key."""
        return shown_url(self.url)

    def fetch(self, context: FetchContext) -> Listing:
        http = _http(context, self.name)
        fetched, listing = parsed(http, http.get(self.url), lambda got: parse_listing(
            got.content, self.name, today=context.today, announce_types=context.announce_types,
            max_papers=context.max_papers, charset=got.charset))
        ages = _CacheAges()
        ages.add(fetched)
        ages.note(self.name, context)
        return listing


@register(exact="hf")
def _hf_today(spec: str) -> HuggingFaceSource:
    return HuggingFaceSource()


@register(prefix="hf:")
def _hf_day(spec: str) -> HuggingFaceSource:
    text = spec[3:].strip()
    try:
        return HuggingFaceSource(date.fromisoformat(text))
    except ValueError:
        raise ConfigError(f"source {spec!r}: {text!r} is not a date; use hf:YYYY-MM-DD, e.g. hf:2026-08-13") from None


@register(prefix="arxiv:")
def _arxiv(spec: str) -> ArxivSource:
    categories = spec[6:].strip()
    parts = categories.split("+")
    bad = [part for part in parts if not _CATEGORY.match(part)]
    if not categories or bad:
        problem = f"{bad[0]!r} is not an arXiv category" if bad and bad[0] else "a category is missing"
        raise ConfigError(f"source {spec!r}: {problem}; use e.g. arxiv:cs.LG or arxiv:cs.LG+cs.AI")
    return ArxivSource(categories)


@register(prefix="biorxiv:")
@register(prefix="medrxiv:")
def _rxiv(spec: str) -> RxivSource:
    return parse_rxiv_spec(spec)


@register(prefix="http://")
@register(prefix="https://")
def _url(spec: str) -> UrlSource:
    problem = url_problem(spec)
    if problem:
        raise ConfigError(f"source {problem}; a listing on the web is http(s)://HOST[:PORT]/PATH")
    return UrlSource(spec)
