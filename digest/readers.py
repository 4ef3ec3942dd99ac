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
from .tokens import address_hashes
from .store.bounces import Suppression
from .store.readers import ReaderState


class ReaderStore(Protocol):
    def reader_states(self) -> dict[str, ReaderState]: ...

    def reader_status(self, email: str) -> str | None: ...

    def suppression(self, email: str) -> Suppression | None: ...

    def forgotten(self) -> dict[str, str]: ...


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
    """The reader's own keywords, ``max_items``, follows and summary language win over the roster's."""
    return replace(
        reader,
        keywords=reader.keywords if state.keywords is None else state.keywords,
        max_items=reader.max_items if state.max_items is None else state.max_items,
        authors=reader.authors if state.authors is None else state.authors,
        orgs=reader.orgs if state.orgs is None else state.orgs,
        language=reader.language if state.language is None else state.language or None,  # "": English
    )


def refusal(store: ReaderStore, email: str) -> str | None:
    """Why this reader must get nothing now, or None (asked again just before each message is built).

    Their own word (unsubscribed, paused, a pending sign-up), or a suppression: bounces,
    a complaint, or an unsubscribe reply read by ``digest bounces`` (the daemon reads the
    mailbox while a send runs: a reader suppressed mid-send gets no message built after).
    """
    status = store.reader_status(email)
    return refusal_of(status, None if status in HELD else store.suppression(email))


HELD = ("unsubscribed", "paused", "pending")  # statuses that get nothing


def refusal_of(status: str | None, suppression: Suppression | None) -> str | None:
    """``refusal``'s rule, for a status and a suppression already read (``digest rank`` reads them in bulk)."""
    if status in HELD:
        return status
    return held_by(suppression) if suppression else None


def held_by(suppression: Suppression) -> str:
    """Why a suppressed reader gets nothing, as the send's summary and ``digest rank`` say it."""
    return f"suppressed ({suppression.kind()})"


def suppressed(store: ReaderStore, email: str) -> bool:
    """Whether this reader must get nothing now (``refusal`` says why)."""
    return refusal(store, email) is not None


def unmailable(store: ReaderStore, keys: tuple[str, ...], email: str) -> str | None:
    """Why no mail at all may go to this address (a sign-up's confirmation neither), or None: a suppression
    (bounces, a complaint), or one a removal kept as a keyed hash of the address. An unsubscribe does not
    bar it: the reader may ask for the digest again, and confirm."""
    found = store.suppression(email)
    if found is not None:
        return held_by(found)
    forgotten = store.forgotten()
    why = next((forgotten[h] for h in address_hashes(keys, email) if h in forgotten), None) if forgotten else None
    return f"removed ({why})" if why is not None and why != "unsubscribed" else None


def removed_refusals(readers: Sequence[Subscriber], states: Mapping[str, ReaderState], forgotten: Mapping[str, str],
                     keys: tuple[str, ...]) -> dict[str, str]:
    """Readers removed (``digest readers remove``) while unsubscribed or suppressed and still in the file,
    found by the keyed hash of their address the store kept; lower-case address -> why they get nothing.

    A reader with a row again (a new sign-up confirmed, ``digest readers resume``) is past it.
    """
    if not forgotten:
        return {}
    out = {}
    for reader in readers:
        email = reader.email.lower()
        why = None if email in states else next((forgotten[h] for h in address_hashes(keys, email) if h in forgotten), None)
        if why is not None:
            out[email] = f"removed ({why})"
    return out
