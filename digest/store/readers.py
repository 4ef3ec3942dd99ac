"""Readers: what each reader changed on the web (their votes: ``votes``; the archive of sent digests: ``archive``).

The subscribers file and ``DIGEST_TO`` are the operator's roster; a row here is the
reader's own word and wins over the file for that reader. ``unsubscribed`` is a
suppression: nothing but an explicit resume (``digest readers resume``, or the
reader on their preferences page) lifts it. Every change is one transaction and
is logged with its time in ``reader_changes``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Protocol

from .schema import Connection, utcnow
from .votes import Vote

STATUSES = ("active", "paused", "unsubscribed", "pending")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FREQUENCIES = ("run", *WEEKDAYS)  # every run, or weekly on that day
_COLUMNS = "email, rid, status, origin, keywords, max_items, frequency, created, updated, authors, orgs, language"


@dataclass(frozen=True, slots=True)
class ReaderState:
    """One reader's row: ``keywords``/``max_items``/``authors``/``orgs`` are None unless the reader edited them."""

    email: str
    rid: str | None
    status: str
    origin: str  # roster: the operator's file; web: a sign-up
    keywords: tuple[str, ...] | None
    max_items: int | None
    frequency: str
    created: str
    updated: str
    authors: tuple[str, ...] | None = None  # followed (digest.ranking.authors)
    orgs: tuple[str, ...] | None = None
    language: str | None = None  # of the LLM summaries: None the roster's, "" English (chosen on the web)

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> "ReaderState":
        values = list(row)
        for n in (4, 9, 10):
            values[n] = tuple(json.loads(values[n])) if values[n] is not None else None
        return cls(*values)

    def due(self, day: date, last: date | None = None) -> bool:
        """Every run; or weekly: at the first run on or after the chosen weekday since the last digest.

        So a reader who picks Saturday under a Monday-to-Friday schedule gets the week on
        Monday, and a weekly digest missed on its day (a holiday, a deferral) goes out at the
        next run. ``last``: the day of the reader's last digest (None: never).
        """
        if self.frequency == "run":
            return True
        chosen = WEEKDAYS.index(self.frequency)
        latest = day - timedelta(days=(day.weekday() - chosen) % 7)  # the chosen weekday, on or before ``day``
        return last is None or last < latest


class _VoteRecords(Protocol):
    """What Readers uses of the Votes mixin, which Store combines with it."""

    def votes(self, email: str) -> list[Vote]: ...


class _DeliveryRecords(Protocol):
    """What Readers uses of the Deliveries mixin."""

    def deliveries_of(self, email: str) -> dict[str, list[dict[str, object]]]: ...

    def forget_deliveries(self, email: str) -> int: ...


class _ArchiveRecords(Protocol):
    """What Readers uses of the Archive mixin."""

    def archive_of(self, email: str) -> list[dict[str, object]]: ...

    def forget_archive(self, email: str) -> int: ...


class _ReadingRecords(Protocol):
    """What Readers uses of the ReadingList mixin."""

    def reading_list_of(self, email: str) -> list[dict[str, object]]: ...

    def forget_reading_list(self, email: str) -> int: ...


