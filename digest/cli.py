"""The ``digest`` command: a thin shell over the library API.

A ``DigestError`` becomes one line on stderr and exit code 1; anything else is a
bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from . import __version__
from .addresses import parse_address
from .app import Digest, SendReport, check_sendable, make_digest
from .errors import DigestError
from .errors import ConfigError, KeywordError, OutputError, StoreError
from .lock import Shard
from .model import Listing, Paper, Subscriber
from .rank import Pick
from .subscribers import single_reader, subscribers_from_settings
from .settings import Settings, default_env_file, load_settings

if TYPE_CHECKING:
    from .store import Run, Store

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
        print(f"digest: error: {clean(str(err))}", file=sys.stderr)
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
    parser.add_argument("--env-file", type=Path, metavar="PATH",
                        help="settings file (default ./.env if there is one; real environment variables win)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("-v", "--verbose", action="store_true", help="show progress logs")
    parser.set_defaults(func=_help_for(parser))
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for add in (_add_papers, _add_rank, _add_preview, _add_send, _add_run, _add_check, _add_status,
                _add_serve, _add_readers, _add_feedback):
        add(commands)
    return parser


def _help_for(parser: argparse.ArgumentParser) -> Command:
    """``digest`` with no command: the help, and exit code 2 (a usage error)."""
    def show(args: argparse.Namespace) -> int:
        parser.print_help()
        return 2
    return show


def _source_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", metavar="SRC",
                        help="file, sample, hf, hf:YYYY-MM-DD, arxiv:CATS or URL; "
                             "several comma-separated (default DIGEST_SOURCE)")
    parser.add_argument("--offline", action="store_true", help="use only the HTTP cache")


def _app(args: argparse.Namespace) -> Digest:
    return make_digest(settings_for(args))


def settings_for(args: argparse.Namespace) -> Settings:
    return load_settings(args.env_file if args.env_file is not None else default_env_file())


def count(text: str) -> int:
    """An argparse type: a whole number, 0 or more."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 0 or more")
    return int(text)


def plural(number: int, word: str) -> str:
    return f"{number} {word}" + ("" if number == 1 else "s")


def _warn(listing: Listing) -> None:
    for warning in listing.warnings:
        print(f"digest: warning: {clean(warning)}", file=sys.stderr)
    for note in listing.notes:
        print(f"digest: {clean(note)}", file=sys.stderr)


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
        print(f"{clean(paper.id):<24} {up:>4}  {clip(paper.title, width - 31)}")
    print(f"{plural(len(listing.papers), 'paper')} from {clean(listing.source)}", file=sys.stderr)
    return 0


def clip(text: str, width: int) -> str:
    text = clean(text)
    return text if len(text) <= width else text[: max(width - 1, 1)] + "…"


_CONTROLS = {code: None for code in [*range(0x20), 0x7F, *range(0x80, 0xA0)] if code != 0x0A} | {0x09: " "}


def clean(text: str) -> str:
    """Text for the terminal: no control characters (C0 and C1, but newline) from a listing or a store,
    whatever they hold: an escape sequence in a title must not recolour or rewrite the screen."""
    return text.translate(_CONTROLS)


# rank -----------------------------------------------------------------------

