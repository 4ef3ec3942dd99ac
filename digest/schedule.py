"""The daemon: ``digest send`` on a cron schedule, in the reader's time zone, once per slot.

APScheduler 3 runs the job on one worker thread (runs never overlap); the main
thread only waits for SIGTERM/SIGINT/SIGHUP, then stops a running send as ``digest
send`` stops on SIGTERM: the messages in hand finish and are recorded, the rest are
never handed to the server (a retry's backoff and the rate limit's wait are cut short),
so a stop takes seconds, not the rest of a long list; a second signal ends the process at
once, as it ends ``digest send`` (a kill: nothing is lost). With ``web`` (``digest run
--serve``) the reader pages are served from a thread of the same process until then.
Each scheduled time is a *slot* ("2026-10-25 02:30 Europe/Berlin"); a slot with a
finished run in the state store is never served again, which guards the autumn DST
day and restarts; a run that failed, that left readers for a retry (deferred, refused,
uncertain) or that a stop signal cut short (readers left over) did not serve its slot:
its retry, or the next start, serves it again, for the readers left.
A slot missed while the daemon was down runs once at start-up, and one due while the
machine slept runs once when it wakes (a suspend stops the monotonic clock the
scheduler's wait counts on: a jump of the wall clock wakes it), when it is less than
``DIGEST_GRACE_HOURS`` old.
A run that fails (network down, SMTP outage) is retried a few times within the
grace period; exactly-once delivery makes retries safe. So is one whose server deferred,
refused or lost the reply to some readers. A recorded run's retry outlives the process:
the day's runs in the state store say it is owed and when (``owed_retry``; a run whose listing could not
be had is recorded as failed too), and a start the same day keeps that time, in place of the slot's catch-up. A run whose state store
cannot record (disk full, damaged database) is not retried: a retry would send
what it cannot record. A PostgreSQL server out of reach is retried like an SMTP
outage: a retry sends nothing before the store opens.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from types import FrameType
from typing import Any

from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from .app import Digest, SendReport
from .checks import require_ready
from .cron import LocalCronTrigger, parse_cron
from .errors import ConfigError, DigestError, StoreError
from .model import Subscriber
from .settings import Settings
from .store.runs import Run, instant
from .subscribers import no_readers

log = logging.getLogger("digest.daemon")

RETRY_MINUTES = (5, 15, 30, 60, 60, 60)
JOB_ID = "digest"
BOUNCE_MINUTES = 30  # how often the daemon reads the bounce mailbox (DIGEST_BOUNCE_IMAP_URL)
CLOCK_JUMP_SECONDS = 5.0  # the wall clock moved this much more than the monotonic one: the machine slept
SKIPPED_LOOKBACK = timedelta(days=7)  # how far back a start looks for a run it skips, to say so
DAEMON_RUNS = ("scheduled", "daemon")  # the runs' started_by of the daemon's runs (a slot's, --now's)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class ClockWatch:
    """Tells when the wall clock jumped against the monotonic one: a suspend (which stops the monotonic
    clock that the scheduler's timed wait counts on, so its wait would run on by the time slept) or a clock
    set by hand or NTP."""

    def __init__(self) -> None:
        self.offset = self._offset()

    @staticmethod
    def _offset() -> float:
        return utcnow().timestamp() - time.monotonic()

    def jumped(self) -> bool:
        """Whether the clocks drifted apart since the last call (then the scheduler is woken to look again)."""
        before, self.offset = self.offset, self._offset()
        return abs(self.offset - before) > CLOCK_JUMP_SECONDS


def missed_slot(trigger: LocalCronTrigger, now: datetime, grace: timedelta,
                done: Callable[[str], bool]) -> datetime | None:
    """The latest scheduled time within ``grace`` before ``now`` that no run has served."""
    recent = trigger.fire_times(now - grace, now)
    if not recent or done(trigger.slot(recent[-1])):
        return None
    return recent[-1]


def skipped_slot(trigger: LocalCronTrigger, now: datetime, grace: timedelta,
                 done: Callable[[str], bool]) -> datetime | None:
    """The latest scheduled time of the week before ``now`` that no run served and that is too old to run now
    (more than ``grace`` ago, with no later time since): what a start skips, to be said."""
    if trigger.fire_times(now - grace, now):
        return None  # a later time is due now, or already served: the older one no longer matters
    earlier = trigger.fire_times(now - grace - SKIPPED_LOOKBACK, now - grace)
    if not earlier or done(trigger.slot(earlier[-1])):
        return None
    return earlier[-1]


def slot_for(trigger: LocalCronTrigger, now: datetime, grace: timedelta) -> datetime | None:
    """The scheduled time a job starting at ``now`` serves (it may start late, within grace)."""
    recent = trigger.fire_times(now - grace - timedelta(minutes=1), now + timedelta(seconds=1))
    return recent[-1] if recent else None


@dataclass(frozen=True)
class Retry:
    """The retry a daemon run left owed (``left_readers``)."""

    slot: str | None
    number: int  # the day's runs of the slot that left readers: the retry's ``run_once(retry=...)``
    at: datetime | None  # when RETRY_MINUTES puts it; None: the retries are used up


def left_readers(run: Run) -> bool:
    """Whether ``run`` ended leaving readers that its daemon retries later the same day (``run_once``): it
    failed (``error``: the SMTP server unreachable or turning everyone away, a refused login, the replies to
    messages in a row lost), or its server deferred (a 4xx), refused (a 5xx) or lost the reply to (uncertain)
    some readers. A run a stop cut short (``left_over``) or a kill ended is the catch-up's at start."""
    if run.finished is None or run.left_over:
        return False
    return run.error is not None or bool(run.failed or run.deferred or run.uncertain)


def owed_retry(runs: Sequence[Run]) -> Retry | None:
    """The retry the day's ``runs`` (oldest first) leave owed: when the daemon's last run left readers,
    the next try after it, when the daemon that ran it would have tried; None when that run served its
    readers, was cut short or never finished (the slot's catch-up at start serves those)."""
    mine = [run for run in runs if run.started_by in DAEMON_RUNS]
    last = mine[-1] if mine else None
    if last is None or not left_readers(last):
        return None
    tries = sum(1 for run in mine if run.slot == last.slot and left_readers(run))
    if tries > len(RETRY_MINUTES):
        return Retry(last.slot, tries, None)
    ended = instant(last.finished, f"run {last.id}'s end")
    return Retry(last.slot, tries, ended + timedelta(minutes=RETRY_MINUTES[tries - 1]))


def _worth_retrying(err: DigestError) -> bool:
    """Logs a failed run; False when a retry could send what the state store cannot record."""
    log.error("run failed: %s", err)
    if isinstance(err, StoreError) and not err.transient:  # a server out of reach is tried again, as SMTP is
        log.error("not retrying: the state store cannot record deliveries; fix it, and the next "
                  "scheduled run (or digest send) records what is pending first")
        return False
    return True


def make_scheduler(settings: Settings, grace: timedelta) -> BackgroundScheduler:
    """The daemon's scheduler: one worker thread (runs never overlap), a late run coalesced and run within ``grace``."""
    return BackgroundScheduler(
        timezone=settings.zone,
        executors={"default": ThreadPoolExecutor(1)},
        job_defaults={"coalesce": True, "max_instances": 1,
                      "misfire_grace_time": max(int(grace.total_seconds()), 1)},
    )


def wait_for_stop(stopped: threading.Event, clock: ClockWatch, wakeup: Callable[[], None]) -> None:
    """Wait until ``stopped`` is set, waking the scheduler (``wakeup``) to look for due runs when the wall clock
    jumped (``clock``: a suspend, or the time set)."""
    while not stopped.wait(1.0):
        if clock.jumped():
            log.info("the clock jumped (the machine slept, or the time was set): looking for due runs")
            wakeup()


class StopSignals:
    """SIGTERM/SIGINT/SIGHUP (the terminal closed) while the daemon serves, on the main thread only: the first sets
    ``stopped`` (the send stops after the messages in hand); a second ends the process at once, as it ends ``digest
    send``: a kill, which the journal and the run's unrecorded end make safe. The handlers before are put back on
    leaving the ``with`` block."""

    NUMBERS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

    def __init__(self, stopped: threading.Event) -> None:
        self.stopped = stopped
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for number in self.NUMBERS:
                self.previous[number] = signal.signal(number, self._on_signal)
        return self

    def __exit__(self, *exc: object) -> None:
        for number, handler in self.previous.items():
            signal.signal(number, handler)
        self.previous = {}

    def _on_signal(self, number: int, frame: FrameType | None) -> None:
        name = signal.Signals(number).name
        if self.stopped.is_set():
            log.warning("received %s again: ending now; the next start serves the readers left", name)
            signal.signal(number, signal.SIG_DFL)
            os.kill(os.getpid(), number)
            return
        log.info("received %s", name)
        self.stopped.set()


class Calendar:
    """The schedule's times as the daemon says them, in the reader's time zone."""

    def __init__(self, settings: Settings, trigger: LocalCronTrigger) -> None:
        self.settings = settings
        self.trigger = trigger

    def next_run(self) -> datetime | None:
        return self.trigger.get_next_fire_time(None, utcnow())

    def next_run_text(self) -> str:
        upcoming = self.next_run()
        return self.local(upcoming) if upcoming else "never (the schedule has no future times)"

    def local(self, moment: datetime) -> str:
        return f"{moment.astimezone(self.settings.zone):%Y-%m-%d %H:%M %Z}"

    def log_skipped(self, slot: datetime, why: str) -> None:
        late = utcnow() - slot
        log.warning("skipped the run at %s: %s, and it is %s late, more than DIGEST_GRACE_HOURS=%g (raise it "
                    "to catch up that late); next run: %s",
                    self.local(slot), why, _duration(late), self.settings.grace_hours, self.next_run_text())


class SlotBook:
    """What the state store says of the daemon's slots: whether a run served one, and the retry the day's runs
    left owed. No store yet (a first start): nothing served, nothing owed."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def started_before(self) -> bool:
        """Whether a run made the state store: a first start (no state yet) skipped nothing."""
        return self.settings.state_db.exists()

    def done(self, slot: str) -> bool:
        """Whether a run in the state store served ``slot`` (``Store.slot_done``)."""
        from .store import Store

        if not self.started_before():
            return False
        with Store.open(self.settings.state_db) as store:
            return store.slot_done(slot)

    def owed_today(self) -> Retry | None:
        """The retry today's last daemon run left owed (``owed_retry``): the runs in the state store keep it
        across a restart or a crash, so a reader left for a retry is not left for tomorrow."""
        from .store import Store

        if not self.started_before():
            return None
        today = utcnow().astimezone(self.settings.zone).date().isoformat()
        try:
            with Store.open(self.settings.state_db) as store:
                return owed_retry(store.runs_on(today))
        except StoreError as err:  # the first run says it again, and does not send what it cannot record
            log.error("cannot tell whether readers left today wait for a retry: %s", err)
            return None


class Retries:
    """A run's retries on the scheduler: ``RETRY_MINUTES`` apart, one job per slot, none after a stop."""

    def __init__(self, scheduler: BackgroundScheduler, run: Callable[..., Any], calendar: Calendar,
                 stopped: threading.Event) -> None:
        self.scheduler, self.run, self.calendar, self.stopped = scheduler, run, calendar, stopped

    def schedule(self, slot: str | None, retry: int) -> None:
        """The next try after the run that was try ``retry`` (0: the first run) left readers."""
        if retry >= len(RETRY_MINUTES) or self.stopped.is_set():
            return
        at = utcnow() + timedelta(minutes=RETRY_MINUTES[retry])
        log.info("will retry at %s", self.calendar.local(at))
        self.add(slot, retry + 1, at)

    def resume(self, owed: Retry) -> None:
        """Schedule ``owed`` at its time, or at once when that has passed."""
        if owed.at is None:
            log.warning("the readers left today were retried %d times; they wait for the next run",
                        owed.number - 1)
            return
        at = max(owed.at, utcnow())
        log.info("readers were left for a retry today (%s): retrying them at %s", owed.slot or "a run at start",
                 self.calendar.local(at))
        self.add(owed.slot, owed.number, at)

    def add(self, slot: str | None, retry: int, at: datetime) -> None:
        self.scheduler.add_job(self.run, DateTrigger(at), kwargs={"slot": slot, "retry": retry},
                               id=f"retry-{slot}", replace_existing=True, misfire_grace_time=None)


@dataclass(frozen=True)
class CatchUp:
    """What a start owes the runs before it: the retry a run left owed, at its time; a slot missed while the
    daemon was down (unless that retry serves it), run at once; a slot too old for that, said."""

    settings: Settings
    trigger: LocalCronTrigger
    grace: timedelta
    slots: SlotBook
    retries: Retries
    calendar: Calendar

    def due_at_start(self) -> datetime | None:
        """Schedules the owed retry and says what is missed or skipped; the missed slot a run at start serves."""
        catch_up = missed_slot(self.trigger, utcnow(), self.grace, self.slots.done)
        owed = self.slots.owed_today()
        if owed is not None:
            self.retries.resume(owed)
            if catch_up is not None and self.trigger.slot(catch_up) == owed.slot:
                catch_up = None
        if catch_up is not None:
            log.info("missed the run at %s; running it now (within DIGEST_GRACE_HOURS=%g)",
                     self.calendar.local(catch_up), self.settings.grace_hours)
        elif self.slots.started_before():
            skipped = skipped_slot(self.trigger, utcnow(), self.grace, self.slots.done)
            if skipped is not None:
                self.calendar.log_skipped(skipped, "the daemon was not running then")
        return catch_up


class BounceReader:
    """The bounce mailbox (``DIGEST_BOUNCE_IMAP_URL``), read on a thread of its own each time it is called: a slow or
    stalled IMAP server never holds up a send or a stop (the thread dies with the process)."""

    def __init__(self, settings: Settings, readers: Callable[[], Sequence[Subscriber]]) -> None:
        self.settings = settings
        self.readers = readers
        self.thread: threading.Thread | None = None

    def read(self) -> None:
        if self.thread is not None and self.thread.is_alive():
            log.warning("bounce mailbox: the last read has not finished (a slow or stalled server); "
                        "not starting another")
            return
        readers = [r.email for r in self.readers()]
        self.thread = threading.Thread(target=read_bounce_mailbox, args=(self.settings, readers),
                                       name="digest-bounces", daemon=True)
        self.thread.start()


def ready_web(settings: Settings, web: tuple[str, int] | None) -> tuple[Any, Any] | None:
    """The reader pages' app and bound socket on ``web`` (host, port), not served yet, or None."""
    if web is None:
        return None
    from .web import ready_to_serve

    return ready_to_serve(settings, *web)


def start_web(web: tuple[Any, Any] | None) -> Any:
    """The reader pages (``ready_web``) served from a thread of this process, or None."""
    if web is None:
        return None
    from .web import start_on

    handle = start_on(*web)
    log.info("reader pages at %s", handle.url)
    return handle


def log_report(report: SendReport) -> None:
    """A run's summary, and a line for each reader it did not reach."""
    log.info("%s", report.summary())
    for kind, errors in (("failed", report.failed), ("deferred", report.deferred),
                         ("uncertain", report.uncertain)):
        for email, error in errors.items():
            log.warning("%s: %s: %s", kind, email, error)


@dataclass
class Daemon:
    """``digest run``: the library side; the CLI only builds it and calls ``serve``."""

    settings: Settings
    readers: Sequence[Subscriber]
    source: str | None = None
    reload_readers: Callable[[], Sequence[Subscriber]] | None = None  # re-read the subscribers file each run
    app_factory: Callable[[Settings], Digest] = Digest
    web: tuple[str, int] | None = None  # (host, port): also serve the reader pages (digest run --serve)
    trigger: LocalCronTrigger = field(init=False)
    runs: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.trigger = parse_cron(self.settings.schedule, self.settings.timezone)
        self.grace = timedelta(hours=self.settings.grace_hours)
        self._stop = threading.Event()
        self._busy = threading.Lock()
        self.scheduler = make_scheduler(self.settings, self.grace)
        self.calendar = Calendar(self.settings, self.trigger)
        self.slots = SlotBook(self.settings)
        self.retries = Retries(self.scheduler, self.run_once, self.calendar, self._stop)
        self.catch_up = CatchUp(self.settings, self.trigger, self.grace, self.slots, self.retries, self.calendar)
        self.bounces = BounceReader(self.settings, lambda: self.readers)

    def serve(self, *, now: bool = False) -> int:
        """Run until SIGTERM/SIGINT/SIGHUP; returns the exit code (0 after a clean stop).

        Refuses to start (a ``ConfigError`` naming every problem) when a send
        would fail anyway: better now, with the operator watching, than at 07:00.
        """
        require_ready(self.settings, self.readers, source=self.source)
        web = ready_web(self.settings, self.web)  # built and bound: a failure is one line, not a start then an end
        self.log_start(self.signed_up_at_start())
        server = start_web(web)
        self.scheduler.add_job(self.scheduled_run, self.trigger, id=JOB_ID, name="daily digest")
        self.scheduler.add_listener(self.on_missed, EVENT_JOB_MISSED)
        if self.settings.bounce_imap_url:
            self.scheduler.add_job(self.bounces.read, IntervalTrigger(minutes=BOUNCE_MINUTES), id="bounces",
                                   name="bounce mailbox", next_run_time=utcnow(), misfire_grace_time=None)
        try:
            with StopSignals(self._stop):  # before the start jobs log: a test may stop it once they did
                self.add_start_jobs(now)
                clock = ClockWatch()  # before the scheduler reads the time: a jump between the two is still seen
                self.scheduler.start()
                wait_for_stop(self._stop, clock, self.scheduler.wakeup)
                if self._busy.locked():
                    log.info("stopping: the messages in hand finish; the readers left go out when the daemon "
                             "starts again (within DIGEST_GRACE_HOURS of the run's time)")
                self.scheduler.shutdown(wait=True)
        finally:
            if server is not None:
                server.stop()
        log.info("stopped")
        return 0

    def add_start_jobs(self, now: bool) -> None:
        """What a start owes the runs before it (``CatchUp``); ``now``: a run at once."""
        catch_up = self.catch_up.due_at_start()
        if now or catch_up is not None:
            slot = self.trigger.slot(catch_up) if catch_up is not None else None
            self.scheduler.add_job(self.run_once, DateTrigger(utcnow()), kwargs={"slot": slot},
                                   id="start", misfire_grace_time=None)

    def signed_up_at_start(self) -> int:
        """With no roster, how many confirmed web sign-ups there are (with a roster the store is not opened at
        start). Nobody at all stops the start with the ways to add readers, unless readers can sign up
        (DIGEST_SIGNUP): then the daemon waits for the first confirmed sign-up; each run picks up those
        confirmed since."""
        if self.readers:
            return 0
        try:
            with self.app_factory(self.settings) as app:
                signed_up = app.web_sign_ups(())
        except StoreError as err:  # PostgreSQL not up yet: a run opens the store again
            log.warning("cannot count the web sign-ups yet: %s", err)
            return 0
        if not signed_up:
            if not self.settings.signup:
                raise ConfigError(no_readers(self.settings))
            log.info("%s; the digests go out once readers have signed up", no_readers(self.settings))
        return len(signed_up)

    def stop(self) -> None:
        self._stop.set()

    def scheduled_run(self) -> None:
        fire = slot_for(self.trigger, utcnow(), self.grace)
        self.run_once(slot=self.trigger.slot(fire) if fire else None)

    def run_once(self, slot: str | None = None, retry: int = 0) -> SendReport | None:
        """One ``digest send``; never raises, so one bad morning does not stop the daemon."""
        with self._busy:
            if self._stop.is_set():
                return None
            report: SendReport | None = None
            retry_it = True
            try:
                if slot and not retry and self.slots.done(slot):
                    log.info("the run for %s already happened; skipping", slot)
                    return None
                report = self._send(slot)
            except DigestError as err:
                retry_it = _worth_retrying(err)
            except Exception:  # a bug: keep the daemon alive, keep the traceback
                log.exception("run failed with an unexpected error")
            if retry_it and (report is None or report.incomplete):
                self.retries.schedule(slot, retry)
            log.info("next run: %s", self.calendar.next_run_text())
            return report

    def _send(self, slot: str | None) -> SendReport:
        self.runs += 1
        self.refresh_readers()
        with self.app_factory(self.settings) as app:
            app.stopping = self._stop  # a stop signal ends the send after the messages in hand, not the list
            if not self.readers and not app.web_sign_ups(()):  # all readers sign up on the web: nobody has yet
                log.info("nothing to send yet: %s", no_readers(self.settings))
                return SendReport(note="no readers yet")
            report = app.send(self.readers, source=self.source, slot=slot)
        log_report(report)
        return report

    def refresh_readers(self) -> None:
        """Pick up readers added to or removed from the subscribers file since the last run;
        a file that no longer parses keeps the previous list (and says why)."""
        if self.reload_readers is None:
            return
        try:
            readers = list(self.reload_readers())
        except DigestError as err:
            log.error("keeping the previous %d reader(s): %s", len(self.readers), err)
            return
        if len(readers) != len(self.readers):
            log.info("readers: %d (were %d)", len(readers), len(self.readers))
        self.readers = readers

    def on_missed(self, event: JobExecutionEvent) -> None:
        """APScheduler skipped a scheduled run more than the grace period late (the machine slept through it)."""
        if event.job_id == JOB_ID:
            self.calendar.log_skipped(event.scheduled_run_time, "the machine was asleep or the clock was set")

    def log_start(self, signed_up: int = 0) -> None:
        """``signed_up``: the confirmed web sign-ups, counted apart from the roster's readers."""
        summary = ", ".join(f"{key}={value}" for key, value in self.settings.summary().items())
        web = f" and {signed_up} signed up on the web" if signed_up else ""
        log.info("digest daemon starting: %s, %d reader(s)%s", summary, len(self.readers), web)
        log.info("schedule %r in %s; next run: %s", self.settings.schedule, self.settings.timezone,
                 self.calendar.next_run_text())


def _duration(late: timedelta) -> str:
    minutes = max(int(late.total_seconds() // 60), 0)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def read_bounce_mailbox(settings: Settings, readers: Sequence[str]) -> None:
    """One read of the bounce mailbox; a failure is logged and tried again next time."""
    from .bounces import check_bounces
    from .store import Store

    try:
        with Store.open(settings.state_db) as store:
            report = check_bounces(settings, store, readers, datetime.now(settings.zone).date())
    except DigestError as err:
        log.error("bounce mailbox: %s (tried again in %d minutes)", err, BOUNCE_MINUTES)
        return
    for line in report.lines():
        log.info("bounces: %s", line)
