"""What the state store keeps that the app reads before a send: the catch-up a send would rank, and the LLM
summaries it would not ask for again (``Digest.candidates``, ``Digest.kept_summaries``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from .model import Listing, Subscriber
from .ranking.select import Pick
from .sending.catchup import Plan, candidates
from .settings import Settings

if TYPE_CHECKING:
    from .store import Store
    from .summaries import Summarizer


class Stored:
    """The state store of ``settings``, read on the app's clock (Unix seconds)."""

    def __init__(self, settings: Settings, clock: Callable[[], float]) -> None:
        self.settings = settings
        self.clock = clock

    def open(self) -> Store:
        from .store import Store

        return Store.open(self.settings.state_db)

    def summarizer(self) -> Summarizer | None:
        """A send's summarizer (a budget and deadline per send) when ``DIGEST_LLM_URL`` is set, else None; only
        then is the summaries' module loaded."""
        if not self.settings.llm_url:
            return None
        from .summaries import summarizer_for

        return summarizer_for(self.settings, self.open)

    def candidates(self, listing: Listing, readers: Sequence[Subscriber]) -> Plan:
        """What a send would rank for these readers: the listing with their catch-up, minus what they got."""
        if not self.settings.state_db.exists():
            return Plan(listing, {}, {}, [], [], self.settings.zone)
        with self.open() as store:
            return candidates(store, listing, readers, now=self.clock(), window_days=self.settings.catchup_days,
                              zone=self.settings.zone, few=len(readers) <= 16)

    def kept_summaries(self, reader: Subscriber, picks: list[Pick]) -> tuple[list[Pick], int]:
        """The picks with the LLM summaries (``DIGEST_LLM_URL``) the store keeps for them in the reader's language,
        the model asked nothing, and how many have none kept: the send would ask for those."""
        if not self.settings.llm_url or not picks:
            return picks, 0
        if not self.settings.state_db.exists():  # a preview makes no state database
            return picks, len(picks)
        summarizer = self.summarizer()
        if summarizer is None:
            return picks, 0
        papers = summarizer.kept([pick.paper for pick in picks], reader.language)
        missing = sum(paper.summary_by != self.settings.llm_model for paper in papers)
        return [replace(pick, paper=paper) for pick, paper in zip(picks, papers)], missing