def _add_rank(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("rank", help="show what each reader would get, and why")
    _source_option(cmd)
    who = cmd.add_mutually_exclusive_group()
    who.add_argument("--keywords", help='e.g. "reward model*, RLHF^2, -survey"')
    who.add_argument("--subscribers", type=Path, metavar="FILE", help="subscribers TOML file")
    cmd.add_argument("--subscriber", metavar="EMAIL",
                     help="only this reader (with --keywords: those keywords with this reader's votes)")
    cmd.add_argument("--limit", type=count, metavar="N",
                     help="at most N picks per reader, instead of DIGEST_MAX_ITEMS (0: no limit)")
    cmd.add_argument("--json", action="store_true", help="one JSON object per pick")
    cmd.set_defaults(func=run_rank)


def readers_for(args: argparse.Namespace, settings: Settings) -> list[Subscriber]:
    if getattr(args, "keywords", None) is not None:
        if not args.keywords.strip():
            raise KeywordError("--keywords is empty; e.g. --keywords 'reinforcement learning, -survey'")
        return [single_reader(settings, args.keywords)]
    return subscribers_from_settings(settings, getattr(args, "subscribers", None))


def run_rank(args: argparse.Namespace) -> int:
    settings = settings_for(args)
    if args.keywords is not None and args.subscriber:  # these keywords, ranked with that reader's votes
        readers = [replace(readers_for(args, settings)[0], email=parse_address(args.subscriber), name="")]
    else:
        readers = chosen_readers(args, settings)
    with make_digest(settings) as app:
        listing = app.load_listing(args.source, offline=args.offline)
        _warn(listing)
        results = app.rank_readers(listing, readers, app.sent_ids(readers, listing.papers), limit=args.limit)
    for reader, picks in results:
        if args.json:
            print_picks_json(reader, picks)
        else:
            print_picks(reader, picks, len(results) > 1)
    if not args.json and any(picks for _, picks in results):
        print(LEGEND)
    return 0


LEGEND = "where found: [t] title, [a] abstract, [t+a] both"


def print_picks_json(reader: Subscriber, picks: list[Pick]) -> None:
    for pick in picks:
        print(json.dumps({
            "subscriber": reader.email or None, "rank": pick.rank, "id": pick.paper.id,
            "title": pick.paper.title, "score": pick.score,
            "matched": [m.keyword for m in pick.matched],
            "where": {m.keyword: list(m.fields) for m in pick.matched},
            "because": pick.because or None,
        }, ensure_ascii=False))


def print_picks(reader: Subscriber, picks: list[Pick], heading: bool) -> None:
    """A table as wide as the terminal: the title gets what the matched keywords leave."""
    if heading:
        print(f"\n== {clean(reader.name or reader.email)} <{clean(reader.email)}>: {plural(len(picks), 'pick')}")
    if not picks:
        print("(nothing new matches)")
        return
    wheres = [matched_where(pick) for pick in picks]
    room = shutil.get_terminal_size((110, 20)).columns - 14  # "#", SCORE and the gaps between columns
    matched_width = min(max(len(w) for w in wheres + ["MATCHED"]), max(room // 2, 20))
    title_width = max(room - matched_width, 20)
    print(f"{'#':>3} {'SCORE':>6}  {'TITLE':<{title_width}}  MATCHED")
    for pick, where in zip(picks, wheres):
        title = clip(pick.paper.title, title_width)
        print(f"{pick.rank:>3} {pick.score:>6.2f}  {title:<{title_width}}  {clip(where, matched_width)}".rstrip())


def matched_where(pick: Pick) -> str:
    """``reward model [t+a]; RLHF [a]``: each keyword and the fields it was found in (and why a liked paper lifted it)."""
    reasons = [f"{m} [{'+'.join(f[0] for f in m.fields)}]" for m in pick.matched]
    return "; ".join(reasons + [pick.because] if pick.because else reasons)


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
    readers = readers_for(args, settings)
    if args.subscriber and not _known_reader(settings, readers, args.subscriber):
        raise ConfigError(f"no subscriber {args.subscriber} in the configured readers or the web sign-ups")
    progress = _progress_bar if sys.stderr.isatty() and len(readers) > 20 else None
    with make_digest(settings) as app, _stop_on_signals(app.stopping):
        report = app.send(readers, source=args.source, dry_run=args.dry_run, outbox=args.outbox,
                          force=args.force, offline=args.offline, progress=progress, shard=shard,
                          only=args.subscriber)
    for kind, readers_errors in (("failed", report.failed), ("deferred", report.deferred),
                                 ("uncertain", report.uncertain)):
        for email, error in readers_errors.items():
            print(f"digest: {kind}: {clean(email)}: {clean(error)}", file=sys.stderr)
    for path in report.written:
        print(f"wrote {path}")
    print(report.summary())
    _explain_skipped(report)
    return 1 if report.incomplete else 0


def _known_reader(settings: Settings, roster: Sequence[Subscriber], email: str) -> bool:
    """In the roster, or known to the store (a reader who signed up on the web)."""
    if any(reader.email.lower() == email.lower() for reader in roster):
        return True
    if not settings.state_db.exists():
        return False
    from .store import Store

    with Store.open(settings.state_db) as store:
        return store.reader_status(email) is not None


def _explain_skipped(report: SendReport) -> None:
    """Why nothing went out to some readers, without -v: they already got today's digest."""
    if report.already_today:
        who = plural(len(report.already_today), "reader")
        print(f"digest: {who} already got today's digest; --force sends again", file=sys.stderr)


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
    cmd.add_argument("--serve", action="store_true",
                     help="also serve the reader pages, as digest serve does (DIGEST_SERVE=true does too)")
    cmd.add_argument("--host", default="127.0.0.1", help="with --serve: address to bind (default 127.0.0.1)")
    cmd.add_argument("--port", type=int, default=8026, metavar="N", help="with --serve: port (default 8026)")
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
    serving = args.serve or settings.serve
    if serving:
        from .tokens import require_secret

        require_secret(settings)  # the pages sign their links: fail now, not after the daemon started
    _log_with_time(args.debug, settings.zone)
    return Daemon(settings, readers, source=args.source, reload_readers=lambda: readers_for(args, settings),
                  app_factory=functools.partial(Digest, started_by="daemon"),
                  web=(args.host, args.port) if serving else None).serve(now=args.now)


def _log_with_time(debug: bool, zone: ZoneInfo) -> None:
    """The daemon logs its progress (INFO) with timestamps, whatever -v says."""
    logging.getLogger("digest").setLevel(logging.DEBUG if debug else logging.INFO)
    logging.getLogger("apscheduler").setLevel(logging.INFO if debug else logging.WARNING)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(ZonedFormatter(zone))


class ZonedFormatter(logging.Formatter):
    """``2026-11-23 07:00:01 CET INFO ...``: log times in DIGEST_TIMEZONE, zone shown."""

    def __init__(self, zone: ZoneInfo) -> None:
        super().__init__("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S %Z")
        self.zone = zone

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, self.zone).strftime(datefmt or self.default_time_format)


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
    _check_links(settings)
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


def _check_links(settings: Settings) -> None:
    """With DIGEST_PUBLIC_URL every email carries signed links: a secret key is needed."""
    if settings.public_url:
        from .tokens import require_secret

        require_secret(settings)


# status ---------------------------------------------------------------------

def _add_status(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("status", help="recent runs, history size and the next scheduled run")
    cmd.set_defaults(func=run_status)


def run_status(args: argparse.Namespace) -> int:
    from .cron import parse_cron

    settings = settings_for(args)
    trigger = parse_cron(settings.schedule, settings.timezone)
    now = datetime.now(settings.zone)
    upcoming = trigger.get_next_fire_time(None, now)
    when = f"{upcoming.astimezone(settings.zone):%Y-%m-%d %H:%M %Z}" if upcoming else "never"
    print(f"next run: {when} ({settings.schedule}, {settings.timezone})")
    if not settings.state_db.exists():
        print(f"no history yet ({settings.state_db})")
        return 0
    try:
        _show_history(settings)
    except DigestError as err:
        raise StoreError(f"cannot show the run history: {err}") from err
    return 0


def _show_history(settings: Settings) -> None:
    from .store import Store

    _show_pending(settings)
    with Store.open(settings.state_db) as store:
        _show_uncertain(store, settings)
        counts = store.counts()
        print(f"history: {plural(counts['messages'], 'message')} to {plural(counts['readers'], 'reader')}, "
              f"{plural(counts['papers'], 'paper')} seen")
        runs = store.last_runs()
        print("last runs:" if runs else "no runs yet")
        for newer, run in zip([None, *runs], runs):
            print("  " + run_line(store, run, newer.started if newer else None, settings.zone))


def run_line(store: Store, run: Run, next_started: str | None, zone: ZoneInfo) -> str:
    """``2026-11-23 07:00 CET  scheduled  sent 38, nothing new 2, failed 0``, and what else happened."""
    started = datetime.fromisoformat(run.started).astimezone(zone)
    if run.finished:
        sent, failed = run.sent, run.failed
        counts = f"sent {sent}, nothing new {run.nothing_new}, failed {failed}"
    else:  # killed midway: its counts were never written; the messages it recorded say what it did
        sent, failed = store.recorded_during(run, next_started)
        counts = f"sent {sent}, failed {failed} recorded so far"
    extras = [f"deferred {run.deferred}"] if run.deferred else []
    extras += [f"already had today's {run.already}"] if run.already else []
    state = " (unfinished: interrupted, or still running)" if not run.finished else ""
    if run.left_over:
        state = f" (stopped early: {run.left_over} left for the next run)"
    state = f" (stopped: {clean(run.error)})" if run.error else state
    state += f" ({clean(run.note)})" if run.note and not sent else ""
    return f"{started:%Y-%m-%d %H:%M %Z}  {run.kind:<9}  " + ", ".join([counts, *extras]) + state


def _show_pending(settings: Settings) -> None:
    """Deliveries the server answered that wait in the journal for the database (replayed by the next send)."""
    from .store.journal import Journal

    journal = Journal.beside(settings.state_db)
    pending = journal.pending()
    if pending:
        print(f"journal: {len(pending)} deliveries wait in {journal.path} to be recorded "
              "(the database could not take them; the next send records them first)")


def _show_uncertain(store: object, settings: Settings) -> None:
    from datetime import datetime

    open_ones = store.open_uncertain()  # type: ignore[attr-defined]
    if not open_ones:
        return
    print(f"uncertain: {len(open_ones)} deliveries whose reply the server never gave "
          "(the next run sends them once more; at most one extra copy)")
    for email, created, error in open_ones:
        when = datetime.fromisoformat(created).astimezone(settings.zone)
        print(f"  {when:%Y-%m-%d %H:%M %Z}  {clean(email)}: {clean(error)}")


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


SAMPLE_KEYWORDS = "reinforcement learning, reward model*, LLM, -survey"  # what the sample is about


def preview_readers(args: argparse.Namespace, settings: Settings) -> list[Subscriber]:
    """The configured readers; with none, the bundled sample previews for its demo keywords."""
    configured = args.keywords or args.subscriber or args.subscribers or settings.subscribers or settings.keywords
    if configured or (args.source or settings.source).strip() != "sample":
        return chosen_readers(args, settings)
    print(f"digest: no reader configured (DIGEST_KEYWORDS, DIGEST_SUBSCRIBERS); "
          f"previewing the sample for its demo keywords: {SAMPLE_KEYWORDS}", file=sys.stderr)
    return [single_reader(settings, SAMPLE_KEYWORDS)]


def run_preview(args: argparse.Namespace) -> int:
    from .web.preview import Preview, serve

    settings = settings_for(args)
    readers = preview_readers(args, settings)
    with make_digest(settings) as app:
        preview = Preview(app, readers[0], source=args.source, offline=args.offline)
        if args.output:
            html = preview.rendered().html
            try:
                args.output.write_text(html, encoding="utf-8")
            except OSError as err:
                raise OutputError.writing(args.output, err, "choose another file with --output FILE") from err
            print(f"wrote {args.output}")
            return 0
        return serve(preview, args.port, open_browser=not args.no_browser)


# serve and readers (the reader's side) ----------------------------------------

def _add_serve(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("serve", help="the reader pages: unsubscribe, preferences, feedback, sign-up")
    cmd.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; put a proxy in front)")
    cmd.add_argument("--port", type=int, default=8026, metavar="N", help="port (default 8026)")
    cmd.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    from .web import make_app
    from .web.server import bind, run, url_of

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
    cmd.add_argument("email", nargs="?", metavar="EMAIL", help="the reader (show, pause, resume, remove)")
    cmd.add_argument("--subscribers", type=Path, metavar="FILE", help="subscribers TOML file")
    cmd.set_defaults(func=run_readers)


def run_readers(args: argparse.Namespace) -> int:
    from .store import Store

    settings = settings_for(args)
    if args.action in ("show", "pause", "resume", "remove") and not args.email:
        raise ConfigError(f"digest readers {args.action} needs the reader's address: digest readers {args.action} EMAIL")
    roster = _roster_or_none(settings, args.subscribers)
    with Store.open(settings.state_db) as store:
        if args.action == "list":
            return _readers_list(roster, store)
        if args.action == "export":
            emails = sorted({r.email.lower() for r in roster} | set(store.known_emails()))
            print(json.dumps({"readers": [store.export_reader(e) for e in emails]}, indent=2, ensure_ascii=False))
            return 0
        return _reader_action(args.action, args.email.strip().lower(), roster, store)


def _roster_or_none(settings: Settings, path: Path | None) -> list[Subscriber]:
    """The operator's roster; none at all is fine here (readers may all be web sign-ups)."""
    if not (path or settings.subscribers or settings.keywords):
        return []
    return [r for r in subscribers_from_settings(settings, path) if r.email]


def _readers_list(roster: list[Subscriber], store: Store) -> int:
    states = store.reader_states()
    emails = sorted({r.email.lower() for r in roster} | set(states))
    listed = {r.email.lower() for r in roster}
    print(f"{'EMAIL':<36} {'STATUS':<13} {'FROM':<7} {'HOW OFTEN':<9} KEYWORDS")
    for email in emails:
        state = states.get(email)
        reader = next((r for r in roster if r.email.lower() == email), None)
        keywords = state.keywords if state and state.keywords is not None else (reader.keywords if reader else ())
        origin = "file" if email in listed else ("web" if state and state.origin == "web" else "store")
        print(f"{clean(email):<36} {state.status if state else 'active':<13} {origin:<7} "
              f"{state.frequency if state else 'run':<9} {clip(', '.join(keywords), 60)}")
    print(f"{len(emails)} reader(s)", file=sys.stderr)
    return 0


def _reader_action(action: str, email: str, roster: list[Subscriber], store: Store) -> int:
    known = email in {r.email.lower() for r in roster} or email in store.known_emails()
    if not known:
        raise ConfigError(f"no reader {email} in the roster or the state store; see digest readers list")
    if action == "show":
        print(json.dumps(store.export_reader(email), indent=2, ensure_ascii=False))
    elif action == "remove":
        store.remove_reader(email)
        still = email in {r.email.lower() for r in roster}
        print(f"removed everything stored about {email}"
              + ("; they are still in the subscribers file: remove them there too, or they get the next digest"
                 if still else ""))
    else:
        before = store.set_status(email, "paused" if action == "pause" else "active")
        if action == "pause":
            print(f"paused: {email} gets no digest until digest readers resume {email}")
        else:
            was = f" (was {before})" if before and before != "active" else ""
            print(f"resumed: {email} gets the next digest{was}")
    return 0


# feedback -------------------------------------------------------------------------

def _add_feedback(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("feedback", help="record a reader's votes: more (or fewer) papers like these")
    _source_option(cmd)
    cmd.add_argument("--reader", required=True, metavar="EMAIL", help="the reader who votes")
    vote = cmd.add_mutually_exclusive_group(required=True)
    vote.add_argument("--like", type=id_list, metavar="ID[,ID...]", help="more like these papers (ids in SRC)")
    vote.add_argument("--dislike", type=id_list, metavar="ID[,ID...]", help="fewer like these papers (ids in SRC)")
    cmd.add_argument("--subscribers", type=Path, metavar="FILE", help="subscribers TOML file")
    cmd.set_defaults(func=run_feedback)


def id_list(text: str) -> list[str]:
    """An argparse type: comma-separated paper ids (or arXiv URLs)."""
    ids = [part.strip() for part in text.split(",") if part.strip()]
    if not ids:
        raise argparse.ArgumentTypeError("no paper id given; e.g. --like 2401.00001,2401.00002")
    return ids


def run_feedback(args: argparse.Namespace) -> int:
    from .store import Store

    settings = settings_for(args)
    email = args.reader.strip().lower()
    require_reader(settings, args.subscribers, email)
    with make_digest(settings) as app:
        listing = app.load_listing(args.source, offline=args.offline)
    _warn(listing)
    papers = papers_named(args.like or args.dislike, listing)
    value = 1 if args.like else -1
    with Store.open(settings.state_db) as store:
        store.record_votes(email, papers, value)
    for paper in papers:
        print(f"{'liked' if value > 0 else 'disliked'} by {clean(email)}: {clean(paper.id)}  {clean(paper.title)}")
    return 0


def require_reader(settings: Settings, subscribers: Path | None, email: str) -> None:
    """The reader is in the roster or the state store, or a ``ConfigError`` says so."""
    from .store import Store

    if email in {r.email.lower() for r in _roster_or_none(settings, subscribers)}:
        return
    if settings.state_db.exists():
        with Store.open(settings.state_db) as store:
            if email in store.known_emails():
                return
    raise ConfigError(f"no reader {email} in the roster or the state store; check the address (digest readers list)")


def papers_named(ids: Sequence[str], listing: Listing) -> list[Paper]:
    """The listing's papers with these ids (or arXiv URLs); every unknown id in one ``ConfigError``."""
    from .model import arxiv_id

    by_id = {paper.id: paper for paper in listing.papers}
    found = {given: by_id.get(given) or by_id.get(arxiv_id(given) or "") for given in ids}
    missing = [given for given, paper in found.items() if paper is None]
    if missing:
        raise ConfigError(f"{', '.join(missing)}: not in {listing.source}; nothing recorded "
                          f"(see the ids with digest papers --source {listing.source})")
    return list({paper.id: paper for paper in found.values() if paper is not None}.values())
