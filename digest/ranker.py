"""The ranking package wired to the settings: the day's index, each reader's selection, their picks and hints.

``Digest`` (``digest.app``) hands its ranking here and keeps the names its callers
know; the ranker itself stays pure (``digest.ranking``): this module only chooses
its inputs, from settings, the readers' own limits, their votes and the catch-up plan.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import date

from .examples import examples_for_readers
from .model import Listing, Paper, Subscriber
from .ranking.authors import follows_of
from .ranking.hints import KeywordHint, keyword_hints
from .ranking.index import Index
from .ranking.many import rank_many
from .ranking.profile import parse_profile
from .ranking.select import Pick, Selection
from .sending.catchup import Plan
from .settings import Settings

__all__ = ["Ranker"]

log = logging.getLogger("digest")


class Ranker:
    """Ranks a listing for readers as the settings say; ``today`` is the app's clock, asked at each call."""

    def __init__(self, settings: Settings, today: Callable[[], date],
                 halted: Callable[[], bool] = lambda: False) -> None:
        self.settings = settings
        self.today = today
        self.halted = halted  # a stop signal: embedding the day's papers and keywords ends (``Stopped``)

    def make_index(self, papers: Sequence[Paper]) -> Index:
        """The day's index; with DIGEST_SEMANTIC on it also embeds the papers the store has no vector for."""
        embedder = None
        if self.settings.semantic != "false":
            from .semantic import CachedEmbedder, make_embedder
            from .store import Store

            embedder = CachedEmbedder(make_embedder(self.settings.semantic), lambda: Store.open(self.settings.state_db),
                                      on_error=lambda err: log.warning("embeddings not cached: %s", err),
                                      halted=self.halted)
        return Index(papers, embedder=embedder)

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
            examples_for_readers(self.settings, enabled, listing.papers),
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
        if not index.papers:  # nothing listed: no keyword can be said to match nothing
            return ()
        first = sent.covers(reader.email) if isinstance(sent, Plan) else None
        days = (self.today() - first).days + 1 if first is not None else 1
        outside = sent.older(reader.email) if isinstance(sent, Plan) else frozenset()
        return tuple(keyword_hints(parse_profile(reader.keywords), index, days, leave_out=outside))
