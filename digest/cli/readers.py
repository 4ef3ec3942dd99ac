"""The reader's side: serve (the reader pages), readers and feedback."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .common import (
    _source_option, _warn, address, clean, clip, host, no_state_yet, path, port, require_state, say_if_new_state,
    settings_for,
)

if TYPE_CHECKING:
    from ..model import Listing, Paper, Subscriber
    from ..settings import Settings
    from ..store import ReaderState, Store


# serve and readers (the reader's side) ----------------------------------------

def _add_serve(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("serve", help="the reader pages: unsubscribe, preferences, feedback, sign-up")
    cmd.add_argument("--host", type=host, default="127.0.0.1", help="address to bind (default 127.0.0.1; put a proxy in front)")
    cmd.add_argument("--port", type=port, default=8026, metavar="N", help="port (default 8026)")
    cmd.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    from ..web import make_app
    from ..web.server import bind, run, url_of

    settings = settings_for(args)
    app = make_app(settings, bind_host=args.host)  # a missing DIGEST_SECRET_KEY fails here, before binding
    sock = bind(args.host, args.port)
    if not settings.public_url:
        print("digest: note: DIGEST_PUBLIC_URL is not set, so emails carry no links to these pages", file=sys.stderr)
    print(f"reader pages at {url_of(sock)}  (Ctrl-C to stop)", flush=True)
    try:
        run(app, sock)
    except KeyboardInterrupt:
        pass
    return 0


def _add_readers(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("readers", help="who reads: list, show, pause, resume, remove, export")
    cmd.add_argument("action", nargs="?", default="list",
                     choices=("list", "show", "pause", "resume", "remove", "export"))
    cmd.add_argument("email", nargs="?", type=address, metavar="EMAIL", help="the reader (show, pause, resume, remove)")
    cmd.add_argument("--subscribers", type=path, metavar="FILE", help="subscribers TOML file")
    cmd.set_defaults(func=run_readers)


def run_readers(args: argparse.Namespace) -> int:
    from ..store import Store

    settings = settings_for(args)
    if args.action in ("show", "pause", "resume", "remove") and not args.email:
        raise ConfigError(f"digest readers {args.action} needs the reader's address: digest readers {args.action} EMAIL")
    if args.action in ("list", "export") and args.email:
        raise ConfigError(f"digest readers {args.action} takes no address; "
                          f"for one reader: digest readers show {args.email}")
    roster = _roster_or_none(settings, args.subscribers)
    if args.action == "list" and not settings.state_db.exists():  # the roster alone, said to be that
        print(f"digest: note: {no_state_yet(settings.state_db)}; the roster alone is shown, without what "
              "readers or you changed (pauses, unsubscribes, suppressions)", file=sys.stderr)
        return _readers_list(roster, None, settings)
    if args.action in ("list", "export", "show"):
        require_state(settings)
    else:
        if not settings.state_db.exists() and args.email.lower() not in {r.email.lower() for r in roster}:
            raise ConfigError(_no_reader(args.email.lower()))  # before a database is made for nobody
        say_if_new_state(settings)
    with Store.open(settings.state_db) as store:
        if args.action == "list":
            return _readers_list(roster, store, settings)
        if args.action == "export":
            emails = sorted({r.email.lower() for r in roster} | set(store.known_emails()))
            print(json.dumps({"readers": _shown(emails, roster, store, settings)}, indent=2, ensure_ascii=False))
            return 0
        return _reader_action(args.action, args.email.strip().lower(), roster, store, settings)


def _roster_or_none(settings: Settings, path: Path | None) -> list[Subscriber]:
    """The operator's roster; none at all is fine here (readers may all be web sign-ups)."""
    from ..subscribers import roster_from_settings

    return [r for r in roster_from_settings(settings, path) if r.email]


def _readers_list(roster: list[Subscriber], store: Store | None, settings: Settings) -> int:
    """One line per reader, from one index of the roster (a search per line was quadratic); no store: the
    roster as the files give it."""
    states = store.reader_states() if store is not None else {}
    listed: dict[str, Subscriber] = {}
    for subscriber in roster:
        listed.setdefault(subscriber.email.lower(), subscriber)
    emails = sorted(listed.keys() | states.keys())
    held = _held(roster, states, store, settings) if store is not None else {}
    lines = [f"{'EMAIL':<36} {'STATUS':<13} {'FROM':<7} {'HOW OFTEN':<9} KEYWORDS"]
    for email in emails:
        state, reader = states.get(email), listed.get(email)
        keywords = state.keywords if state and state.keywords is not None else (reader.keywords if reader else ())
        origin, status = _origin(state, reader), _status(email, state, reader, held)
        lines.append(f"{clean(email):<36} {status:<13} {origin:<7} "
                     f"{state.frequency if state else 'run':<9} {clip(', '.join(keywords), 60)}")
    print("\n".join(lines))
    print(f"{len(emails)} reader(s)", file=sys.stderr)
    return 0


