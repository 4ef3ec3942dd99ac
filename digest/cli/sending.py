"""The sending commands: send, run (the daemon), check and status."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import logging
import signal
import sys
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DigestError
from ..errors import ConfigError, StoreError
from .common import (
    _source_option, address, clean, host, no_state_yet, path, plural, port, readers_for, settings_for, source,
)

if TYPE_CHECKING:  # the library is imported by the command that runs, after the arguments are parsed
    import threading
    from zoneinfo import ZoneInfo

    from ..app import SendReport
    from ..model import Subscriber
    from ..settings import Settings
    from ..store import Run, Store
    from ..store.bounces import Suppression


# send -----------------------------------------------------------------------

def _add_send(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("send", help="send today's digests once (for cron or CI)")
    _source_option(cmd)
    cmd.add_argument("--subscriber", type=address, metavar="EMAIL", help="only this reader")
    cmd.add_argument("--subscribers", type=path, metavar="FILE", help="subscribers TOML file")
    cmd.add_argument("--dry-run", action="store_true", help="write .eml files instead of sending; record nothing")
    cmd.add_argument("--outbox", type=path, metavar="DIR", help="where --dry-run writes (./outbox); only with --dry-run")
    cmd.add_argument("--force", action="store_true", help="send even papers already sent")
    cmd.add_argument("--shard", metavar="K/N", help="only the K-th of N parts of the readers (split by address)")
    cmd.set_defaults(func=run_send)


def run_send(args: argparse.Namespace) -> int:
    from ..app import make_digest
    from ..lock import Shard
    from ..subscribers import to_without_keywords

    if args.outbox is not None and not args.dry_run:  # a dry run's option on a real send: mail would go out
        raise ConfigError("--outbox is where --dry-run writes; add --dry-run to write the messages there, "
                          "or leave --outbox out to send them")
    settings = settings_for(args)
    shard = None if args.shard is None else Shard.parse(args.shard)
    readers = readers_for(args, settings)
    with make_digest(settings) as app:
        signed_up = app.require_readers(readers)  # the roster's and the confirmed sign-ups; nobody: "no readers"
    if getattr(args, "subscribers", None) is None and (unserved := to_without_keywords(settings, readers)):
        print(f"digest: warning: {clean(unserved)}", file=sys.stderr)  # the sign-ups' digests go out all the same
    if args.subscriber and not _known_reader(settings, readers, args.subscriber):
        raise ConfigError(f"no subscriber {args.subscriber} in the configured readers or the web sign-ups")
    if args.subscriber and shard is not None and not shard.owns(args.subscriber):
        raise ConfigError(f"{args.subscriber} is not in shard {shard} (readers are split by address); "
                          "send without --shard, or with the shard that holds them")
    if args.subscriber and any(not r.enabled and r.email.lower() == args.subscriber.lower() for r in readers):
        raise ConfigError(f"{args.subscriber} is disabled (enabled = false in the subscribers file); "
                          "set enabled = true to send to them")
    progress = _progress_bar if sys.stderr.isatty() and len(readers) + len(signed_up) > 20 else None
    with _state_for(settings, args.dry_run) as settings, make_digest(settings) as app, \
            _stop_on_signals(app.stopping):
        report = app.send(readers, source=args.source, dry_run=args.dry_run, outbox=args.outbox or Path("outbox"),
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


@contextlib.contextmanager
def _state_for(settings: Settings, dry_run: bool) -> Iterator[Settings]:
    """A dry run records nothing, and makes no state database where there is none (a mistyped
    DIGEST_STATE_DB): it builds the messages against an empty one of its own, gone after, and says so."""
    import tempfile

    if not dry_run or settings.state_db.exists():
        yield settings
        return
    with tempfile.TemporaryDirectory(prefix="digest-dry-run-") as scratch:
        yield dataclasses.replace(settings, state_db=Path(scratch) / "state.db")
    print(f"digest: note: {no_state_yet(settings.state_db)}; this dry run treated every reader as new "
          "(nothing sent to them, paused or unsubscribed)", file=sys.stderr)


def _known_reader(settings: Settings, roster: Sequence[Subscriber], email: str) -> bool:
    """In the roster, or known to the store (a reader who signed up on the web)."""
    if any(reader.email.lower() == email.lower() for reader in roster):
        return True
    if not settings.state_db.exists():
        return False
    from ..store import Store

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
        signal.signal(number, previous[signal.Signals(number)])

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
    cmd.add_argument("--source", type=source, metavar="SRC", help="listing source(s) (default DIGEST_SOURCE)")
    cmd.add_argument("--subscribers", type=path, metavar="FILE", help="subscribers TOML file")
    cmd.add_argument("--serve", action="store_true",
                     help="also serve the reader pages, as digest serve does (DIGEST_SERVE=true does too)")
    cmd.add_argument("--host", type=host, default="127.0.0.1", help="with --serve: address to bind (default 127.0.0.1)")
    cmd.add_argument("--port", type=port, default=8026, metavar="N", help="with --serve: port (default 8026)")
    cmd.set_defaults(func=run_run)


def run_run(args: argparse.Namespace) -> int:
    from .. import sources
    from ..app import Digest, check_sendable
    from ..render import Renderer
    from ..schedule import Daemon

    settings = settings_for(args)
    readers = readers_for(args, settings)
    check_sendable(settings, readers)
    sources.resolve(args.source or settings.source)  # a bad source spec fails now, not at 7 a.m.
    Renderer(settings.templates_dir)
    serving = args.serve or settings.serve
    if serving:
        from ..tokens import require_secret

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
    cmd = commands.add_parser("check", help="validate everything a send uses, show each reader's keywords "
                                            "as understood, and log in to the SMTP server (and bounce mailbox)")
    cmd.add_argument("--no-smtp", action="store_true",
                     help="skip the SMTP login (and the bounce mailbox's, when DIGEST_BOUNCE_IMAP_URL is set)")
    cmd.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    """Every problem on its own line (stderr) and exit 1; else "settings ok" and, unless --no-smtp, the login."""
    from ..checks import check_setup, server_problems, understood

    settings = settings_for(args)
    result = check_setup(settings)
    problems = list(result.problems) + server_problems(settings)
    signed_up = _web_sign_ups(settings, result.readers, problems)
    for reader in result.readers:
        print(clean(understood(reader)))
    for reader in signed_up:
        print(clean(f"{understood(reader)} (signed up on the web)"))
    mailbox: list[str] = []
    if not args.no_smtp and not problems:  # a login is worth trying once the settings are right
        problems += _smtp_problems(settings) + _mailbox_problems(settings, mailbox)
    for problem in problems:
        print(f"digest: error: {clean(problem)}", file=sys.stderr)
    if problems:
        return 1
    web = f" ({len(signed_up)} signed up on the web)" if signed_up else ""
    readers = plural(len(result.readers) + len(signed_up), "reader")
    print(f"settings ok: {readers}{web}, source {', '.join(result.sources)}, templates ok")
    if not args.no_smtp:
        print(f"SMTP ok: {settings.smtp_host}:{settings.port} ({settings.smtp_security})"
              + (f", logged in as {settings.smtp_user}" if settings.smtp_user else ""))
    for where in mailbox:
        print(f"bounce mailbox ok: {where}")
    return 0


def _web_sign_ups(settings: Settings, roster: Sequence[Subscriber], problems: list[str]) -> list[Subscriber]:
    """The confirmed web sign-ups a send adds to the roster (none before the state database exists); nobody at
    all (no roster, no sign-up) is the problem that says how to add readers.

    With other problems, the store is asked only when the settings name no roster (whether there is anybody),
    and a store that cannot be read then is left to the problem that already says so."""
    from ..app import make_digest
    from ..subscribers import names_roster

    if problems and (roster or names_roster(settings)):  # a roster that cannot be read has its own problem
        return []
    try:
        with make_digest(settings) as app:
            return app.require_readers(roster)
    except ConfigError as err:
        problems.append(str(err))
    except DigestError:
        if not problems:
            raise
    return []


def _smtp_problems(settings: Settings) -> list[str]:
    """The login ``digest check`` does itself: the library check never touches the network."""
    from ..mail import Mailer

    try:
        mailer = Mailer(settings)
        mailer.connect()
        mailer.close()
    except DigestError as err:
        return [str(err)]
    return []


def _mailbox_problems(settings: Settings, found: list[str]) -> list[str]:
    """The bounce mailbox's login (DIGEST_BOUNCE_IMAP_URL), which the daemon would otherwise first try unattended."""
    from ..bounces import log_in

    if not settings.bounce_imap_url:
        return []
    try:
        found.append(log_in(settings))
    except DigestError as err:
        return [str(err)]
    return []


