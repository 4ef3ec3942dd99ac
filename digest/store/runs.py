"""Runs: each send, when it started and finished, what it did, who started it and the slot it served."""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ..errors import StoreError
from .schema import Connection, utcnow

log = logging.getLogger("digest")  # the catch-up's warning about a run it leaves out
ONE_READER = "one reader"  # a run's started_by when it served one reader (``digest send --subscriber``)
RUN_COLUMNS = ("id, started, finished, run_date, sent, nothing_new, failed, note, slot, error, "
               "started_by, already, deferred, left_over, host, pid, problems, uncertain, sources, failed_sources")


@dataclass(frozen=True, slots=True)
class Run:
    id: int
    started: str
    finished: str | None
    run_date: str
    sent: int
    nothing_new: int  # not counting ``already``
    failed: int  # not counting ``deferred``
    note: str | None
    slot: str | None = None
    error: str | None = None
    started_by: str | None = None  # "scheduled", "daemon" (--now, a retry) or "one-off"; None: an older run
    already: int = 0  # readers who already had the day's digest
    deferred: int = 0
    left_over: int = 0  # readers a stop signal left for the next run
    host: str | None = None  # where the send ran, and its process id; None: an older run
    pid: int | None = None
    problems: str | None = None  # JSON {address: problem}: readers sent without something of theirs (a library)
    uncertain: int = 0  # readers whose server reply was lost: the next run sends them once more
    sources: str | None = None  # JSON [name]: the sources it read (``read_sources``); None: an older run
    failed_sources: str | None = None  # JSON [name]: those that failed while others loaded (``sources_failed``)

    def reader_problems(self) -> dict[str, str]:
        """{address: problem}, or a ``StoreError`` naming the run when the stored value is not such a JSON
        object (edited by hand, damaged): ``digest status`` says so in one line."""
        loaded = _loaded(self.problems) if self.problems else {}
        if not isinstance(loaded, dict):
            raise StoreError(f"run {self.id}'s problems are not a JSON object of address: problem "
                             f"({shown(self.problems)}); the next run writes its own")
        return {_text(k): _text(v) for k, v in loaded.items()}

    def read_sources(self) -> frozenset[str] | None:
        """The names of the sources the run read (``digest.sources.source_names``), or None for a run from before
        runs kept them (it counts for any source); a ``StoreError`` naming the run when the stored value is not
        a JSON list of names (edited by hand, damaged)."""
        return _names(self, "sources")

    def sources_failed(self) -> frozenset[str]:
        """The names of the sources of the run that failed while others loaded, or loaded only in part
        (``Listing.failed``): not among ``read_sources``; none for a run from before runs kept them."""
        return _names(self, "failed_sources") or frozenset()

    def checked(self) -> Run:
        """The run, or a ``StoreError`` naming it and the first value of it that is not of its kind (edited by
        hand, damaged: a start that is no date, a count that is no number, a NULL where one cannot be): ``digest
        status`` shows that in one line and goes on."""
        instant(self.started, f"run {self.id}'s start")
        if self.finished is not None:
            instant(self.finished, f"run {self.id}'s end")
        for name in ("sent", "nothing_new", "failed", "already", "deferred", "left_over", "uncertain"):
            _expect(self, name, _is_count(getattr(self, name)), "a count")
        _expect(self, "pid", self.pid is None or _is_count(self.pid) and self.pid > 0, "a process id")
        _expect(self, "run_date", _is_day(self.run_date), "a day")
        for name in ("note", "slot", "error", "started_by", "host"):
            _expect(self, name, isinstance(getattr(self, name), (str, type(None))), "text")
        self.read_sources()
        self.sources_failed()
        return self

    def unreadable(self) -> str | None:
        """What ``checked`` finds that cannot be read, or None: the run can be shown and counted."""
        try:
            self.checked()
        except StoreError as err:
            return str(err)
        return None

    def started_at(self) -> datetime:
        return instant(self.started, f"run {self.id}'s start")

    @property
    def kind(self) -> str:
        return "scheduled" if self.slot else (self.started_by or "one-off")


def instant(value: object, what: str) -> datetime:
    """A stored ISO date and time, or a ``StoreError`` saying ``what`` is not one."""
    try:
        found = datetime.fromisoformat(value)  # type: ignore[arg-type]  # anything a damaged row holds
    except (TypeError, ValueError):
        found = None
    if found is None or not 1970 <= found.year < 9999:  # (year 1 or 9999, shown in a time zone, overflows)
        raise StoreError(f"{what} is not a date and time ({shown(value)})")
    return found


def _names(run: Run, column: str) -> frozenset[str] | None:
    """A column's JSON list of source names, None for NULL, or a ``StoreError`` naming the run and the column."""
    value = getattr(run, column)
    if value is None:
        return None
    loaded = _loaded(value)
    if not isinstance(loaded, list) or not all(isinstance(name, str) for name in loaded):
        raise StoreError(f"run {run.id}'s {column.replace('_', ' ')} are not a JSON list of names ({shown(value)})")
    return frozenset(loaded)