def _origin(state: ReaderState | None, reader: Subscriber | None) -> str:
    """Where the reader comes from: the subscribers file, a web sign-up, or only what the store recorded."""
    return "file" if reader else ("web" if state and state.origin == "web" else "store")


def _status(email: str, state: ReaderState | None, reader: Subscriber | None, held: dict[str, str]) -> str:
    """Whether a send serves them, as ``readers list`` says it: their own status, a suppression or removal
    (``held``), ``enabled = false`` in the file."""
    status = state.status if state and state.status != "active" else held.get(email, "active")
    return "disabled" if status == "active" and reader is not None and not reader.enabled else status


def _shown(emails: Sequence[str], roster: list[Subscriber], store: Store, settings: Settings) -> list[dict[str, Any]]:
    """``show`` and ``export``: what is stored about each reader, after their status as ``list`` gives it and
    what the subscribers file says of them (``"roster"``). A reader only the file names showed ``"state": null``
    and nothing else, as if unknown."""
    states = store.reader_states()
    held = _held(roster, states, store, settings)
    listed: dict[str, Subscriber] = {}
    for subscriber in roster:
        listed.setdefault(subscriber.email.lower(), subscriber)
    shown = []
    for email in emails:
        state, reader = states.get(email), listed.get(email)
        shown.append({"email": email, "status": _status(email, state, reader, held), "from": _origin(state, reader),
                      "roster": _as_json(reader)} | store.export_reader(email))
    return shown


def _as_json(reader: Subscriber | None) -> dict[str, Any] | None:
    """The subscribers file's entry, as it was read (keywords as written, the library's path)."""
    if reader is None:
        return None
    entry = dataclasses.asdict(reader)
    entry.pop("email")
    return {key: str(value) if isinstance(value, Path) else list(value) if isinstance(value, tuple) else value
            for key, value in entry.items()}


def _held(roster: list[Subscriber], states: dict[str, ReaderState], store: Store, settings: Settings) -> dict[str, str]:
    """Readers held back by a suppression (bounces, a complaint) or a removal's hash: lower-case address -> status."""
    from ..readers import removed_refusals

    held = {email: "suppressed" for email in store.suppressions()}
    return held | {email: "removed" for email in removed_refusals(roster, states, store.forgotten(), settings.secret_keys)}


def _reader_action(action: str, email: str, roster: list[Subscriber], store: Store, settings: Settings) -> int:
    known = email in {r.email.lower() for r in roster} or email in store.known_emails()
    if not known:
        raise ConfigError(_no_reader(email))
    if action == "show":
        bounces = store.bounce_summary(email)  # shown once the reader has bounced (or is suppressed)
        shown = _shown([email], roster, store, settings)[0] | (bounces if bounces["bounces"] or bounces["suppressed"]
                                                                else {})
        removed = _removed_why(store, settings, email)
        print(json.dumps(shown | ({"removed": removed} if removed else {}), indent=2, ensure_ascii=False))
    elif action == "remove":
        _remove(store, settings, email, still=email in {r.email.lower() for r in roster})
    elif action == "pause":
        store.set_status(email, "paused")
        print(f"paused: {email} gets no digest until digest readers resume {email}")
    else:
        _resume(store, settings, email)
    return 0


def _no_reader(email: str) -> str:
    return f"no reader {email} in the roster or the state store; see digest readers list"


def _remove(store: Store, settings: Settings, email: str, still: bool) -> None:
    """Wipe the reader; an unsubscribe or a suppression stays, as a keyed hash of the address only."""
    from ..readers import refusal
    from ..tokens import address_hash

    why = refusal(store, email)
    keep = why if why is not None and why != "paused" and why != "pending" else None
    store.forget_bounces(email, address_hash(settings.secret_keys, email) if keep else None,
                         keep.removeprefix("suppressed (").rstrip(")") if keep else "")
    store.remove_reader(email)
    if keep:
        print(f"removed everything stored about {email} but a keyed hash of the address, so they get no digest "
              f"({keep}) even from the subscribers file; digest readers resume {email} lifts it")
    else:
        print(f"removed everything stored about {email}"
              + ("; they are still in the subscribers file: remove them there too, or they get the next digest"
                 if still else ""))