# status ---------------------------------------------------------------------

def _add_status(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("status", help="recent runs, history size and the next scheduled run")
    cmd.set_defaults(func=run_status)


def run_status(args: argparse.Namespace) -> int:
    from ..cron import parse_cron

    settings = settings_for(args)
    trigger = parse_cron(settings.schedule, settings.timezone)
    now = datetime.now(settings.zone)
    upcoming = trigger.get_next_fire_time(None, now)
    when = f"{upcoming.astimezone(settings.zone):%Y-%m-%d %H:%M %Z}" if upcoming else "never"
    print(f"next run: {when} ({settings.schedule}, {settings.timezone})")
    if not settings.state_db.exists():
        print(f"no history yet: there is no state database at {settings.state_db} (check DIGEST_STATE_DB, "
              "or run digest send once to create it)")
        return 0
    try:
        _show_history(settings)
    except DigestError as err:
        raise StoreError(f"cannot show the run history: {err}") from err
    return 0


def _show_history(settings: Settings) -> None:
    from ..lock import send_running
    from ..store import Store

    _show_pending(settings)
    with Store.open(settings.state_db) as store:
        _show_uncertain(store, settings)
        _show_suppressed(store)
        counts = store.counts()
        print(f"history: {plural(counts['messages'], 'message')} to {plural(counts['readers'], 'reader')}, "
              f"{plural(counts['papers'], 'paper')} seen")
        runs = store.last_runs()
        if runs and runs[0].unreadable() is None:  # else its line below says what cannot be read
            _show_refused(store, runs[0])
            _show_problems(runs[0])
        print("last runs:" if runs else "no runs yet")
        running = send_running(settings.state_db)
        for n, (newer, run) in enumerate(zip([None, *runs], runs)):
            superseded = run.pid is not None and any((r.host, r.pid) == (run.host, run.pid) for r in runs[:n])
            print("  " + _run_entry(store, run, newer, settings.zone, running and not superseded))


def _run_entry(store: Store, run: Run, newer: Run | None, zone: ZoneInfo, running: bool) -> str:
    """The run's line, or one saying which of its values cannot be read (a row edited by hand, or damaged).

    Only the row's values: a store that fails meanwhile is no damaged run, and ends ``status`` as it did."""
    try:
        run.checked()
        if newer and not run.finished:  # an unfinished run's messages are counted up to the next run's start
            newer.started_at()
    except StoreError as err:
        return f"run {run.id}: cannot be read ({clean(str(err))})"
    return run_line(store, run, newer.started if newer else None, zone, unfinished=_unfinished(run, running))


def _unfinished(run: Run, running: bool) -> str:
    """What became of a run that never wrote its end: still running, or failed (killed, a store that could not
    record), told from its process and the send lock; ``running``: some send holds the lock now, and the run's
    process (a daemon lives on) has started no later run."""
    import socket

    from ..lock import process_alive

    died = "failed: it ended without recording its end (killed, or the database could not be written)"
    if run.pid is None:  # a run from before digest kept its process id
        return "unfinished: interrupted, or still running" if running else died
    if run.host != socket.gethostname():  # its process cannot be seen from here, but the lock holds across hosts
        return f"unfinished: started on {clean(run.host or '?')}; interrupted, or still running there" if running \
            else died
    return "still running" if running and process_alive(run.pid) else died


def _show_problems(run: Run, limit: int = 20) -> None:
    """Readers the last run sent to without something of theirs (a library it could not read)."""
    try:
        problems = run.reader_problems()
    except StoreError as err:
        print(f"problems in the last run: cannot be read ({clean(str(err))})")
        return
    if not problems:
        return
    print(f"problems in the last run: {plural(len(problems), 'reader')} (sent without it; fix it for the next run)")
    for email, problem in sorted(problems.items())[:limit]:
        print(f"  {clean(email)}: {clean(problem)}")
    if len(problems) > limit:
        print(f"  and {len(problems) - limit} more")


def _show_refused(store: Store, run: Run, limit: int = 20) -> None:
    """The last run's deferred and failed readers, by address: who waits for the next run, and why."""
    from ..mail import DEFERRED_NOTE

    refused = store.refused_during(run)
    if not refused:
        return
    print(f"refused in the last run: {plural(len(refused), 'reader')} (the next run retries them)")
    for email, error in refused[:limit]:
        kind = "deferred" if error.endswith(DEFERRED_NOTE) else "failed"
        print(f"  {kind}: {clean(email)}: {clean(error.removesuffix(DEFERRED_NOTE))}")
    if len(refused) > limit:
        print(f"  and {len(refused) - limit} more")


def run_line(store: Store, run: Run, next_started: str | None, zone: ZoneInfo, unfinished: str = "") -> str:
    """``2026-11-23 07:00 CET  scheduled  sent 38, nothing new 2, failed 0``, and what else happened."""
    started = run.started_at().astimezone(zone)
    if run.finished:
        sent, failed = run.sent, run.failed
        counts = f"sent {sent}, nothing new {run.nothing_new}, failed {failed}"
    else:  # killed midway: its counts were never written; the messages it recorded say what it did
        sent, failed = store.recorded_during(run, next_started)
        counts = f"sent {sent}, failed {failed} recorded so far"
    extras = [f"deferred {run.deferred}"] if run.deferred else []
    extras += [f"already had today's {run.already}"] if run.already else []
    state = f" ({unfinished or 'unfinished: interrupted, or still running'})" if not run.finished else ""
    if run.left_over:
        state = f" (stopped early: {run.left_over} left for the next run)"
    state = f" (stopped: {clean(run.error)})" if run.error else state
    state += f" ({clean(run.note)})" if run.note and not sent else ""
    return f"{started:%Y-%m-%d %H:%M %Z}  {run.kind:<9}  " + ", ".join([counts, *extras]) + state + _sources(run)


def _sources(run: Run) -> str:
    """``  sources arxiv:cs.LG, hf (failed)``: what the run read, and those of its sources that failed (or loaded
    only in part) while others loaded; nothing for a run from before runs kept their sources."""
    names = sorted((run.read_sources() or frozenset()) | run.sources_failed())
    failed = run.sources_failed()
    if not names:
        return ""
    return "  sources " + ", ".join(clean(name) + (" (failed)" if name in failed else "") for name in names)


def _show_suppressed(store: Store, limit: int = 20) -> None:
    """Readers every send skips until ``digest readers resume``: bounces, complaints, and removed ones."""
    found = sorted(store.suppressions().values(), key=lambda s: (str(s.at), str(s.email)))  # any types, if damaged
    removed = len(store.forgotten())
    if not found and not removed:
        return
    print(f"suppressed: {plural(len(found), 'reader')} {'gets' if len(found) == 1 else 'get'} no digest until "
          "digest readers resume EMAIL"
          + (f" (and {removed} removed reader(s), kept only as a keyed hash)" if removed else ""))
    for item in found[:limit]:
        print("  " + _suppression_line(item))
    if len(found) > limit:
        print(f"  and {len(found) - limit} more")


def _suppression_line(item: Suppression) -> str:
    try:
        since = item.since()
    except StoreError as err:
        return f"cannot be read: {clean(str(err))}"
    return f"{clean(item.email)}: {clean(item.reason)} (since {since})"


def _show_pending(settings: Settings) -> None:
    """Deliveries the server answered that wait in the journal for the database (replayed by the next send)."""
    from ..store.journal import Journal

    journal = Journal.beside(settings.state_db)
    pending = journal.pending()
    if pending:
        print(f"journal: {len(pending)} deliveries wait in {journal.path} to be recorded "
              "(the database could not take them; the next send records them first)")


def _show_uncertain(store: object, settings: Settings) -> None:
    open_ones = store.open_uncertain()  # type: ignore[attr-defined]
    if not open_ones:
        return
    print(f"uncertain: {len(open_ones)} deliveries whose reply the server never gave "
          "(the next run sends them once more; at most one extra copy)")
    for row in open_ones:
        print("  " + _uncertain_line(row, settings.zone))


def _uncertain_line(row: tuple[object, object, object], zone: ZoneInfo) -> str:
    from ..store.uncertain import checked_uncertain

    try:
        email, when, error = checked_uncertain(*row)
    except StoreError as err:
        return f"cannot be read: {clean(str(err))}"
    return f"{when.astimezone(zone):%Y-%m-%d %H:%M %Z}  {clean(email)}: {clean(error)}"