def _loaded(value: object) -> Any:
    """A stored JSON value, or None when it is not JSON (edited by hand, damaged): not UTF-8, not text, or
    nested deeper than Python's parser goes."""
    try:
        return json.loads(value)  # type: ignore[arg-type]  # anything a damaged row holds
    except (ValueError, TypeError, RecursionError):
        return None


def _text(value: object) -> str:
    """A loaded JSON value as text that can be written anywhere: half a UTF-16 pair (JSON's ``\\ud800``) is ``?``."""
    return str(value).encode("utf-8", "replace").decode("utf-8")


def _is_day(value: object) -> bool:
    try:
        return isinstance(value, str) and len(value) == 10 and bool(date.fromisoformat(value))
    except ValueError:
        return False


def _is_count(value: object) -> bool:
    return type(value) is int and 0 <= value < 2**31


def _expect(run: Run, name: str, fits: bool, kind: str) -> None:
    if not fits:
        raise StoreError(f"run {run.id}'s {name} is not {kind} ({shown(getattr(run, name))})")


def shown(value: object) -> str:
    """A stored value as an error message quotes it: its repr, cut short."""
    return repr(value)[:60]


@dataclass(frozen=True, slots=True)
class Tally:
    """What a run did, as the send counted it."""

    sent: int = 0
    nothing_new: int = 0
    failed: int = 0
    already: int = 0
    deferred: int = 0
    left_over: int = 0
    uncertain: int = 0
    problems: tuple[tuple[str, str], ...] = ()  # (address, problem) of readers with a problem of their own


