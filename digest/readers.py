"""Who gets a digest: the operator's roster merged with what readers said on the web.

The roster (``DIGEST_SUBSCRIBERS`` or ``DIGEST_TO``) names the readers; a reader's
own changes in the state store win for that reader. Unsubscribed, paused, pending
and not-due-this-week readers get nothing, whatever the roster or ``--force`` say;
confirmed web sign-ups are added.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date
from typing import Protocol

from .model import Subscriber
from .store.readers import ReaderState


class ReaderStore(Protocol):
    def reader_states(self) -> dict[str, ReaderState]: ...

    def reader_status(self, email: str) -> str | None: ...


def effective_readers(roster: Sequence[Subscriber], store: ReaderStore, today: date,
                      last: Mapping[str, date] | None = None) -> list[Subscriber]:
    """The readers to send to ``today``: the roster with web changes applied, plus web sign-ups.

    ``last``: each reader's (lower-case address) day of their last digest, for the weekly rule.
    """
    last = last or {}
    states = store.reader_states()
    readers: list[Subscriber] = []
    listed: set[str] = set()
    for reader in roster:
        listed.add(reader.email.lower())
        state = states.get(reader.email.lower())
        if state is None:
            readers.append(reader)
        elif state.status == "active" and state.due(today, last.get(reader.email.lower())):
            readers.append(apply_changes(reader, state))
    for email, state in sorted(states.items()):
        if email not in listed and state.origin == "web" and state.status == "active" and state.due(today, last.get(email)):
            readers.append(apply_changes(Subscriber(email=email, keywords=()), state))
    return [r for r in readers if r.keywords]


def apply_changes(reader: Subscriber, state: ReaderState) -> Subscriber:
    """The reader's own keywords and ``max_items`` win over the roster's."""
    return replace(
        reader,
        keywords=reader.keywords if state.keywords is None else state.keywords,
        max_items=reader.max_items if state.max_items is None else state.max_items,
    )


def suppressed(store: ReaderStore, email: str) -> bool:
    """Whether this reader must get nothing now (asked again just before each message is built)."""
    return store.reader_status(email) in ("unsubscribed", "paused", "pending")