def _resume(store: Store, settings: Settings, email: str) -> None:
    """Active again: their own pause or unsubscribe, a suppression (bounces, a complaint), a removal's hash."""
    from ..tokens import address_hashes

    removed = _removed_why(store, settings, email)
    before = store.set_status(email, "active")
    lifted = store.lift_suppression(email)
    store.lift_forgotten(address_hashes(settings.secret_keys, email))
    was = (before if before and before != "active" else f"suppressed: {lifted.reason}" if lifted
           else f"removed while {removed}" if removed else "")
    print(clean(f"resumed: {email} gets the next digest" + (f" (was {was})" if was else " (it was active already)")))


def _removed_why(store: Store, settings: Settings, email: str) -> str | None:
    """Why a removed reader gets nothing (the hash the removal kept), if it did."""
    from ..tokens import address_hashes

    forgotten = store.forgotten()
    return next((forgotten[h] for h in address_hashes(settings.secret_keys, email) if h in forgotten), None)


# feedback -------------------------------------------------------------------------

def _add_feedback(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("feedback", help="record a reader's votes: more (or fewer) papers like these")
    _source_option(cmd)
    cmd.add_argument("--reader", required=True, type=address, metavar="EMAIL", help="the reader who votes")
    vote = cmd.add_mutually_exclusive_group(required=True)
    vote.add_argument("--like", type=id_list, metavar="ID[,ID...]", help="more like these papers (ids in SRC)")
    vote.add_argument("--dislike", type=id_list, metavar="ID[,ID...]", help="fewer like these papers (ids in SRC)")
    cmd.add_argument("--subscribers", type=path, metavar="FILE", help="subscribers TOML file")
    cmd.set_defaults(func=run_feedback)


def id_list(text: str) -> list[str]:
    """An argparse type: comma-separated paper ids (or arXiv URLs)."""
    ids = [part.strip() for part in text.split(",") if part.strip()]
    if not ids:
        raise argparse.ArgumentTypeError("no paper id given; e.g. --like 2401.00001,2401.00002")
    return ids


def run_feedback(args: argparse.Namespace) -> int:
    from ..app import make_digest
    from ..store import Store

    settings = settings_for(args)
    email = args.reader.strip().lower()
    require_reader(settings, args.subscribers, email)
    with make_digest(settings) as app:
        listing = app.load_listing(args.source, offline=args.offline)
    _warn(listing)
    papers = papers_named(args.like or args.dislike, listing)
    value = 1 if args.like else -1
    say_if_new_state(settings)
    with Store.open(settings.state_db) as store:
        store.record_votes(email, papers, value)
    for paper in papers:
        print(f"{'liked' if value > 0 else 'disliked'} by {clean(email)}: {clean(paper.id)}  {clean(paper.title)}")
    return 0


def require_reader(settings: Settings, subscribers: Path | None, email: str) -> None:
    """The reader is in the roster or the state store, or a ``ConfigError`` says so."""
    from ..store import Store

    if email in {r.email.lower() for r in _roster_or_none(settings, subscribers)}:
        return
    if settings.state_db.exists():
        with Store.open(settings.state_db) as store:
            if email in store.known_emails():
                return
    raise ConfigError(f"no reader {email} in the roster or the state store; check the address (digest readers list)")


def papers_named(ids: Sequence[str], listing: Listing) -> list[Paper]:
    """The listing's papers with these ids (or arXiv URLs); every unknown id in one ``ConfigError``."""
    from ..model import arxiv_id

    by_id = {paper.id: paper for paper in listing.papers}
    found = {given: by_id.get(given) or by_id.get(arxiv_id(given) or "") for given in ids}
    missing = [given for given, paper in found.items() if paper is None]
    if missing:
        named = ", ".join(clip(given, 40) for given in missing[:5]) + (f" and {len(missing) - 5} more"
                                                                      if len(missing) > 5 else "")
        raise ConfigError(f"{named}: not in {listing.source}; nothing recorded "
                          f"(see the ids with digest papers --source {listing.source})")
    return list({paper.id: paper for paper in found.values() if paper is not None}.values())
