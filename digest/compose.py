"""One reader's message, from picks to bytes: links, render, envelope, and the copy kept for the archive.

``Digest`` (``digest.app``) hands its composition here and keeps the names its
callers know (``render``, ``build``, ``prepare_message``, ...). The preview and
the send both come through ``render``, so what is previewed is what is sent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from . import envelope
from .archive import keep
from .errors import OutputError
from .model import Listing, Subscriber
from .ranking.hints import KeywordHint
from .ranking.select import Pick
from .render import Renderer, Rendered, describe_listing
from .sending import Outgoing
from .settings import Settings
from .tokens import ReaderLinks, links_for

if TYPE_CHECKING:
    from .summaries import Summarizer

__all__ = ["Composer"]


class Composer:
    """Renders and builds each reader's digest; ``today`` and ``now`` are the app's clock, asked at each call."""

    def __init__(self, settings: Settings, today: Callable[[], date], now: Callable[[], datetime],
                 renderer: Renderer | None = None) -> None:
        self.settings = settings
        self.today, self.now = today, now
        self._renderer = renderer
        self._described: tuple[Listing, tuple[str, date]] | None = None  # the last listing's header
        self.summarizer: Summarizer | None = None  # a send's LLM summaries (DIGEST_LLM_URL), set for the send

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
                                    unsubscribe=envelope.unsubscribe_for(self.settings, links), links=links,
                                    since=since, hints=hints,
                                    listed=None if listing is None else len(listing.papers), today=self.today())

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
                        templates=self.renderer.version, total=total, since=since, hints=hints, more=more,
                        nothing_listed=listing is not None and not listing.papers)
        return Outgoing(reader.email, message_id, message, [p.paper.id for p in picks[: rendered.shown]],
                        day=today, kept=kept, hints=tuple(hints))

    def write_eml(self, reader: Subscriber, item: Outgoing, outbox: Path | None) -> Path:
        """Write one built message to ``outbox`` (``--dry-run --outbox``), named by the day and the reader."""
        folder = outbox or Path("outbox")
        path = folder / f"{self.today().isoformat()}-{_file_safe(reader.email)}.eml"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path.write_bytes(item.message)
        except OSError as err:
            raise OutputError.writing(path, err, "choose another folder with --outbox DIR") from err
        return path


def _file_safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "@.-_" else "_" for c in text)