class Runs(Connection):
    def start_run(self, run_date: str, slot: str | None = None, started_by: str | None = None,
                  sources: Collection[str] | None = None, failed_sources: Collection[str] = ()) -> int:
        """``slot`` names the scheduled time a daemon run serves (see ``slot_done``); ``sources``: the names of the
        sources the run reads (``digest.sources.source_names``): the catch-up's look-back is each source's own;
        ``failed_sources``: those of its sources that failed while others loaded (``digest status`` names them)."""
        with self.transaction():
            cursor = self.db.execute(
                "INSERT INTO runs (started, run_date, slot, started_by, host, pid, sources, failed_sources) "
                "VALUES (:now, :day, :slot, :by, :host, :pid, :sources, :failed)",
                {"now": utcnow(), "day": run_date, "slot": slot, "by": "scheduled" if slot else started_by,
                 "host": socket.gethostname(), "pid": os.getpid(),
                 "sources": None if sources is None else json.dumps(sorted(set(sources))),
                 "failed": json.dumps(sorted(set(failed_sources))) if failed_sources else None},
            )
        return int(cursor.lastrowid or 0)

    def slot_done(self, slot: str) -> bool:
        """Whether a run served this scheduled slot: the daemon never serves a slot twice.

        A run that failed (``error``), that a stop signal cut short (``left_over``: readers it never
        handed to the server) or that left readers for a retry later the same day (``deferred``: a 4xx;
        ``failed``: a 5xx; ``uncertain``: a lost reply) did not serve it: the slot stays open for a retry or
        the catch-up at the next start, whose readers who already had today's digest get nothing more.
        """
        row = self.db.execute(
            "SELECT 1 FROM runs WHERE slot = :slot AND finished IS NOT NULL AND error IS NULL AND left_over = 0 "
            "AND deferred = 0 AND failed = 0 AND uncertain = 0 LIMIT 1",
            {"slot": slot},
        ).fetchone()
        return row is not None

    def runs_on(self, run_date: str) -> list[Run]:
        """The runs of one day, oldest first: what the daemon left to retry that day (``digest.schedule``)."""
        rows = self.db.execute(f"SELECT {RUN_COLUMNS} FROM runs WHERE run_date = :day ORDER BY id",
                               {"day": run_date})
        return [Run(*row) for row in rows]

    def finish_run(self, run_id: int, sent: int, nothing_new: int, failed: int, note: str = "",
                   error: str | None = None, *, tally: Tally | None = None) -> None:
        """``error``: the run stopped early (SMTP down, ...); its slot stays open for a retry.

        ``tally`` (when given) wins over the three counts: it keeps the kinds apart.
        """
        tally = tally or Tally(sent, nothing_new, failed)
        with self.transaction():
            self.db.execute(
                "UPDATE runs SET finished = :now, sent = :sent, nothing_new = :nothing_new, failed = :failed, "
                "note = :note, error = :error, already = :already, deferred = :deferred, left_over = :left_over, "
                "uncertain = :uncertain, problems = :problems WHERE id = :id",
                {"now": utcnow(), "note": note, "error": error, "id": run_id, "sent": tally.sent,
                 "nothing_new": tally.nothing_new, "failed": tally.failed, "already": tally.already,
                 "deferred": tally.deferred, "left_over": tally.left_over, "uncertain": tally.uncertain,
                 "problems": json.dumps(dict(tally.problems)) if tally.problems else None},
            )

    def served_runs(self, before: int | None = None, limit: int = 50) -> list[Run]:
        """The runs that served their readers, newest first (with ``before``: those older than that run id):
        finished, with no error and no reader a stop left over, and not a one-reader send (``started_by``
        ``one_reader``, the name ``digest.sending`` gives it). The catch-up's look-back reaches back to the
        latest of them (``Digest.last_run_day``): a run stopped while it read its listing, cut short or killed
        read less than it should, or served only some readers. The look-back of a source counts only the runs
        that read it (``Run.read_sources``)."""
        rows = self.db.execute(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE finished IS NOT NULL AND error IS NULL AND left_over = 0 "
            "AND (started_by IS NULL OR started_by <> :one) AND id < :before ORDER BY id DESC LIMIT :limit",
            {"one": ONE_READER, "before": 2**62 if before is None else before, "limit": limit})
        return [Run(*row) for row in rows]

    def last_reads(self, wanted: Collection[str], before_day: str) -> dict[str, str]:
        """{source name: the day of the latest served run (``served_runs``) before ``before_day`` that read it}
        for each of ``wanted`` some run read (a run from before runs kept their sources read all). The runs are read
        newest first until each source's is found: no number of later runs (a day's shards, other sources) hides it.
        A run a hand edit or damage left unreadable is left out, with one warning naming it: the catch-up then
        reaches back further, never less far (``Digest.last_run_day``)."""
        found: dict[str, str] = {}
        before = None
        while len(found) < len(wanted) and (runs := self.served_runs(before)):
            read = [(run.run_date, run.read_sources()) for run in _readable(runs) if run.run_date < before_day]
            for name in set(wanted) - found.keys():
                days = [day for day, names in read if names is None or name in names]
                if days:
                    found[name] = max(days)
            before = runs[-1].id
        return found

    def last_runs(self, limit: int = 10) -> list[Run]:
        rows = self.db.execute(f"SELECT {RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT :limit", {"limit": limit})
        return [Run(*row) for row in rows]

    def recorded_during(self, run: Run, until: str | None = None) -> tuple[int, int]:
        """(sent, failed) messages recorded from the run's start to ``until`` (the next run's start,
        or now): what an unfinished run (killed midway) got done, which its own counts never say.

        A run that kept its process id counts only its own messages (``_own``): a send that
        started while it was running (another shard, another host) does not blur the counts.
        """
        where, values = self._own(run, until)
        row = self.db.execute(
            "SELECT count(*) FILTER (WHERE status = 'sent'), count(*) FILTER (WHERE status != 'sent') "
            f"FROM messages WHERE {where}", values,
        ).fetchone()
        return int(row[0] or 0), int(row[1] or 0)

    def _own(self, run: Run, until: str | None) -> tuple[str, dict[str, Any]]:
        """The messages of ``run``: since its start, and either made by its process (Python's Message-IDs,
        ``<time.PID.random@domain>``, name the process), up to its process's next run, or up to ``until``."""
        since = int(run.started_at().timestamp())
        if run.pid is None:
            end = int(instant(until, "the next run's start").timestamp()) if until else 2**62
            return "created >= :since AND created < :end", {"since": since, "end": end}
        later = self.db.execute("SELECT min(started) FROM runs WHERE id > :id AND pid = :pid",
                                {"id": run.id, "pid": run.pid}).fetchone()[0]
        end = int(instant(later, f"the start of process {run.pid}'s next run").timestamp()) if later else 2**62
        return ("created >= :since AND created < :end AND (message_id LIKE :mine OR message_id NOT LIKE '<%.%.%@%')",
                {"since": since, "end": end, "mine": f"<%.{run.pid}.%@%"})  # (an id of another shape: the window)

    def refused_during(self, run: Run, until: str | None = None) -> list[tuple[str, str]]:
        """(address, error) of the messages refused (failed or deferred) from the run's start to ``until``."""
        since = int(run.started_at().timestamp())
        end = int(instant(until, "the next run's start").timestamp()) if until else 2**62
        rows = self.db.execute(
            "SELECT a.email, coalesce(m.error, '') FROM messages AS m JOIN addresses AS a ON a.id = m.reader "
            "WHERE m.created >= :since AND m.created < :end AND m.status != 'sent' ORDER BY m.created, m.id",
            {"since": since, "end": end},
        )
        return [(row[0], row[1]) for row in rows]


def _readable(runs: list[Run]) -> list[Run]:
    unreadable = {run.id: run.unreadable() for run in runs}
    for run_id, why in unreadable.items():
        if why:
            log.warning("run %s is left out of the catch-up: %s", run_id, why)
    return [run for run in runs if not unreadable[run.id]]
