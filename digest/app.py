"""The one place that wires settings, sources, ranker, renderer, store and mailer.

``Digest`` is the library API; it hands the readers' ranking to ``digest.ranker``
and each reader's message to ``digest.compose``, under the names its callers know.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from datetime import date, datetime
from datetime import time as clock_time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from collections.abc import Callable, Collection, Mapping, Sequence

from . import examples, sources
from .compose import Composer
from .model import Listing, Paper, Subscriber
from .errors import ConfigError, StoreError
from .lock import Shard
from .ranker import Ranker
from .ranking.reader import Examples
from .ranking.hints import KeywordHint
from .ranking.index import Index
from .ranking.select import Pick, Selection
from .render import Renderer, Rendered
from .sending import PRODUCER_MIN, Outgoing, SendReport, send_digests
from .sending.catchup import Plan, candidates
from .settings import Settings

if TYPE_CHECKING:
    from .store import Store

log = logging.getLogger("digest")
__all__ = ["PRODUCER_MIN", "Digest", "SendReport", "check_sendable", "make_digest"]


class Digest:
    """The library API the CLI, the daemon and the preview server call."""

    def __init__(self, settings: Settings, *, http: Any = None, renderer: Renderer | None = None,
                 started_by: str = "one-off", clock: Callable[[], float] | None = None) -> None:
        self.settings = settings
        self.clock = clock or time.time  # Unix seconds: "today", what arrived when, when a digest went out
        self.started_by = started_by  # what digest status calls its runs: "daemon" (digest run) or "one-off"
        self.http = http
        self.stopping = threading.Event()  # set by a signal: finish the message in hand, then stop
        # each reader's message (digest.compose), on the clock below, late-bound: a test may fix today()
        self.composer = Composer(settings, lambda: self.today(), lambda: self.now(), renderer)
        self.ranker = Ranker(settings, lambda: self.today(),  # the readers' picks and hints (digest.ranker)
                             halted=lambda: self.stopping.is_set())  # late-bound: the daemon's

    @property
    def renderer(self) -> Renderer:
        return self.composer.renderer

    def render(self, reader: Subscriber, picks: list[Pick], day: date | None = None, *,
               listing: Listing | None = None, total: int | None = None, sent_on: date | None = None,
               since: date | None = None, hints: Sequence[KeywordHint] = ()) -> Rendered:
        """The one render call: the preview and the mailer both use it (``Composer.render``)."""
        return self.composer.render(reader, picks, day, listing=listing, total=total, sent_on=sent_on,
                                    since=since, hints=hints)

    def describe(self, listing: Listing | None) -> tuple[str, date]:
        """The header's source and day (``Composer.describe``)."""
        return self.composer.describe(listing)

    def build(self, reader: Subscriber, rendered: Rendered, now: datetime | None = None) -> tuple[str, bytes]:
        """(Message-ID, the message bytes) for one reader (``digest.envelope``)."""
        return self.composer.build(reader, rendered, now)

    def prepare_message(self, reader: Subscriber, picks: list[Pick], *, listing: Listing | None = None,
                        total: int | None = None, since: date | None = None,
                        hints: Sequence[KeywordHint] = (), more: Sequence[Pick] = ()) -> Outgoing | None:
        """Render and build one reader's message (``Composer.prepare_message``)."""
        return self.composer.prepare_message(reader, picks, listing=listing, total=total, since=since,
                                             hints=hints, more=more)

    def write_eml(self, reader: Subscriber, item: Outgoing, outbox: Path | None) -> Path:
        return self.composer.write_eml(reader, item, outbox)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), self.settings.zone)

    def today(self) -> date:
        return self.now().date()

    def start_of_today(self) -> datetime:
        return datetime.combine(self.today(), clock_time(), tzinfo=self.settings.zone)

    def load_listing(self, spec: str | None = None, *, offline: bool = False, since: date | None = None) -> Listing:
        """Fetch or load every source in ``spec`` (default ``DIGEST_SOURCE``), merged by id.

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
        """The day from which every source of ``spec`` (default ``DIGEST_SOURCE``) was last read: for each, the
        day of the latest run before today that read it (``Run.read_sources``; a run from before runs kept their
        sources counts for any) and served its readers (``Store.served_runs``: it read its listing, and no error,
        stop or kill cut it short); the earliest of those days, a source no run ever read left out. None: no
        store yet, no such run, or the store cannot be read now (a send's own opening of it says why).
        ``load_listing(spec, since=...)`` reaches back to it. A run that did not serve its readers is passed
        over, so the look-back reaches further, never less far, and so is a run of other sources: a one-off
        ``digest send --source FILE`` read none of ``hf``'s days. Those runs are read newest first until each
        source's is found: no number of later runs (a day's shards, one-reader sends, other sources) hides it."""
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
        """The names of the sources of ``spec`` (default ``DIGEST_SOURCE``), as a run records what it read
        (``sources.source_names``)."""
        return sources.source_names(spec or self.settings.source)

    def make_index(self, papers: Sequence[Paper]) -> Index:
        """The day's index, with embeddings when DIGEST_SEMANTIC is on (``Ranker.make_index``)."""
        return self.ranker.make_index(papers)

    @property
    def archives(self) -> bool:
        """Whether a send keeps its digests for "view in browser" and the reader's whole list (the signed
        links: DIGEST_PUBLIC_URL and DIGEST_SECRET_KEY)."""
        return bool(self.settings.public_url and self.settings.secret_key)

    def selection_for(self, reader: Subscriber, limit: int | None = None) -> Selection:
        return self.ranker.selection_for(reader, limit)

    def rank_readers(self, listing: Listing, readers: Sequence[Subscriber],
                     sent: Mapping[str, Collection[str]] | None = None, limit: int | None = None,
                     hints: dict[str, tuple[KeywordHint, ...]] | None = None) -> list[tuple[Subscriber, list[Pick]]]:
        """Index the listing once and rank it for every enabled reader (``Ranker.rank_readers``)."""
        return self.ranker.rank_readers(listing, readers, sent, limit, hints)

    def keyword_hints(self, index: Index, reader: Subscriber,
                      sent: Mapping[str, Collection[str]]) -> tuple[KeywordHint, ...]:
        """The reader's keywords no paper of their window matches (``Ranker.keyword_hints``)."""
        return self.ranker.keyword_hints(index, reader, sent)

    def examples_for_readers(self, readers: Sequence[Subscriber], papers: Sequence[Paper],
                             store: Store | None = None, *,
                             problems: dict[str, str] | None = None) -> list[Examples | None]:
        """Each reader's votes and library for the ranker (``digest.examples``)."""
        return examples.examples_for_readers(self.settings, readers, papers, store, problems=problems)

    def with_own_changes(self, readers: Sequence[Subscriber]) -> list[Subscriber]:
        """The readers with what they changed on the web app applied, as the send applies them."""
        return examples.with_own_changes(self.settings, readers)

    def held_back(self, readers: Sequence[Subscriber]) -> dict[str, str]:
        """Why each of these readers gets no digest now (paused, unsubscribed, suppressed), by lower-case address."""
        return examples.held_back(self.settings, readers)

    def web_sign_ups(self, listed: Collection[str]) -> list[Subscriber]:
        """The confirmed web sign-ups not among ``listed`` (lower-case addresses), as a send adds them."""
        return examples.web_sign_ups(self.settings, listed)

    def require_readers(self, roster: Sequence[Subscriber]) -> list[Subscriber]:
        """The confirmed web sign-ups a send adds to ``roster`` (``web_sign_ups``); a ``ConfigError`` saying how
        to add readers when there is nobody at all: no roster (a list run through sign-up alone has none) and no
        confirmed sign-up."""
        signed_up = self.web_sign_ups({reader.email.lower() for reader in roster})
        if not roster and not signed_up:
            from .subscribers import no_readers

            raise ConfigError(no_readers(self.settings))
        return signed_up

    def send(
        self,
        readers: Sequence[Subscriber],
        *,
        source: str | None = None,
        dry_run: bool = False,
        outbox: Path | None = None,
        force: bool = False,
        offline: bool = False,
        progress: Any = None,
        slot: str | None = None,
        shard: Shard | None = None,
        only: str | None = None,
    ) -> SendReport:
        """Rank, render, build and deliver each reader's digest exactly once (see ``digest.sending``).

        A reader gets at most one digest a day (in ``DIGEST_TIMEZONE``) unless
        ``force``: a second run the same day sends nothing, even when the listing
        has grown since; the new papers go out with tomorrow's digest. ``slot``
        names the scheduled time a daemon run serves, for the daemon's guard;
        ``only`` limits the send to that reader (``--subscriber``); ``shard``: only this
        shard's readers, under the shard's own lock.
        """
        check_sendable(self.settings, readers)
        if self.settings.llm_url:  # only then: a send without summaries never loads their module
            from .summaries import summarizer_for

            self.composer.summarizer = summarizer_for(self.settings, self._open_store)  # a budget and deadline per send
        try:
            return send_digests(self, readers, source=source, dry_run=dry_run, outbox=outbox, force=force,
                                offline=offline, progress=progress, slot=slot, only=only, shard=shard)
        finally:
            self.composer.summarizer = None

    def kept_summaries(self, reader: Subscriber, picks: list[Pick]) -> tuple[list[Pick], int]:
        """The picks with the LLM summaries (``DIGEST_LLM_URL``) the store keeps for them in the reader's language,
        the model asked nothing (``digest preview``), and how many have none kept: the send would ask for those."""
        if not self.settings.llm_url or not picks:
            return picks, 0
        if not self.settings.state_db.exists():  # a preview makes no state database
            return picks, len(picks)
        from .summaries import summarizer_for

        summarizer = summarizer_for(self.settings, self._open_store)
        if summarizer is None:
            return picks, 0
        papers = summarizer.kept([pick.paper for pick in picks], reader.language)
        missing = sum(paper.summary_by != self.settings.llm_model for paper in papers)
        return [replace(pick, paper=paper) for pick, paper in zip(picks, papers)], missing

    def _open_store(self) -> Store:
        from .store import Store

        return Store.open(self.settings.state_db)

    def candidates(self, listing: Listing, readers: Sequence[Subscriber]) -> Plan:
        """What a send would rank for these readers: the listing with their catch-up, minus what they got.

        ``digest rank`` and the preview use it, so they show what the send would send.
        """
        if not self.settings.state_db.exists():
            return Plan(listing, {}, {}, [], [], self.settings.zone)
        from .store import Store

        with Store.open(self.settings.state_db) as store:
            return candidates(store, listing, readers, now=self.clock(), window_days=self.settings.catchup_days,
                              zone=self.settings.zone, few=len(readers) <= 16)

    def _http_for(self, chosen: list[Any], offline: bool) -> Any:
        if self.http is None and any(getattr(s, "needs_http", False) for s in chosen):
            from .sources.http import Fetcher

            self.http = Fetcher.from_settings(self.settings, offline=offline, clock=self.clock,
                                              halted=lambda: self.stopping.is_set())  # late-bound: the daemon's
        return self.http

    def close(self) -> None:
        if self.http is not None:
            self.http.close()

    def __enter__(self) -> "Digest":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_sendable(settings: Settings, readers: Sequence[Subscriber]) -> None:
    """A sender and a recipient for every reader: what a send needs before it starts."""
    if not settings.from_addr:
        raise ConfigError("DIGEST_FROM is not set; set it to the sender address, e.g. Digest <digest@example.org>")
    if any(not reader.email for reader in readers):
        raise ConfigError("no recipient: set DIGEST_TO, or use DIGEST_SUBSCRIBERS")
    if settings.public_url and not settings.secret_key:
        raise ConfigError('DIGEST_PUBLIC_URL is set but DIGEST_SECRET_KEY is not; it signs the readers\' links: '
                          'make one with python -c "import secrets; print(secrets.token_urlsafe(32))"')


def make_digest(settings: Settings) -> Digest:
    return Digest(settings)


