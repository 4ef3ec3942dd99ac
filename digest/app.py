"""The one place that wires settings, sources, ranker, renderer, store and mailer."""

from __future__ import annotations

import logging
import multiprocessing
import queue
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, time
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import Any

from collections.abc import Iterator, Mapping, Sequence

from . import sources
from .keywords import parse_profile
from .model import Listing, Paper, Subscriber
from .errors import ConfigError, DigestError
from .lock import Shard, send_lock
from .mail import Outgoing, SendQueue
from .mime import build_message, encode_address, encode_header
from .rank import Index, Pick, Selection, fork_is_safe, rank, rank_many
from .render import Renderer, Rendered

log = logging.getLogger("digest")


@dataclass
class SendReport:
    """What a send did, for the summary line and the exit code."""

    sent: list[str] = field(default_factory=list)
    nothing_new: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)
    note: str = ""
    stopped: int = 0  # readers left for the next run after a stop signal

    def summary(self) -> str:
        parts = [f"sent {len(self.sent)}", f"nothing new {len(self.nothing_new)}", f"failed {len(self.failed)}"]
        if self.written:
            parts.append(f"written {len(self.written)} (dry run)")
        if self.stopped:
            parts.append(f"stopped early, {self.stopped} left for the next run")
        return ", ".join(parts) + (f" ({self.note})" if self.note else "")
from .settings import Settings


