"""The one place that wires settings, sources, ranker, renderer, store and mailer."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from collections.abc import Mapping, Sequence

from . import sources
from .keywords import parse_profile
from .model import Listing, Subscriber
from .rank import Index, Pick, Selection, rank
from .settings import Settings


class Digest:
    """The library API the CLI, the daemon and the preview server call."""

    def __init__(self, settings: Settings, *, http: Any = None) -> None:
        self.settings = settings
        self.http = http

    def today(self) -> date:
        return datetime.now(self.settings.zone).date()

    def load_listing(self, spec: str | None = None, *, offline: bool = False) -> Listing:
        """Fetch or load every source in ``spec`` (default ``DIGEST_SOURCE``), merged by id."""
        chosen = sources.resolve(spec or self.settings.source)
        context = sources.FetchContext(
            today=self.today(), http=self._http_for(chosen, offline),
            lookback_days=self.settings.lookback_days,
        )
        listing = sources.fetch_all(chosen, context)
        return Listing(listing.source, listing.papers, [*listing.warnings, *context.notes])

    def selection_for(self, reader: Subscriber, limit: int | None = None) -> Selection:
        max_items = reader.max_items if reader.max_items is not None else self.settings.max_items
        if limit is not None:
            max_items = min(max_items, limit) if max_items else limit
        min_score = reader.min_score if reader.min_score is not None else self.settings.min_score
        return Selection(max_items=max_items or None, min_score=min_score)

    def rank_readers(
        self,
        listing: Listing,
        readers: Sequence[Subscriber],
        sent: Mapping[str, set[str]] | None = None,
        limit: int | None = None,
    ) -> list[tuple[Subscriber, list[Pick]]]:
        """Index the listing once and rank it for every enabled reader."""
        index = Index(listing.papers)
        results = []
        for reader in readers:
            if not reader.enabled:
                continue
            already = (sent or {}).get(reader.email.lower(), set())
            picks = rank(index, parse_profile(reader.keywords), sent=already,
                         selection=self.selection_for(reader, limit))
            results.append((reader, picks))
        return results

    def sent_ids(self, readers: Sequence[Subscriber]) -> dict[str, set[str]]:
        """Papers each reader already got, from the state store if there is one yet."""
        if not self.settings.state_db.exists():
            return {}
        from .store import Store

        with Store.open(self.settings.state_db) as store:
            return {r.email.lower(): store.sent_ids(r.email) for r in readers}

    def _http_for(self, chosen: list[Any], offline: bool) -> Any:
        if self.http is None and any(getattr(s, "needs_http", False) for s in chosen):
            from .sources.http import Fetcher

            self.http = Fetcher.from_settings(self.settings, offline=offline)
        return self.http

    def close(self) -> None:
        if self.http is not None:
            self.http.close()

    def __enter__(self) -> "Digest":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_digest(settings: Settings) -> Digest:
    return Digest(settings)
