"""The send pipeline: produce, deliver, record (with the journal), under the send lock.

``send_digests`` is what ``Digest.send`` does. Each stage has its module and
each fault rule its home:

- ``produce``: the messages, built here or by a forked child that never
  outlives its parent nor keeps the lock;
- ``deliver``: the SMTP sender thread; what a server reply means is decided by
  ``digest.mail`` (retry, defer, fail, uncertain, stop the run);
- ``record``: the store, or the journal when the store fails, after which
  nothing more is handed to the server;
- here: the order of things. Replay the journal before anything is sent; then
  decide who gets mail (the roster with the readers' own changes from the web:
  unsubscribed, paused, pending and not-due-this-week readers get nothing, even
  with ``--force``; confirmed sign-ups join) and who is due today (once a day; a
  reader whose last digest is uncertain gets it once more; two uncertain ones
  wait for tomorrow); then send. The producer asks the store again just before
  each message is built, so an unsubscribe that arrives mid-send is honoured.
  On PostgreSQL sends run side by side, on any hosts, and claim their readers
  a batch at a time (``claiming``); a daemon's slot that another host's daemon
  is running is skipped at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from datetime import date, datetime, tzinfo
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from ..bounces import score_refusals
from ..errors import ConfigError, DigestError, StoreError
from ..lease import Lease
from ..limits import Stopped, Turns
from ..lock import SendLocks, Shard, send_lock
from ..mail import Mailer
from ..model import Listing, Subscriber
from ..readers import effective_readers, held_by, removed_refusals
from ..store import Store
from ..store.readers import ReaderState
from ..store.runs import ONE_READER
from ..store.journal import Journal
from . import catchup
from .claiming import Batches, batches
from .deliver import Outgoing, Pace, SendQueue
from .pipeline import Pipeline
from .produce import PRODUCER_MIN, Nothing, Skipped, produce
from .record import Recording
from .report import SendReport

__all__ = ["ONE_READER", "PRODUCER_MIN", "Outgoing", "SendReport", "send_digests"]

log = logging.getLogger("digest")
Progress = Callable[[int, int], None]


def send_digests(app: Pipeline, readers: Sequence[Subscriber], *, source: str | None = None,
                 dry_run: bool = False, outbox: Path | None = None, force: bool = False, offline: bool = False,
                 progress: Progress | None = None, slot: str | None = None, only: str | None = None,
                 shard: Shard | None = None) -> SendReport:
    """``only``: that one reader (``--subscriber``), not the whole list and its web sign-ups;
    ``shard``: only this shard's readers, under the shard's own lock (``digest send --shard K/N``).
    """
    read = _sources_read(app, source)
    try:
        listing = _listing_unless_stopped(app, source, offline)
    except DigestError as err:
        if not dry_run:
            _record_failed_run(app, slot, err, read)
        raise
    if listing is None:
        return _stopped_before_sending(app, _this_sends(readers, only, shard), slot, dry_run, read)
    read, failed = _loaded(read, listing), list(listing.failed)
    _log_listing(listing)
    report = SendReport()
    if not listing.papers:
        report.note = "; ".join(listing.notes) or "no papers listed"
        if not app.settings.send_empty:  # with it, every reader due gets the "nothing new" note (or their catch-up)
            if not dry_run:
                _record_empty_run(app, slot, report.note, sources=read, failed=failed)
            return report
    mailer = None if dry_run else Mailer(app.settings)  # checks the SMTP settings before anything is opened
    db = app.settings.state_db
    slot_lock = slot if mailer is not None and shard is None else None
    with send_lock(db, shard, together=True, slot=slot_lock) as lock, _leased(lock, db) as lease, \
            Store.open(db) as store:
        store.clock = app.clock
        taken = _slot_taken(slot_lock, lock, store)
        if taken:
            report.note = taken
            return report
        arrived = None  # the arrival stamp of this listing's papers: new readers catch up from it
        if mailer is not None:
            _replay(Journal.beside(db), store)
            arrived = store.remember_listing(listing.papers, app.clock(), keep_days=app.settings.catchup_days)
        wanted = _this_sends(who_gets_mail(app, store, readers, report), only, shard)  # sign-ups sharded too
        report.skipped = {email: why for email, why in report.skipped.items()  # theirs only, not the whole list's
                          if _sends_to(email, only, shard)}
        if report.skipped:
            log.info("skipped %s", report.skipped_text())
        recheck = None if force or mailer is None else _sent_meanwhile(app, store)  # as this send decides
        todo = due_today(app, store, wanted, force, report)
        if arrived is not None:  # not the clock now: a listing another send keeps meanwhile is stamped later
            store.mark_due((reader.email for reader in todo), arrived)
        candidates = catchup.candidates(store, listing, todo, now=app.clock(), window_days=app.settings.catchup_days,
                                        zone=app.settings.zone, ledger=not force)
        if mailer is None:
            _write_all(app, candidates.listing, todo, candidates, outbox, report, progress, store, lease)
            return report
        with batches(db, todo, recheck, lease) as mine:
            session = Session(app, store, mailer, report, lock, lease, progress)
            session.run(candidates.listing, todo, candidates, slot, mine, one_reader=only is not None, sources=read,
                        failed_sources=failed)
            report.nothing_new += mine.done_elsewhere
            report.already_today += mine.done_elsewhere
    return report


@contextmanager
def _leased(lock: SendLocks, db: Path) -> Iterator[Lease]:
    """The send's lease (``digest.lease``): on PostgreSQL its locks renewed from the moment they are taken
    (through the ranking, paused across the producer's fork), its claims from the moment it has them."""
    lease = Lease(db)
    lock.keep(lease)
    lease.start()
    try:
        yield lease
    finally:
        lease.stop()


def _log_listing(listing: Listing) -> None:
    for warning in listing.warnings:
        log.warning("warning: %s", warning)
    for note in listing.notes:
        log.warning("%s", note)


def _slot_taken(slot: str | None, lock: SendLocks, store: Store) -> str | None:
    """Why a daemon's run must leave ``slot`` alone, or None: another host's daemon is running it, or ran it
    (asked under the lock: across hosts)."""
    if slot is None:
        return None
    if lock.slot_elsewhere:
        return f"the run for {slot} is under way on another host (another daemon)"
    if store.slot_done(slot):
        return f"the run for {slot} already happened (another daemon)"
    return None


def _listing_unless_stopped(app: Pipeline, source: str | None, offline: bool) -> Listing | None:
    """The listing, or None when a stop signal came while it was fetched: the fetch takes no further attempt
    and waits out no ``Retry-After`` (``Stopped``), and what a request in flight brought is not ranked."""
    try:
        listing = app.load_listing(source, offline=offline, since=app.last_run_day(source))
    except Stopped as stop:
        log.info("%s", stop)
        return None
    return None if app.stopping.is_set() else listing


def _stopped_before_sending(app: Pipeline, readers: Sequence[Subscriber], slot: str | None,
                            dry_run: bool, sources: list[str] | None) -> SendReport:
    """A run a stop signal cut short before its first message: recorded with its readers left over, so
    its slot stays open for the next start (``Store.slot_done``). Who was due is not known yet (the store
    says): the roster's readers the send was for (``_this_sends``) count them, at least one."""
    report = SendReport(stopped=max(len(readers), 1), note="stopped while fetching the listing")
    if not dry_run:
        _record_empty_run(app, slot, report.note, report, sources=sources)
    return report


def _sources_read(app: Pipeline, source: str | None) -> list[str] | None:
    """The names of the sources a send reads, as its run records them (``Pipeline.sources_read``: each source's
    look-back is its own), or None for a spec no source reads (its run fails, and counts for no look-back)."""
    try:
        return app.sources_read(source)
    except ConfigError:
        return None


def _loaded(read: list[str] | None, listing: Listing) -> list[str] | None:
    """The sources a run read, without those of them that failed and were skipped (``Listing.failed``): their
    look-back stays at their last read, so what they listed meanwhile still comes once they are back."""
    return None if read is None else [name for name in read if name not in listing.failed]


def _record_failed_run(app: Pipeline, slot: str | None, err: DigestError, sources: list[str] | None) -> None:
    """A run whose listing could not be had (the source down, a listing that cannot be read): recorded as
    failed, so the daemon's retry outlives a restart (``digest.schedule.owed_retry``), its slot stays open
    and ``digest status`` shows it. A store that cannot record it is said in a line; the error stands."""
    try:
        _record_empty_run(app, slot, "the listing could not be had", sources=sources,
                          error=str(err) or type(err).__name__)
    except DigestError as failed:
        log.error("could not record the failed run: %s", failed)


def _this_sends(readers: Sequence[Subscriber], only: str | None, shard: Shard | None) -> list[Subscriber]:
    """The readers a send is for: that one (``only``), then its shard's (``shard``); all of them otherwise."""
    return [reader for reader in readers if _sends_to(reader.email, only, shard)]


def _sends_to(email: str, only: str | None, shard: Shard | None) -> bool:
    """Whether a send for ``only`` (``--subscriber``) and ``shard`` is for this reader."""
    return (only is None or email.lower() == only.lower()) and (shard is None or shard.owns(email))


def _sent_meanwhile(app: Pipeline, store: Store) -> Callable[[list[str]], set[str]]:
    """Of some readers just claimed, those another send had since this one decided: their digest went out
    today after all, or went out and the server's reply was lost (that send's uncertain delivery, which the
    next run sends once more: sent again now, a reader whose reply was lost twice would get a third copy)."""
    start = app.start_of_today()
    lost_before = store.uncertain_since(start)

    def recheck(emails: list[str]) -> set[str]:
        lost = store.uncertain_since(start)
        return store.readers_sent_among(emails, start) | {
            email for email in emails if lost.get(email, 0) > lost_before.get(email, 0)}

    return recheck


def _replay(journal: Journal, store: Store) -> None:
    """Deliveries a failed store could not take are recorded before anything is sent."""
    waiting = len(journal.pending())
    try:
        journal.replay(store)
    except StoreError as err:
        raise StoreError(f"refusing to send: {waiting} deliveries the server answered wait in {journal.path} "
                         f"to be recorded, and {err}") from err
    journal.check_writable()


def who_gets_mail(app: Pipeline, store: Store, roster: Sequence[Subscriber], report: SendReport) -> list[Subscriber]:
    """The roster with the readers' own changes, plus confirmed sign-ups; the others counted by why."""
    today = app.today()
    last = last_digest_days(store, app.settings.zone)
    score_refusals(app.settings, store, app.settings.zone)  # the last runs' 5xx at RCPT count towards suppression
    suppressed = {email: held_by(found) for email, found in store.suppressions().items()}
    readers = effective_readers(roster, store, today, last)
    states = store.reader_states()
    suppressed |= removed_refusals(readers, states, store.forgotten(), app.settings.secret_keys)
    for reader in readers:
        if reader.email.lower() in suppressed:
            report.skipped[reader.email] = suppressed[reader.email.lower()]
    readers = [reader for reader in readers if reader.email.lower() not in suppressed]
    kept = {reader.email.lower() for reader in readers} | set(report.skipped)
    for reader in roster:
        if reader.email.lower() not in kept:
            report.skipped[reader.email] = _why_not(states.get(reader.email.lower()), today, last)
    return readers


def last_digest_days(store: Store, zone: tzinfo) -> dict[str, date]:
    """Each reader's (lower-case address) day of their last accepted digest, in ``zone``."""
    return {email: datetime.fromtimestamp(mark.last_digest, zone).date()
            for email, mark in store.catchup_marks().items() if mark.last_digest is not None}


def _why_not(state: ReaderState | None, today: date, last: dict[str, date]) -> str:
    if state is not None and state.status != "active":
        return state.status
    if state is not None and not state.due(today, last.get(state.email)):
        return f"weekly on {state.frequency.capitalize()}"
    return "no keywords"


def due_today(app: Pipeline, store: Store, readers: Sequence[Subscriber], force: bool,
              report: SendReport) -> list[Subscriber]:
    """The readers to send to: once a day, and at most one extra copy after a lost reply."""
    if force:
        return [reader for reader in readers if reader.enabled]
    start = app.start_of_today()
    done = store.readers_sent_since(start)
    uncertain = store.uncertain_since(start)
    todo = []
    for reader in readers:
        email = reader.email.lower()
        if email in done:
            log.debug("%s already got today's digest; skipped", reader.email)  # the summary counts them
            report.nothing_new.append(reader.email)
            report.already_today.append(reader.email)
        elif uncertain.get(email, 0) >= 2:
            log.warning("%s: the server's reply was lost twice today; not sending again before tomorrow", reader.email)
            report.nothing_new.append(reader.email)
        elif reader.enabled:
            if email in uncertain:
                log.warning("%s: sending again, the server's reply to today's digest was lost "
                            "(it may arrive twice)", reader.email)
            todo.append(reader)
    return todo


def _write_all(app: Pipeline, listing: Listing, todo: list[Subscriber], sent: Any, outbox: Path | None,
               report: SendReport, progress: Progress | None, store: Store, lease: Lease) -> None:
    """--dry-run: .eml files instead of SMTP; nothing recorded."""
    with closing(produce(app, listing, todo, sent, store=store, problems=report.problems, lease=lease)) as produced:
        for number, (reader, item) in enumerate(produced, 1):
            if isinstance(item, Skipped):
                report.skipped[reader.email] = item.status
            elif isinstance(item, Nothing):
                report.nothing_new.append(reader.email)
            else:
                report.written.append(app.write_eml(reader, item, outbox))
            if progress:
                progress(number, len(todo))


class Session:
    """One real send: produce, hand to the server, record; finish the run whatever happens."""

    def __init__(self, app: Pipeline, store: Store, mailer: Mailer, report: SendReport, lock: SendLocks,
                 lease: Lease, progress: Progress | None) -> None:
        """``lease``: on PostgreSQL the send's locks and claims, renewed already (``_leased``, ``batches``)."""
        self.app, self.store, self.report, self.lock, self.progress = app, store, report, lock, progress
        self.hints: dict[str, list[dict[str, Any]]] = {}  # per reader ranked: keywords that matched nothing
        self.lease = lease
        self.outgoing = pool(app.settings, mailer, halt=app.stopping, held=self.lease.check)
        self.recorder = Recording(app.settings.state_db, self.outgoing, Journal.beside(app.settings.state_db),
                                  report, keep_days=app.settings.archive_days, clock=app.clock)

    def run(self, listing: Listing, todo: list[Subscriber], sent: Any, slot: str | None,
            mine: Batches | None = None, one_reader: bool = False, sources: list[str] | None = None,
            failed_sources: Sequence[str] = ()) -> None:
        """``one_reader``: a send for one reader (``--subscriber``), which ``last_run_day`` does not count;
        ``sources``: the names of the sources the listing was read from, whose ``last_run_day`` this run is;
        ``failed_sources``: those that failed while they loaded (``Listing.failed``), for ``digest status``."""
        self.store.record_seen(listing.papers)
        self.store.remember_papers(listing.papers, self.app.settings.archive_days)  # votes from links keep the text
        run_id = self.store.start_run(self.app.today().isoformat(), slot,
                                      ONE_READER if one_reader else self.app.started_by, sources, failed_sources)
        error: str | None = None
        failed: StoreError | None = None
        mine = mine or Batches(todo)
        try:
            self._deliver(listing, todo, sent, mine)
        except BaseException as err:
            error = str(err) or type(err).__name__
            failed = err if isinstance(err, StoreError) else None
            raise
        finally:
            self.outgoing.close()  # the messages in hand finish; the queue waits unless stopped
            if self.app.stopping.is_set():
                self.report.stopped += self.outgoing.dropped
            self.recorder.close()  # the last answers are recorded (or journaled) before the run's end
            error = error or _text(self.outgoing.error) or _text(self.recorder.broken)
            self._finish(run_id, error)
            if failed is not None and self.recorder.journaled:  # the store failed here first: say where they are
                raise StoreError(f"{failed}; {self.recorder.journal_note()}", transient=failed.transient) from failed
        self.outgoing.raise_error()
        self.recorder.raise_if_broken()

    def _deliver(self, listing: Listing, todo: list[Subscriber], sent: Any, mine: Batches) -> None:
        """``mine``: the readers this send builds (all of ``todo``, or those it claims as it goes)."""
        self.handled = 0
        try:
            self._hand_over_all(listing, todo, sent, mine)
        except Stopped as stop:  # while the day's papers or the keywords were embedded: no message in hand
            log.info("%s", stop)
            self.report.stopped = max((len(todo) if mine.claims is None else mine.taken) - self.handled, 1)
        number = self.handled
        if self.progress and 0 < number < len(todo) and mine.claims is not None:
            self.progress(number, number)  # the rest was other sends' share: this one's part is done

    def _hand_over_all(self, listing: Listing, todo: list[Subscriber], sent: Any, mine: Batches) -> None:
        """Each reader's message as it is built, until the list ends, a stop signal comes or the server or the
        store gives out (``self.handled``: the readers reached); ``Stopped``: the stop came while the ranking
        embedded (with DIGEST_SEMANTIC), which it watches too."""
        with closing(produce(self.app, listing, todo, sent, self.lock, self.store, self.report.problems,
                             mine, self.lease)) as produced:
            for number, (reader, item) in enumerate(produced, 1):
                self.handled = number
                if self.app.stopping.is_set():
                    self.report.stopped = mine.taken - number + 1
                    break
                if not isinstance(item, Skipped):
                    self.hints[reader.email] = [hint.to_json() for hint in item.hints]
                if isinstance(item, Skipped):
                    self.report.skipped[reader.email] = item.status
                elif isinstance(item, Nothing):
                    self.report.nothing_new.append(reader.email)
                elif not self._hand_over(item):
                    break
                if self.progress:
                    self.progress(number, len(todo))

    def _hand_over(self, item: Outgoing) -> bool:
        """Queue one message (the recording thread records the answers); False: stop (server gone, store broken).

        A broken store halts the queue from the recording thread itself: nothing
        more goes out that could not be recorded, whatever this thread is doing.
        """
        self.outgoing.submit(item)
        self.recorder.start()  # after the first message: the producer has forked by now
        return self.recorder.broken is None and self.outgoing.error is None

    def _finish(self, run_id: int, error: str | None) -> None:
        report = self.report
        try:
            self.store.finish_run(run_id, 0, 0, 0, error=error, tally=report.tally())
            self.store.save_keyword_hints(self.hints, self.app.clock())  # for the preferences page
            self.store.prune(self.app.settings.keep_days, self.app.clock(),  # per-message bookkeeping; never
                             self.app.start_of_today())  # the never-twice record, nor today's messages
        except StoreError as err:
            if error is None:
                raise
            log.error("could not record the end of the run: %s", err)


def pool(settings: Any, first: Mailer, halt: Any = None, held: Callable[[], None] | None = None) -> SendQueue:
    """``DIGEST_SMTP_CONNECTIONS`` mailers sharing one tally, paced by ``DIGEST_SMTP_RATE`` across every
    process that sends from this state store (shards included)."""
    mailers = [first] + [Mailer(settings, tally=first.tally) for _ in range(settings.smtp_connections - 1)]
    shared = Turns(settings.state_db, "smtp", 60.0 / settings.smtp_rate) if settings.smtp_rate else None
    return SendQueue(mailers, parseaddr(settings.from_addr)[1], pace=Pace(settings.smtp_rate, shared), halt=halt,
                     held=held)


def _text(err: BaseException | None) -> str | None:
    return (str(err) or type(err).__name__) if err is not None else None


def _record_empty_run(app: Pipeline, slot: str | None, note: str, report: SendReport | None = None, *,
                      sources: list[str] | None, failed: Sequence[str] = (), error: str | None = None) -> None:
    """A run that sent nothing, recorded with ``note`` (and ``error``: it failed)."""
    with Store.open(app.settings.state_db) as store:
        store.finish_run(store.start_run(app.today().isoformat(), slot, app.started_by, sources, failed), 0, 0, 0,
                         note=note, error=error, tally=report.tally() if report is not None else None)