class Digest:
    """The library API the CLI, the daemon and the preview server call."""

    def __init__(self, settings: Settings, *, http: Any = None, renderer: Renderer | None = None) -> None:
        self.settings = settings
        self.http = http
        self._renderer = renderer
        self.stopping = threading.Event()  # set by a signal: finish the message in hand, then stop

    @property
    def renderer(self) -> Renderer:
        if self._renderer is None:
            self._renderer = Renderer(self.settings.templates_dir)
        return self._renderer

    def unsubscribe_for(self, reader: Subscriber) -> str:
        if self.settings.unsubscribe_url:
            return self.settings.unsubscribe_url
        address = parseaddr(self.settings.from_addr)[1]
        return f"mailto:{address}?subject=unsubscribe" if address else ""

    def render(self, reader: Subscriber, picks: list[Pick], day: date | None = None) -> Rendered:
        """The one render call: the preview and the mailer both use it."""
        return self.renderer.render(reader, picks, day=day or self.today(), unsubscribe=self.unsubscribe_for(reader))

    def build(self, reader: Subscriber, rendered: Rendered, now: datetime | None = None) -> tuple[str, bytes]:
        """(Message-ID, the message bytes) for one reader."""
        sender = self.settings.from_addr
        domain = parseaddr(sender)[1].rpartition("@")[2] or "digest.invalid"
        message_id = make_msgid(domain=domain)
        headers = [
            ("From", encode_address(sender)),
            ("To", encode_address(f"{reader.name} <{reader.email}>" if reader.name else reader.email)),
            ("Subject", encode_header(rendered.subject)),
            ("Date", format_datetime(now or datetime.now(self.settings.zone))),
            ("Message-ID", message_id),
        ]
        unsubscribe = self.unsubscribe_for(reader)
        if unsubscribe:
            headers.append(("List-Unsubscribe", f"<{encode_header(unsubscribe)}>"))
            if unsubscribe.startswith("https://"):
                headers.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
        return message_id, build_message(headers, rendered.text, rendered.html)

    def today(self) -> date:
        return datetime.now(self.settings.zone).date()

    def start_of_today(self) -> datetime:
        return datetime.combine(self.today(), time(), tzinfo=self.settings.zone)

    def load_listing(self, spec: str | None = None, *, offline: bool = False) -> Listing:
        """Fetch or load every source in ``spec`` (default ``DIGEST_SOURCE``), merged by id."""
        chosen = sources.resolve(spec or self.settings.source)
        context = sources.FetchContext(
            today=self.today(), http=self._http_for(chosen, offline),
            lookback_days=self.settings.lookback_days,
            hf_base_url=self.settings.hf_base_url, arxiv_base_url=self.settings.arxiv_base_url,
            announce_types=self.settings.arxiv_announce,
        )
        listing = sources.fetch_all(chosen, context)
        return Listing(listing.source, listing.papers, listing.warnings, [*listing.notes, *context.notes])

    def make_index(self, papers: Sequence[Paper]) -> Index:
        """The day's index; with DIGEST_SEMANTIC=true (and the extra) it also embeds the papers."""
        embedder = None
        if self.settings.semantic:
            from .semantic import Embedder

            embedder = Embedder()
        return Index(papers, embedder=embedder)

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
        index = self.make_index(listing.papers)
        enabled = [reader for reader in readers if reader.enabled]
        picks = rank_many(
            index,
            [parse_profile(reader.keywords) for reader in enabled],
            [(sent or {}).get(reader.email.lower(), set()) for reader in enabled],
            [self.selection_for(reader, limit) for reader in enabled],
        )
        return list(zip(enabled, picks))

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
    ) -> SendReport:
        """Rank, render, build and deliver each reader's digest exactly once.

        A reader gets at most one digest a day (in ``DIGEST_TIMEZONE``) unless
        ``force``: a second run the same day sends nothing, even when the listing
        has grown since; the new papers go out with tomorrow's digest. ``slot``
        names the scheduled time a daemon run serves, for the daemon's guard.
        ``shard``: only this shard's readers, under the shard's own lock.
        """
        from .mail import Mailer
        from .store import Store

        readers = shard.select(readers) if shard else readers
        check_sendable(self.settings, readers)
        listing = self.load_listing(source, offline=offline)
        for warning in listing.warnings:
            log.warning("warning: %s", warning)
        for note in listing.notes:
            log.warning("%s", note)
        report = SendReport()
        if not listing.papers:
            report.note = "; ".join(listing.notes) or "no papers listed"
            if not dry_run:
                self._record_empty_run(slot, report.note)
            return report
        mailer = None if dry_run else Mailer(self.settings)
        lock = send_lock(self.settings.state_db, shard)
        with lock, Store.open(self.settings.state_db) as store:
            run_id = None if dry_run else store.start_run(self.today().isoformat(), slot)
            outgoing = None if mailer is None else SendQueue(mailer, parseaddr(self.settings.from_addr)[1])
            try:
                if not dry_run:
                    store.record_seen(listing.papers)
                sent = {} if force else store.sent_among(paper.id for paper in listing.papers)
                done_today = set() if force else store.readers_sent_since(self.start_of_today())
                for reader in readers:
                    if reader.email.lower() in done_today:
                        log.info("%s already got today's digest; skipped (--force sends again)", reader.email)
                        report.nothing_new.append(reader.email)
                todo = [r for r in readers if r.enabled and r.email.lower() not in done_today]
                for number, (reader, item) in enumerate(self._produce(listing, todo, sent), 1):
                    if self.stopping.is_set():
                        report.stopped = len(todo) - number + 1
                        break
                    if item is None:
                        report.nothing_new.append(reader.email)
                    elif outgoing is None:
                        report.written.append(self._write_eml(reader, item, outbox))
                    else:
                        outgoing.submit(item)
                        self._record(outgoing, store, report)
                        if outgoing.error is not None:
                            break  # the connection is gone: the rest go next run
                    if progress:
                        progress(number, len(todo))
                if outgoing is not None and self.stopping.is_set():
                    report.stopped += outgoing.drop_pending()
            except BaseException as err:
                error: str | None = str(err) or type(err).__name__
                raise
            else:
                error = None
            finally:
                if outgoing is not None:
                    outgoing.close()  # waits for what is queued, unless the connection failed
                    self._record(outgoing, store, report)  # whatever the server accepted is recorded
                    error = error or (str(outgoing.error) if outgoing.error else None)
                if mailer:
                    mailer.close()
                if run_id is not None:
                    store.finish_run(run_id, len(report.sent), len(report.nothing_new), len(report.failed),
                                     error=error)
                    store.prune(self.settings.keep_days)
        if outgoing is not None:
            outgoing.raise_error()
        return report

    def _prepare(self, reader: Subscriber, picks: list[Pick]) -> Outgoing | None:
        """Render and build one reader's message (None: nothing new, and no empty digests)."""
        if not picks and not self.settings.send_empty:
            return None
        rendered = self.render(reader, picks)
        message_id, message = self.build(reader, rendered)
        return Outgoing(reader.email, message_id, message, [p.paper.id for p in picks[: rendered.shown]])

    def _produce(self, listing: Listing, readers: Sequence[Subscriber],
                 sent: Mapping[str, set[str]]) -> Iterator[tuple[Subscriber, Outgoing | None]]:
        """Each reader's message, in order: built here, or by a forked producer for big lists.

        Ranking, rendering and building are CPU work, sending is mostly waiting for
        the server. For a big list (and a single-threaded process: forking a threaded
        one is unsafe) a forked child does the CPU work on another core and hands the
        built messages over a bounded queue, so the two overlap without sharing a GIL.
        Nothing is recorded by the child: only this process records, after the server
        accepted a message.
        """
        if len(readers) >= PRODUCER_MIN and fork_is_safe():
            log.info("building %d messages in a second process while sending", len(readers))
            yield from _from_child(self, listing, readers, sent)
            return
        for reader, picks in self.rank_readers(listing, readers, sent):
            yield reader, self._prepare(reader, picks)

    def _write_eml(self, reader: Subscriber, item: Outgoing, outbox: Path | None) -> Path:
        folder = outbox or Path("outbox")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.today().isoformat()}-{_file_safe(reader.email)}.eml"
        path.write_bytes(item.message)
        return path

    @staticmethod
    def _record(outgoing: SendQueue, store: Any, report: SendReport) -> None:
        """Record what the server has answered; only accepted messages count as sent."""
        answered = list(outgoing.finished())
        store.record_deliveries(
            (item.recipient, item.message_id, item.paper_ids, None if delivery.ok else delivery.error)
            for item, delivery in answered
        )
        for item, delivery in answered:
            if delivery.ok:
                report.sent.append(item.recipient)
            else:
                report.failed[item.recipient] = delivery.error

    def _record_empty_run(self, slot: str | None, note: str) -> None:
        from .store import Store

        with Store.open(self.settings.state_db) as store:
            store.finish_run(store.start_run(self.today().isoformat(), slot), 0, 0, 0, note=note)

    def sent_ids(self, readers: Sequence[Subscriber], papers: Sequence[Paper]) -> Mapping[str, set[str]]:
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


