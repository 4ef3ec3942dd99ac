"""The one place that wires settings, sources, ranker, renderer, store and mailer."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from . import sources
from .model import Listing
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
