"""The one place that wires settings, sources, ranker, renderer, store and mailer."""

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

from . import envelope, examples, sources
from .archive import keep
from .ranking.profile import parse_profile
from .model import Listing, Paper, Subscriber
from .errors import ConfigError, OutputError
from .lock import Shard
from .ranking.authors import follows_of
from .ranking.reader import Examples
from .ranking.hints import KeywordHint, keyword_hints
from .ranking.index import Index
from .ranking.select import Pick, Selection
from .ranking.many import rank_many
from .render import Renderer, Rendered, describe_listing
from .sending import PRODUCER_MIN, Outgoing, SendReport, send_digests
from .sending.catchup import Plan, candidates
from .settings import Settings
from .tokens import ReaderLinks, links_for

if TYPE_CHECKING:
    from .summaries import Summarizer
    from .store import Store

__all__ = ["PRODUCER_MIN", "Digest", "SendReport", "check_sendable", "make_digest"]

log = logging.getLogger("digest")


class Digest:
    """The library API the CLI, the daemon and the preview server call."""

    def __init__(self, settings: Settings, *, http: Any = None, renderer: Renderer | None = None,
                 started_by: str = "one-off", clock: Callable[[], float] | None = None) -> None:
        self.settings = settings
        self.clock = clock or time.time  # Unix seconds: "today", what arrived when, when a digest went out
        self.started_by = started_by  # what digest status calls its runs: "daemon" (digest run) or "one-off"
        self.http = http
        self._renderer = renderer
        self.stopping = threading.Event()  # set by a signal: finish the message in hand, then stop
        self._described: tuple[Listing, tuple[str, date]] | None = None  # the last listing's header
        self.summarizer: Summarizer | None = None  # a send's LLM summaries (DIGEST_LLM_URL), made by send()

    @property
    def renderer(self) -> Renderer:
        if self._renderer is None:
            self._renderer = Renderer(self.settings.templates_dir, thumbnails=self.settings.thumbnails)
        return self._renderer

    def links_for(self, reader: Subscriber, picks: Sequence[Pick], sent_on: date | None = None) -> ReaderLinks | None:
        """The reader's own signed links (with DIGEST_PUBLIC_URL), else None: no links, as before.

        ``sent_on`` is the day the digest goes out (default today): its "view in
        browser" link shows the copy archived for that day.
        """
        if not self.settings.public_url:
            return None
        return links_for(self.settings, reader.email, [p.paper.id for p in picks], day=sent_on or self.today())

    def unsubscribe_for(self, reader: Subscriber, links: ReaderLinks | None = None) -> str:
        """The reader's signed link; else DIGEST_UNSUBSCRIBE_URL (only without DIGEST_PUBLIC_URL); else mailto."""
        return envelope.unsubscribe_for(self.settings, links)

    def render(self, reader: Subscriber, picks: list[Pick], day: date | None = None, *,
               listing: Listing | None = None, total: int | None = None, sent_on: date | None = None,
               since: date | None = None, hints: Sequence[KeywordHint] = ()) -> Rendered:
        """The one render call: the preview and the mailer both use it.

        ``listing`` names the source and day in the header; ``since``: the first day a
        catch-up digest covers; ``total`` is how many
        papers matched before ``max_items`` (``rank.count_matches``). With
        DIGEST_PUBLIC_URL the reader's signed links are in it (``links_for``). ``hints``: the
        reader's keywords that matched nothing (``keyword_hints``), said near the top.
        """
        source, listed = self.describe(listing)
        links = self.links_for(reader, picks, sent_on)
        return self.renderer.render(reader, picks, day=day or listed, source=source, total=total,
                                    unsubscribe=self.unsubscribe_for(reader, links), links=links, since=since,
                                    hints=hints)

    def describe(self, listing: Listing | None) -> tuple[str, date]:
        """The header's source and day, worked out once per listing (it looks at every paper)."""
        if listing is None:
            return "", self.today()
        if self._described is None or self._described[0] is not listing:
            self._described = (listing, describe_listing(listing, self.today()))
        return self._described[1]

    def build(self, reader: Subscriber, rendered: Rendered, now: datetime | None = None) -> tuple[str, bytes]:
        """(Message-ID, the message bytes) for one reader (``digest.envelope``)."""
        return envelope.build(self.settings, reader, rendered, now or self.now())

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), self.settings.zone)

    def today(self) -> date:
        return self.now().date()

    def start_of_today(self) -> datetime:
        return datetime.combine(self.today(), clock_time(), tzinfo=self.settings.zone)

    def load_listing(self, spec: str | None = None, *, offline: bool = False) -> Listing:
        """Fetch or load every source in ``spec`` (default ``DIGEST_SOURCE``), merged by id."""
        chosen = sources.resolve(spec or self.settings.source)
        context = sources.FetchContext(
            today=self.today(), http=self._http_for(chosen, offline),
            lookback_days=self.settings.lookback_days,
            hf_base_url=self.settings.hf_base_url, arxiv_base_url=self.settings.arxiv_base_url,
            biorxiv_base_url=self.settings.biorxiv_base_url,
            announce_types=self.settings.arxiv_announce,
            max_papers=self.settings.max_papers, max_bytes=self.settings.http_max_bytes,
        )
        listing = sources.fetch_all(chosen, context)
        return Listing(listing.source, listing.papers, listing.warnings, [*listing.notes, *context.notes], listing.day)

    def make_index(self, papers: Sequence[Paper]) -> Index:
        """The day's index; with DIGEST_SEMANTIC on it also embeds the papers the store has no vector for."""
        embedder = None
        if self.settings.semantic != "false":
            from .semantic import CachedEmbedder, make_embedder
            from .store import Store

            embedder = CachedEmbedder(make_embedder(self.settings.semantic), lambda: Store.open(self.settings.state_db),
                                      on_error=lambda err: log.warning("embeddings not cached: %s", err))
        return Index(papers, embedder=embedder)

    @property
    def archives(self) -> bool:
        """Whether a send keeps its digests for "view in browser" and the reader's whole list (the signed
        links: DIGEST_PUBLIC_URL and DIGEST_SECRET_KEY)."""
        return bool(self.settings.public_url and self.settings.secret_key)

    def selection_for(self, reader: Subscriber, limit: int | None = None) -> Selection:
        max_items = reader.max_items if reader.max_items is not None else self.settings.max_items
        if limit is not None:  # asked for on the command line (rank --limit): it wins
            max_items = limit
        min_score = reader.min_score if reader.min_score is not None else self.settings.min_score
        return Selection(max_items=max_items or None, min_score=min_score)

    def rank_readers(
        self,
        listing: Listing,
        readers: Sequence[Subscriber],
        sent: Mapping[str, Collection[str]] | None = None,
        limit: int | None = None,
        hints: dict[str, tuple[KeywordHint, ...]] | None = None,
    ) -> list[tuple[Subscriber, list[Pick]]]:
        """Index the listing once and rank it for every enabled reader.

        ``hints`` (when given) gets, per reader address, their keywords that match nothing (``keyword_hints``).
        """
        index = self.make_index(listing.papers)
        enabled = [reader for reader in readers if reader.enabled]
        picks = rank_many(
            index,
            [parse_profile(reader.keywords) for reader in enabled],
            [(sent or {}).get(reader.email.lower(), set()) for reader in enabled],
            [self.selection_for(reader, limit) for reader in enabled],
            self.examples_for_readers(enabled, listing.papers),
            [follows_of(reader) for reader in enabled],
        )
        if hints is not None:
            hints.update((reader.email, self.keyword_hints(index, reader, sent or {})) for reader in enabled)
        return list(zip(enabled, picks))

    def keyword_hints(self, index: Index, reader: Subscriber,
                      sent: Mapping[str, Collection[str]]) -> tuple[KeywordHint, ...]:
        """The reader's keywords no paper of their window matches, with nearby terms (``ranking.hints``).

        The window is what the send ranks for them: with catch-up (``sent`` a ``Plan``)
        the days since their last digest, at most DIGEST_CATCHUP_DAYS; else today's listing.
        """
        first = sent.covers(reader.email) if isinstance(sent, Plan) else None
        days = (self.today() - first).days + 1 if first is not None else 1
        outside = sent.older(reader.email) if isinstance(sent, Plan) else frozenset()
        return tuple(keyword_hints(parse_profile(reader.keywords), index, days, leave_out=outside))

    def examples_for_readers(self, readers: Sequence[Subscriber], papers: Sequence[Paper],
                             store: Store | None = None, *,
                             problems: dict[str, str] | None = None) -> list[Examples | None]:
        """Each reader's votes and library for the ranker (``digest.examples``)."""
        return examples.examples_for_readers(self.settings, readers, papers, store, problems=problems)

    def with_own_changes(self, readers: Sequence[Subscriber]) -> list[Subscriber]:
        """The readers with what they changed on the web app applied, as the send applies them."""
        return examples.with_own_changes(self.settings, readers)

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

            self.summarizer = summarizer_for(self.settings, self._open_store)  # a budget and deadline per send
        try:
            return send_digests(self, readers, source=source, dry_run=dry_run, outbox=outbox, force=force,
                                offline=offline, progress=progress, slot=slot, only=only, shard=shard)
        finally:
            self.summarizer = None

    def _open_store(self) -> Store:
        from .store import Store

        return Store.open(self.settings.state_db)

    def prepare_message(self, reader: Subscriber, picks: list[Pick], *, listing: Listing | None = None,
                 total: int | None = None, since: date | None = None,
                 hints: Sequence[KeywordHint] = (), more: Sequence[Pick] = ()) -> Outgoing | None:
        """Render and build one reader's message (None: nothing new, and no empty digests).

        With DIGEST_PUBLIC_URL what the page is rendered from travels with the
        message, to be archived for "view in browser" once the server has accepted it,
        with ``more`` (the papers that matched beyond the picks) for the reader's whole list.
        """
        if not picks and not self.settings.send_empty:
            return None
        today = self.today()
        if self.summarizer is not None and picks:  # before rendering: the message waits at most DIGEST_LLM_DEADLINE
            papers = self.summarizer.summarize([p.paper for p in picks], reader.language)
            picks = [replace(pick, paper=paper) for pick, paper in zip(picks, papers)]
        rendered = self.render(reader, picks, listing=listing, total=total, sent_on=today, since=since, hints=hints)
        message_id, message = self.build(reader, rendered)
        kept = None
        if rendered.links is not None:
            source, day = self.describe(listing)
            kept = keep(reader, picks, message_id=message_id, sent_on=today, source=source, day=day,
                        templates=self.renderer.version, total=total, since=since, hints=hints, more=more)
        return Outgoing(reader.email, message_id, message, [p.paper.id for p in picks[: rendered.shown]],
                        day=today, kept=kept, hints=tuple(hints))

    def write_eml(self, reader: Subscriber, item: Outgoing, outbox: Path | None) -> Path:
        folder = outbox or Path("outbox")
        path = folder / f"{self.today().isoformat()}-{_file_safe(reader.email)}.eml"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path.write_bytes(item.message)
        except OSError as err:
            raise OutputError.writing(path, err, "choose another folder with --outbox DIR") from err
        return path

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

    def sent_ids(self, readers: Sequence[Subscriber], papers: Sequence[Paper]) -> Mapping[str, Collection[str]]:
        """Which of these papers each reader already got (the send's own query), if there is a store yet."""
        if not self.settings.state_db.exists():
            return {}
        from .store import Store

        with Store.open(self.settings.state_db) as store:
            return store.sent_among((paper.id for paper in papers), (reader.email for reader in readers))

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


def _file_safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "@.-_" else "_" for c in text)