PRODUCER_MIN = 200  # readers; below this a second process is not worth starting


def _from_child(app: Digest, listing: Listing, readers: Sequence[Subscriber],
                sent: Mapping[str, set[str]]) -> Iterator[tuple[Subscriber, Outgoing | None]]:
    context = multiprocessing.get_context("fork")
    channel = context.Queue(maxsize=64)  # bounds memory: the child waits for the sender
    child = context.Process(target=_produce_in_child, args=(app, listing, readers, sent, channel),
                            name="digest-render", daemon=True)
    child.start()
    try:
        for _ in readers:
            message = _receive(channel, child)
            if isinstance(message, BaseException):
                raise message
            number, item = message
            yield readers[number], item
    finally:
        if child.is_alive():
            child.terminate()
        child.join()
        channel.close()


def _receive(channel: Any, child: Any) -> Any:
    while True:
        try:
            return channel.get(timeout=1.0)
        except queue.Empty:
            if not child.is_alive():
                raise DigestError(f"the rendering process stopped unexpectedly (exit code {child.exitcode})") from None


def _produce_in_child(app: Digest, listing: Listing, readers: Sequence[Subscriber],
                      sent: Mapping[str, set[str]], channel: Any) -> None:
    """In the forked child: rank and build each reader's message, one by one, in order."""
    try:
        index = app.make_index(listing.papers)
        for number, reader in enumerate(readers):
            picks = rank(index, parse_profile(reader.keywords), sent=sent.get(reader.email.lower(), set()),
                         selection=app.selection_for(reader))
            channel.put((number, app._prepare(reader, picks)))
    except BaseException as err:  # noqa: BLE001 (handed to the parent, which raises it)
        channel.put(err if isinstance(err, DigestError) else DigestError(f"rendering failed: {err!r}"))
    finally:
        channel.close()
        channel.join_thread()


def make_digest(settings: Settings) -> Digest:
    return Digest(settings)


def _file_safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "@.-_" else "_" for c in text)
