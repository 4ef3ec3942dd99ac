"""The one place that wires settings, sources, ranker, renderer, store and mailer.

``Digest`` is the library API; it hands the readers' ranking to ``digest.ranker``,
each reader's message to ``digest.compose``, the day's listing to ``digest.listings``
and what the state store keeps for a send to ``digest.stored``, under the names its
callers know.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import date, datetime
from datetime import time as clock_time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from collections.abc import Callable, Collection, Mapping, Sequence

from . import examples
from .compose import Composer
from .model import Listing, Paper, Subscriber
from .errors import ConfigError
from .listings import Listings
from .lock import Shard
from .ranker import Ranker
from .ranking.reader import Examples
from .ranking.hints import KeywordHint
from .ranking.index import Index
from .ranking.select import Pick, Selection
from .render import Renderer, Rendered
from .sending import PRODUCER_MIN, Outgoing, SendReport, send_digests
from .sending.catchup import Plan
from .settings import Settings
from .stored import Stored

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
        self.stopping = threading.Event()  # set by a signal: finish the message in hand, then stop
        # each reader's message (digest.compose), on the clock below, late-bound: a test may fix today()
        self.composer = Composer(settings, lambda: self.today(), lambda: self.now(), renderer)
        self.ranker = Ranker(settings, lambda: self.today(),  # the readers' picks and hints (digest.ranker)
                             halted=lambda: self.stopping.is_set())  # late-bound: the daemon's
        # the day's listing (digest.listings) and what the state store keeps that a send reads (digest.stored)
        self.listings = Listings(settings, lambda: self.today(), lambda: self.clock(),
                                 halted=lambda: self.stopping.is_set(), http=http)
        self.stored = Stored(settings, lambda: self.clock())

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
        """Every source in ``spec`` (default ``DIGEST_SOURCE``), merged by id (``Listings.load``)."""
        return self.listings.load(spec, offline=offline, since=since)

    def last_run_day(self, spec: str | None = None) -> date | None:
        """The day from which every source of ``spec`` was last read (``Listings.last_run_day``)."""
        return self.listings.last_run_day(spec)

    def sources_read(self, spec: str | None = None) -> list[str]:
        """The names of the sources of ``spec``, as a run records what it read (``Listings.sources_read``)."""
        return self.listings.sources_read(spec)

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
        """The confirmed web sign-ups a send adds to ``roster``; a ``ConfigError`` saying how to add readers when
        there is nobody at all (``examples.require_readers``)."""
        return examples.require_readers(self.settings, roster)

    def send(self, readers: Sequence[Subscriber], *, source: str | None = None, dry_run: bool = False,
             outbox: Path | None = None, force: bool = False, offline: bool = False, progress: Any = None,
             slot: str | None = None, shard: Shard | None = None, only: str | None = None) -> SendReport:
        """Rank, render, build and deliver each reader's digest exactly once (see ``digest.sending``).

        A reader gets at most one digest a day (in ``DIGEST_TIMEZONE``) unless
        ``force``: a second run the same day sends nothing, even when the listing
        has grown since; the new papers go out with tomorrow's digest. ``slot``
        names the scheduled time a daemon run serves, for the daemon's guard;
        ``only`` limits the send to that reader (``--subscriber``); ``shard``: only this
        shard's readers, under the shard's own lock.
        """
        check_sendable(self.settings, readers)
        self.composer.summarizer = self.stored.summarizer()  # a budget and deadline per send
        try:
            return send_digests(self, readers, source=source, dry_run=dry_run, outbox=outbox, force=force,
                                offline=offline, progress=progress, slot=slot, only=only, shard=shard)
        finally:
            self.composer.summarizer = None

    def kept_summaries(self, reader: Subscriber, picks: list[Pick]) -> tuple[list[Pick], int]:
        """The picks with the LLM summaries kept for them, and how many have none (``Stored.kept_summaries``)."""
        return self.stored.kept_summaries(reader, picks)

    def candidates(self, listing: Listing, readers: Sequence[Subscriber]) -> Plan:
        """What a send would rank for these readers (``Stored.candidates``): ``digest rank`` and the preview use it,
        so they show what the send would send."""
        return self.stored.candidates(listing, readers)

    @property
    def http(self) -> Any:
        """The HTTP client the sources share (``Listings``): the one given, else made on first need."""
        return self.listings.http

    def close(self) -> None:
        self.listings.close()

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


