"""What each reader taught the ranker: their votes (from the store) and their library file.

A library entry with only an id takes its text from the listing, else from the
papers the store remembers from recent listings. A library that cannot be read
(``LibraryError``) stops no one: its readers are ranked on keywords and votes.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError
from .model import Paper, Subscriber
from .ranking.reader import Examples, examples_for
from .settings import Settings

if TYPE_CHECKING:
    from .library import Library
    from .store import Store

__all__ = ["examples_for_readers", "held_back", "require_readers", "web_sign_ups", "with_own_changes"]

log = logging.getLogger("digest")


def examples_for_readers(settings: Settings, readers: Sequence[Subscriber], papers: Sequence[Paper],
                         store: Store | None = None, *,
                         problems: dict[str, str] | None = None) -> list[Examples | None]:
    """Each reader's liked and disliked papers for the ranker: their votes and their library.

    Votes come from the state store in one query for all readers (``store``: a send's
    open connection; else one is opened); a library file is read once per path. A
    library that cannot be read gets a warning naming each of its readers, and
    ``problems`` (when given) maps their address to the reason.
    """
    libraries, failed = _read_libraries([r.library for r in readers if r.library is not None], papers)
    votes, known = _stored(settings, readers, [e.paper_id for lib in libraries.values()
                                               for e in lib.entries if e.paper_id and not e.abstract], store)
    for path, library in libraries.items():
        libraries[path] = library = _filled(library, known)
        log.info("library %s", library.summary())
    for reader in readers:
        if reader.library in failed:
            log.warning("%s: ranked without their library: %s", reader.email, failed[reader.library])
            if problems is not None:
                problems[reader.email] = str(failed[reader.library])
    return [examples_for(reader, votes.get(reader.email.lower(), ()),
                         libraries[reader.library].entries if reader.library in libraries else ()) or None
            for reader in readers]


def with_own_changes(settings: Settings, readers: Sequence[Subscriber]) -> list[Subscriber]:
    """The readers with what they changed on the web app (keywords, maximum, follows, language) applied,
    as the send applies them; unchanged without a store."""
    if not settings.state_db.exists():
        return list(readers)
    from .readers import apply_changes
    from .store import Store

    with Store.open(settings.state_db) as store:
        states = store.reader_states()
    return [apply_changes(r, states[r.email.lower()]) if r.email.lower() in states else r for r in readers]


def web_sign_ups(settings: Settings, listed: Collection[str]) -> list[Subscriber]:
    """The confirmed web sign-ups the roster does not name (``listed``: lower-case addresses), with their own
    keywords: the readers a send adds to the roster (``readers.effective_readers``); none without a store."""
    if not settings.state_db.exists():
        return []
    from .readers import apply_changes
    from .store import Store

    with Store.open(settings.state_db) as store:
        states = store.reader_states()
    found = (apply_changes(Subscriber(email=email, keywords=()), state) for email, state in sorted(states.items())
             if email not in listed and state.origin == "web" and state.status == "active")
    return [reader for reader in found if reader.keywords]


def require_readers(settings: Settings, roster: Sequence[Subscriber]) -> list[Subscriber]:
    """The confirmed web sign-ups a send adds to ``roster`` (``web_sign_ups``); a ``ConfigError`` saying how to
    add readers when there is nobody at all: no roster (a list run through sign-up alone has none) and no
    confirmed sign-up."""
    signed_up = web_sign_ups(settings, {reader.email.lower() for reader in roster})
    if not roster and not signed_up:
        from .subscribers import no_readers

        raise ConfigError(no_readers(settings))
    return signed_up


def held_back(settings: Settings, readers: Sequence[Subscriber]) -> dict[str, str]:
    """Why each of these readers gets no digest now, by lower-case address, as the send asks it
    (``readers.refusal``): their own pause or unsubscribe, an unconfirmed sign-up, a suppression."""
    if not settings.state_db.exists():
        return {}
    from .readers import refusal_of
    from .store import Store

    with Store.open(settings.state_db) as store:
        states, suppressions = store.reader_states(), store.suppressions()
    found = {email: refusal_of(states[email].status if email in states else None, suppressions.get(email))
             for email in {reader.email.lower() for reader in readers if reader.email}}
    return {email: why for email, why in found.items() if why is not None}


def _stored(settings: Settings, readers: Sequence[Subscriber], ids: Sequence[str],
            store: Store | None = None) -> tuple[Mapping[str, Sequence[Any]], list[Paper]]:
    """(the readers' votes by lower-case address, the remembered papers among ``ids``); none without a store."""
    if store is not None:
        return store.votes_for(r.email for r in readers if r.email), store.known_papers(ids) if ids else []
    if not settings.state_db.exists():
        return {}, []
    from .store import Store

    with Store.open(settings.state_db) as opened:
        return _stored(settings, readers, ids, opened)


def _read_libraries(paths: list[Path], papers: Sequence[Paper]) -> tuple[dict[Path, "Library"], dict[Path, Any]]:
    """The readers' library files (each once), filled from the listing; loaded only when a reader has one."""
    if not paths:
        return {}, {}
    from .library import fill_from, read_libraries

    libraries, failed = read_libraries(paths)
    return {path: fill_from(library, papers) for path, library in libraries.items()}, failed


def _filled(library: "Library", papers: Any) -> "Library":
    from .library import fill_from

    return fill_from(library, papers)
