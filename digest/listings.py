"""The day's listing for the app (``Digest.load_listing``): every source read, merged, reaching back to the last run.

``Listings`` keeps the one HTTP client the sources share, made on first need and
closed with the app.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from . import sources
from .errors import StoreError
from .model import Listing
from .settings import Settings


class Listings:
    """The sources of a spec (default ``DIGEST_SOURCE``) read for ``today()``, on the app's clock."""

    def __init__(self, settings: Settings, today: Callable[[], date], clock: Callable[[], float],
                 halted: Callable[[], bool], http: Any = None) -> None:
        self.settings = settings
        self.today = today
        self.clock = clock
        self.halted = halted  # a stop signal: the client's retries and waits are cut short
        self.http = http

    def load(self, spec: str | None = None, *, offline: bool = False, since: date | None = None) -> Listing:
        """Fetch or load every source in ``spec``, merged by id.

        ``since``: the day of the last run; a source that looks back (``hf``, bioRxiv) reaches back to the day
        before it when ``DIGEST_LOOKBACK_DAYS`` does not, at most ``DIGEST_CATCHUP_DAYS``: papers added to
        Friday's Daily Papers after Friday's run are in Monday's listing, not lost over the weekend, and so are
        those a source whose day ends later than ours (a time zone behind the reader's, a host clock ahead)
        added to Thursday after Friday's run.
        """
        chosen = sources.resolve(spec or self.settings.source)
        today = self.today()
        reach = min((today - since).days + 2, self.settings.catchup_days) if since is not None and since < today else 0
        context = sources.FetchContext(
            today=today, http=self._http_for(chosen, offline),
            lookback_days=max(self.settings.lookback_days, reach),
            hf_base_url=self.settings.hf_base_url, arxiv_base_url=self.settings.arxiv_base_url,
            biorxiv_base_url=self.settings.biorxiv_base_url,
            announce_types=self.settings.arxiv_announce,
            max_papers=self.settings.max_papers, max_bytes=self.settings.http_max_bytes,
        )
        listing = sources.fetch_all(chosen, context)
        return replace(listing, notes=[*listing.notes, *context.notes])

    def last_run_day(self, spec: str | None = None) -> date | None:
        """The day from which every source of ``spec`` was last read: for each, the day of the latest run before
        today that read it (``Run.read_sources``; a run from before runs kept their sources counts for any) and
        served its readers (``Store.served_runs``: it read its listing, and no error, stop or kill cut it short);
        the earliest of those days, a source no run ever read left out. None: no store yet, no such run, or the
        store cannot be read now (a send's own opening of it says why). ``load(spec, since=...)`` reaches back
        to it. A run that did not serve its readers is passed over, so the look-back reaches further, never
        less far, and so is a run of other sources: a one-off ``digest send --source FILE`` read none of
        ``hf``'s days. Those runs are read newest first until each source's is found: no number of later runs
        (a day's shards, one-reader sends, other sources) hides it."""
        from .store import DatabaseURL, Store

        db = self.settings.state_db
        if isinstance(db, Path) and not isinstance(db, DatabaseURL) and not db.exists():
            return None
        try:
            with Store.open(db) as store:
                found = store.last_reads(self.sources_read(spec), self.today().isoformat())
        except StoreError:
            return None
        return date.fromisoformat(min(found.values())) if found else None

    def sources_read(self, spec: str | None = None) -> list[str]:
        """The names of the sources of ``spec``, as a run records what it read (``sources.source_names``)."""
        return sources.source_names(spec or self.settings.source)

    def _http_for(self, chosen: list[Any], offline: bool) -> Any:
        if self.http is None and any(getattr(s, "needs_http", False) for s in chosen):
            from .sources.http import Fetcher

            self.http = Fetcher.from_settings(self.settings, offline=offline, clock=self.clock, halted=self.halted)
        return self.http

    def close(self) -> None:
        if self.http is not None:
            self.http.close()
