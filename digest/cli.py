"""The ``digest`` command: a thin shell over the library API.

A ``DigestError`` becomes one line on stderr and exit code 1; anything else is a
bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from . import __version__
from .app import Digest, check_sendable, make_digest
from .errors import DigestError
from .errors import ConfigError, KeywordError
from .keywords import split_keywords
from .lock import Shard
from .model import Listing, Subscriber
from .subscribers import subscribers_from_settings
from .settings import Settings, load_settings

Command = Callable[[argparse.Namespace], int]
log = logging.getLogger("digest")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s" if args.debug else "%(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("httpx").setLevel(logging.INFO if args.debug else logging.WARNING)
    try:
        return int(args.func(args))
    except DigestError as err:
        if args.debug:
            raise
        print(f"digest: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("digest: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="digest", description="The day's research papers, ranked for you, by email."
    )
    parser.add_argument("--version", action="version", version=f"digest {__version__}")
    parser.add_argument("--env-file", type=Path, default=Path(".env"), metavar="PATH",
                        help="settings file (default ./.env; real environment variables win)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("-v", "--verbose", action="store_true", help="show progress logs")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for add in (_add_papers, _add_rank, _add_preview, _add_send, _add_run, _add_check, _add_status):
        add(commands)
    return parser


def _source_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", metavar="SRC",
                        help="file, sample, hf, hf:YYYY-MM-DD, arxiv:CATS or URL; "
                             "several comma-separated (default DIGEST_SOURCE)")
    parser.add_argument("--offline", action="store_true", help="use only the HTTP cache")


def _app(args: argparse.Namespace) -> Digest:
    return make_digest(settings_for(args))


def settings_for(args: argparse.Namespace) -> Settings:
    return load_settings(args.env_file)


def _warn(listing: Listing) -> None:
    for warning in listing.warnings:
        print(f"digest: warning: {warning}", file=sys.stderr)
    for note in listing.notes:
        print(f"digest: {note}", file=sys.stderr)


# papers ---------------------------------------------------------------------

def _add_papers(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("papers", help="load a listing and show its papers")
    _source_option(cmd)
    cmd.add_argument("--json", action="store_true", help="one JSON object per line")
    cmd.set_defaults(func=run_papers)


def run_papers(args: argparse.Namespace) -> int:
    with _app(args) as app:
        listing = app.load_listing(args.source, offline=args.offline)
    _warn(listing)
    if not listing.papers:
        if not listing.notes:
            print(f"digest: no papers listed in {listing.source}", file=sys.stderr)
        return 1
    if args.json:
        for paper in listing.papers:
            print(json.dumps(paper.to_json(), ensure_ascii=False))
        return 0
    width = shutil.get_terminal_size((100, 20)).columns
    print(f"{'ID':<24} {'UP':>4}  TITLE")
    for paper in listing.papers:
        up = "" if paper.upvotes is None else str(paper.upvotes)
        print(f"{paper.id:<24} {up:>4}  {clip(paper.title, width - 31)}")
    print(f"{len(listing.papers)} papers from {listing.source}", file=sys.stderr)
    return 0


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 1)] + "…"


# rank -----------------------------------------------------------------------

def _add_rank(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("rank", help="show what each reader would get, and why")
    _source_option(cmd)
    who = cmd.add_mutually_exclusive_group()
    who.add_argument("--keywords", help='e.g. "reward model*, RLHF^2, -survey"')
    who.add_argument("--subscribers", type=Path, metavar="FILE", help="subscribers TOML file")
    cmd.add_argument("--limit", type=int, metavar="N", help="at most N picks per reader")
    cmd.add_argument("--json", action="store_true", help="one JSON object per pick")
    cmd.set_defaults(func=run_rank)


def readers_for(args: argparse.Namespace, settings: Settings) -> list[Subscriber]:
    if getattr(args, "keywords", None) is not None:
        if not args.keywords.strip():
            raise KeywordError("--keywords is empty; e.g. --keywords 'reinforcement learning, -survey'")
        return [Subscriber(email=settings.to, keywords=tuple(split_keywords(args.keywords)))]
    return subscribers_from_settings(settings, getattr(args, "subscribers", None))


def run_rank(args: argparse.Namespace) -> int:
    settings = settings_for(args)
    readers = readers_for(args, settings)
    with make_digest(settings) as app:
        listing = app.load_listing(args.source, offline=args.offline)
        _warn(listing)
        results = app.rank_readers(listing, readers, app.sent_ids(readers, listing.papers), limit=args.limit)
    for reader, picks in results:
        if args.json:
            for pick in picks:
                print(json.dumps({
                    "subscriber": reader.email or None, "rank": pick.rank, "id": pick.paper.id,
                    "title": pick.paper.title, "score": pick.score,
                    "matched": [m.keyword for m in pick.matched],
                    "where": {m.keyword: list(m.fields) for m in pick.matched},
                }, ensure_ascii=False))
        else:
            print_picks(reader, picks, len(results) > 1)
    return 0


def print_picks(reader: Subscriber, picks: list, heading: bool) -> None:
    if heading:
        print(f"\n== {reader.name or reader.email} <{reader.email}>: {len(picks)} picks")
    if not picks:
        print("(nothing new matches)")
        return
    width = shutil.get_terminal_size((110, 20)).columns
    print(f"{'#':>3} {'SCORE':>6}  {'TITLE':<60}  MATCHED")
    for pick in picks:
        where = "; ".join(f"{m} [{'+'.join(f[0] for f in m.fields)}]" for m in pick.matched)
        print(f"{pick.rank:>3} {pick.score:>6.2f}  {clip(pick.paper.title, 60):<60}  {clip(where, max(width - 74, 20))}")


# send -----------------------------------------------------------------------

def _add_send(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("send", help="send today's digests once (for cron or CI)")
    _source_option(cmd)
    cmd.add_argument("--subscriber", metavar="EMAIL", help="only this reader")
    cmd.add_argument("--subscribers", type=Path, metavar="FILE", help="subscribers TOML file")
    cmd.add_argument("--dry-run", action="store_true", help="write .eml files instead of sending; record nothing")
    cmd.add_argument("--outbox", type=Path, default=Path("outbox"), metavar="DIR", help="where --dry-run writes (./outbox)")
    cmd.add_argument("--force", action="store_true", help="send even papers already sent")
    cmd.add_argument("--shard", metavar="K/N", help="only the K-th of N parts of the readers (split by address)")
    cmd.set_defaults(func=run_send)


def chosen_readers(args: argparse.Namespace, settings: Settings) -> list[Subscriber]:
    readers = readers_for(args, settings)
    if getattr(args, "subscriber", None):
        readers = [r for r in readers if r.email.lower() == args.subscriber.lower()]
        if not readers:
            raise ConfigError(f"no subscriber {args.subscriber} in the configured readers")
    return readers


def run_send(args: argparse.Namespace) -> int:
    settings = settings_for(args)
    shard = None if args.shard is None else Shard.parse(args.shard)
    readers = chosen_readers(args, settings)
    progress = _progress_bar if sys.stderr.isatty() and len(readers) > 20 else None
    with make_digest(settings) as app, _stop_on_signals(app.stopping):
        report = app.send(readers, source=args.source, dry_run=args.dry_run, outbox=args.outbox,
                          force=args.force, offline=args.offline, progress=progress, shard=shard)
    for email, error in report.failed.items():
        print(f"digest: failed: {email}: {error}", file=sys.stderr)
    for path in report.written:
        print(f"wrote {path}")
    print(report.summary())
    return 1 if report.failed or report.stopped else 0


@contextlib.contextmanager
def _stop_on_signals(stopping: threading.Event) -> Iterator[None]:
    """SIGTERM/SIGINT: finish the message in hand and record it, then stop (a second one kills)."""
    def ask_to_stop(number: int, frame: object) -> None:
        print(f"digest: {signal.Signals(number).name}: stopping after the current message", file=sys.stderr)
        stopping.set()
        signal.signal(number, previous[number])

    previous = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT)}
    for number in previous:
        signal.signal(number, ask_to_stop)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _progress_bar(done: int, total: int) -> None:
    width = 30
    filled = width * done // total
    end = "\n" if done == total else ""
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end=end, file=sys.stderr, flush=True)


# run ------------------------------------------------------------------------

def _add_run(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("run", help="the daemon: send on DIGEST_SCHEDULE in DIGEST_TIMEZONE")
    cmd.add_argument("--now", action="store_true", help="also run once at start")
    cmd.add_argument("--source", metavar="SRC", help="listing source(s) (default DIGEST_SOURCE)")
    cmd.add_argument("--subscribers", type=Path, metavar="FILE", help="subscribers TOML file")
    cmd.set_defaults(func=run_run)


def run_run(args: argparse.Namespace) -> int:
    from . import sources
    from .render import Renderer
    from .schedule import Daemon

    settings = settings_for(args)
    readers = readers_for(args, settings)
    check_sendable(settings, readers)
    sources.resolve(args.source or settings.source)  # a bad source spec fails now, not at 7 a.m.
    Renderer(settings.templates_dir)
    _log_with_time(args.debug)
    return Daemon(settings, readers, source=args.source,
                  reload_readers=lambda: readers_for(args, settings)).serve(now=args.now)


def _log_with_time(debug: bool) -> None:
    """The daemon logs its progress (INFO) with timestamps, whatever -v says."""
    logging.getLogger("digest").setLevel(logging.DEBUG if debug else logging.INFO)
    logging.getLogger("apscheduler").setLevel(logging.INFO if debug else logging.WARNING)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))


# check ----------------------------------------------------------------------

def _add_check(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("check", help="validate settings and log in to the SMTP server")
    cmd.add_argument("--no-smtp", action="store_true", help="skip the SMTP login")
    cmd.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    from .mail import Mailer
    from .render import Renderer

    from . import sources

    settings = settings_for(args)
    readers = subscribers_from_settings(settings)
    chosen = sources.resolve(settings.source)
    Renderer(settings.templates_dir)
    print(f"settings ok: {len(readers)} reader(s), source {', '.join(s.name for s in chosen)}, templates ok")
    if not settings.from_addr:
        raise ConfigError("DIGEST_FROM is not set; set it to the sender address")
    if not args.no_smtp:
        mailer = Mailer(settings)
        mailer.connect()
        mailer.close()
        print(f"SMTP ok: {settings.smtp_host}:{settings.port} ({settings.smtp_security})"
              + (f", logged in as {settings.smtp_user}" if settings.smtp_user else ""))
    return 0


# status ---------------------------------------------------------------------

def _add_status(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("status", help="recent runs, history size and the next scheduled run")
    cmd.set_defaults(func=run_status)


def run_status(args: argparse.Namespace) -> int:
    from datetime import datetime

    from .cron import parse_cron
    from .store import Store

    settings = settings_for(args)
    trigger = parse_cron(settings.schedule, settings.timezone)
    now = datetime.now(settings.zone)
    upcoming = trigger.get_next_fire_time(None, now)
    when = f"{upcoming.astimezone(settings.zone):%Y-%m-%d %H:%M %Z}" if upcoming else "never"
    print(f"next run: {when} ({settings.schedule}, {settings.timezone})")
    if not settings.state_db.exists():
        print(f"no history yet ({settings.state_db})")
        return 0
    with Store.open(settings.state_db) as store:
        counts = store.counts()
        print(f"history: {counts['messages']} messages to {counts['readers']} readers, {counts['papers']} papers seen")
        runs = store.last_runs()
        print("last runs:" if runs else "no runs yet")
        for run in runs:
            started = datetime.fromisoformat(run.started).astimezone(settings.zone)
            state = "" if run.finished else " (unfinished: interrupted, or still running)"
            state = f" (stopped: {run.error})" if run.error else state
            state += f" ({run.note})" if run.note and not run.sent else ""
            kind = "scheduled" if run.slot else "one-off"
            print(f"  {started:%Y-%m-%d %H:%M %Z}  {kind:<9}  sent {run.sent}, nothing new {run.nothing_new}, "
                  f"failed {run.failed}{state}")
    return 0


# preview --------------------------------------------------------------------

def _add_preview(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("preview", help="the email in your browser, exactly as it would be sent")
    _source_option(cmd)
    cmd.add_argument("--subscriber", metavar="EMAIL", help="preview this reader's digest")
    cmd.add_argument("--subscribers", type=Path, metavar="FILE", help="subscribers TOML file")
    cmd.add_argument("--keywords", help="preview for these keywords instead")
    cmd.add_argument("--output", type=Path, metavar="FILE", help="write the HTML to FILE and exit")
    cmd.add_argument("--port", type=int, default=8025, metavar="N", help="port on 127.0.0.1 (default 8025)")
    cmd.add_argument("--no-browser", action="store_true", help="do not open a browser")
    cmd.set_defaults(func=run_preview)


def run_preview(args: argparse.Namespace) -> int:
    from .preview import Preview, serve

    settings = settings_for(args)
    readers = chosen_readers(args, settings)
    with make_digest(settings) as app:
        preview = Preview(app, readers[0], source=args.source, offline=args.offline)
        if args.output:
            args.output.write_text(preview.rendered().html, encoding="utf-8")
            print(f"wrote {args.output}")
            return 0
        return serve(preview, args.port, open_browser=not args.no_browser)
