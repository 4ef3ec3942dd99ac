"""What the send pipeline needs from the application that runs it (``digest.app.Digest`` is one).

The pipeline owns this protocol, so it never imports the layer that calls it:
the app hands itself in, and the pipeline asks it for the day, the listing, the
index, the readers' votes and each reader's built message.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..model import Listing, Paper, Subscriber
from ..settings import Settings

if TYPE_CHECKING:
    from ..ranking.hints import KeywordHint
    from ..ranking.index import Index
    from ..ranking.reader import Examples
    from ..ranking.select import Pick, Selection
    from ..store import Store
    from .deliver import Outgoing

__all__ = ["Pipeline"]


class Pipeline(Protocol):
    """The application's side of a send."""

    settings: Settings
    clock: Callable[[], float]  # Unix seconds
    started_by: str  # what digest status calls the run: "daemon" or "one-off"
    stopping: threading.Event  # set by a signal: finish the message in hand, then stop

    @property
    def archives(self) -> bool: ...

    def today(self) -> date: ...

    def start_of_today(self) -> datetime: ...

    def load_listing(self, spec: str | None = None, *, offline: bool = False,
                     since: date | None = None) -> Listing: ...

    def last_run_day(self, spec: str | None = None) -> date | None: ...

    def sources_read(self, spec: str | None = None) -> list[str]: ...

    def make_index(self, papers: Sequence[Paper]) -> Index: ...

    def selection_for(self, reader: Subscriber, limit: int | None = None) -> Selection: ...

    def keyword_hints(self, index: Index, reader: Subscriber,
                      sent: Mapping[str, Collection[str]]) -> tuple[KeywordHint, ...]: ...

    def examples_for_readers(self, readers: Sequence[Subscriber], papers: Sequence[Paper],
                             store: Store | None = None, *,
                             problems: dict[str, str] | None = None) -> list[Examples | None]: ...

    def prepare_message(self, reader: Subscriber, picks: list[Pick], *, listing: Listing | None = None,
                        total: int | None = None, since: date | None = None,
                        hints: Sequence[KeywordHint] = (), more: Sequence[Pick] = ()) -> Outgoing | None:
        """Render and build one reader's message (None: nothing new, and no empty digests)."""

    def write_eml(self, reader: Subscriber, item: Outgoing, outbox: Path | None) -> Path:
        """Write one built message to ``outbox`` (``--dry-run --outbox``)."""