class Readers(Connection, _VoteRecords, _DeliveryRecords, _ArchiveRecords, _ReadingRecords):
    def reader_states(self) -> dict[str, ReaderState]:
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM readers")
        return {row[0]: ReaderState.from_row(row) for row in rows}

    def reader_state(self, email: str) -> ReaderState | None:
        row = self.db.execute(f"SELECT {_COLUMNS} FROM readers WHERE email = :e", {"e": email.lower()}).fetchone()
        return ReaderState.from_row(row) if row else None

    def reader_status(self, email: str) -> str | None:
        state = self.reader_state(email)
        return state.status if state else None

    def reader_by_rid(self, rid: str) -> str | None:
        row = self.db.execute("SELECT email FROM readers WHERE rid = :rid", {"rid": rid}).fetchone()
        return row[0] if row else None

    def _ensure(self, email: str, rid: str | None = None, origin: str = "roster", status: str = "active") -> None:
        """Inside a transaction: the reader's row exists (and knows its link id)."""
        self.db.execute(
            "INSERT INTO readers (email, rid, status, origin, created, updated) VALUES (:e, :rid, :s, :o, :now, :now) "
            "ON CONFLICT (email) DO UPDATE SET rid = coalesce(readers.rid, excluded.rid)",
            {"e": email.lower(), "rid": rid, "s": status, "o": origin, "now": utcnow()},
        )

    def _log(self, email: str, change: str) -> None:
        self.db.execute("INSERT INTO reader_changes (email, at, change) VALUES (:e, :at, :c)",
                        {"e": email.lower(), "at": utcnow(), "c": change})

    def set_status(self, email: str, status: str, by: str = "operator") -> str | None:
        """Set the status; returns the previous one (None: the reader had no row)."""
        if status not in STATUSES:
            raise ValueError(f"unknown reader status {status!r}")
        with self.transaction():
            before = self.reader_status(email)
            self._ensure(email, status=status)
            if before != status:
                self.db.execute("UPDATE readers SET status = :s, updated = :now WHERE email = :e",
                                {"s": status, "now": utcnow(), "e": email.lower()})
                self._log(email, f"status {before or 'active'} -> {status} ({by})")
        return before

    def save_preferences(self, email: str, *, keywords: list[str], max_items: int | None, frequency: str,
                         status: str, authors: list[str] | None = None, orgs: list[str] | None = None,
                         language: str | None = None) -> None:
        """The reader's own settings from the preferences page, in one transaction.

        ``authors``/``orgs`` None: left as they are (an empty list follows nobody).
        ``language`` of the summaries: "" English, None the roster's (not chosen).
        """
        if frequency not in FREQUENCIES or status not in ("active", "paused", "unsubscribed"):
            raise ValueError("bad frequency or status")
        with self.transaction():
            before = self.reader_state(email)
            self._ensure(email)
            self.db.execute(
                "UPDATE readers SET keywords = :k, max_items = :m, frequency = :f, status = :s, language = :l, "
                "updated = :now, authors = coalesce(:a, authors), orgs = coalesce(:o, orgs) WHERE email = :e",
                {"k": json.dumps(keywords), "m": max_items, "f": frequency, "s": status, "l": language, "now": utcnow(),
                 "a": None if authors is None else json.dumps(authors, ensure_ascii=False),
                 "o": None if orgs is None else json.dumps(orgs, ensure_ascii=False), "e": email.lower()},
            )
            was = before.status if before else "active"
            self._log(email, "preferences saved" + (f"; status {was} -> {status}" if was != status else "") + " (web)")

    def reader_changes(self, email: str) -> list[tuple[str, str]]:
        rows = self.db.execute("SELECT at, change FROM reader_changes WHERE email = :e ORDER BY id",
                               {"e": email.lower()})
        return [(r[0], r[1]) for r in rows]

    # sign-ups ---------------------------------------------------------------------

    def request_signup(self, email: str, rid: str, keywords: list[str], listed: bool = False) -> bool:
        """A web sign-up; True when it needs confirming (new, pending or unsubscribed address).

        An address that already gets the digest (``listed`` in the roster, or with an
        active or paused row) keeps its state: a visitor's form never changes an
        existing reader's settings.
        """
        with self.transaction():
            self._expire_pending()
            state = self.reader_state(email)
            if (state is None and listed) or (state is not None and state.status in ("active", "paused")):
                return False
            self._ensure(email, rid, origin="web", status="pending")
            self.db.execute("UPDATE readers SET keywords = :k, updated = :now WHERE email = :e AND status = 'pending'",
                            {"k": json.dumps(keywords), "now": utcnow(), "e": email.lower()})
            self._log(email, "sign-up requested (web)")
            return True

    def confirm_signup(self, email: str, keywords: list[str] | None = None) -> bool:
        """The confirmation link was followed: activate (pending or unsubscribed) readers."""
        with self.transaction():
            state = self.reader_state(email)
            if state is None or state.status not in ("pending", "unsubscribed"):
                return False
            self.db.execute(
                "UPDATE readers SET status = 'active', keywords = coalesce(:k, keywords), updated = :now "
                "WHERE email = :e", {"k": json.dumps(keywords) if keywords else None, "now": utcnow(), "e": email.lower()})
            self._log(email, f"status {state.status} -> active (confirmed sign-up, web)")
            return True

    def _expire_pending(self, hours: float = 48) -> None:
        before = (datetime.now(timezone.utc) - timedelta(hours=hours)).isoformat(timespec="seconds")
        self.db.execute("DELETE FROM readers WHERE status = 'pending' AND created < :before", {"before": before})

    def export_reader(self, email: str) -> dict[str, Any]:
        """Everything the store holds about one reader."""
        state = self.reader_state(email)
        return {
            "email": email.lower(),
            "state": asdict(state) if state else None,
            "changes": [{"at": at, "change": c} for at, c in self.reader_changes(email)],
            "votes": [asdict(v) for v in self.votes(email)],
            **self.deliveries_of(email),
            "archive": self.archive_of(email),
            "reading_list": self.reading_list_of(email),
        }

    def known_emails(self) -> list[str]:
        """Every address the store holds anything about."""
        rows = self.db.execute(
            "SELECT email FROM readers UNION SELECT email FROM votes UNION SELECT email FROM archive "
            "UNION SELECT email FROM addresses ORDER BY 1")
        return [r[0] for r in rows]

    def remove_reader(self, email: str) -> bool:
        """Wipe the reader's data: row, changes, votes, reading list, archive, deliveries. True if there was any."""
        e = {"e": email.lower()}
        with self.transaction():
            removed = 0
            for table in ("readers", "reader_changes", "votes", "uncertain", "keyword_hints"):
                removed += self.db.execute(f"DELETE FROM {table} WHERE email = :e", e).rowcount
            removed += self.forget_reading_list(email)  # these two before the address they are keyed by goes
            removed += self.forget_archive(email)
            removed += self.forget_deliveries(email)
            self.db.execute("DELETE FROM counters WHERE key = :k", {"k": f"signup:{email.lower()}"})
        return removed > 0

