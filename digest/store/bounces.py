"""Bounces: each reader's bounce score, the events behind it, and the readers suppressed.

Scored the way Mailman 3 does it: a hard bounce counts 1, a soft one 0.5, at most
one bounce a day counts (a relay that retries, or two reports of one failure, are
one bounce); a score whose last bounce is older than the stale period starts
again from zero. At the threshold the reader is suppressed. A complaint (an ARF
abuse report) suppresses at once. A policy refusal (5.7.x, 4.7.x, 421: our mail or
server refused, ``digest.bounces.codes``) is recorded but never counted: one
provider refusing our mail refuses it for all its readers at once.
Only ``digest readers resume`` lifts a suppression (``lift_suppression``).

Every event carries a key (the bounce message's digest, or ``rcpt:`` and the
refused message's Message-ID) so that reading the same mailbox twice counts nothing twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from ..errors import StoreError
from .runs import instant, shown
from .schema import Connection, utcnow

WEIGHTS = {"hard": 1.0, "soft": 0.5}  # what counts towards the score; every other kind counts 0
SUPPRESS_AT_ONCE = ("complaint",)
RCPT_MARK = " (refused at RCPT)"  # digest.mail.AT_RCPT: the store reads it back from the recorded error
DATA_MARK = " (refused at DATA)"  # digest.mail.AT_DATA: the reader's mailbox refused once the server had the message
REFUSED_AT = "% (refused at %)"  # either mark, as the query below matches it
# the messages refused at RCPT that no bounce event scored yet, read through the partial index of failed
# messages (schema: messages_failed), never a scan of every message kept
REFUSALS_NOT_SCORED = (
    "SELECT m.message_id, a.email, m.created, m.error FROM messages AS m JOIN addresses AS a ON a.id = m.reader "
    "WHERE m.status = 'failed' AND m.error LIKE :mark AND NOT EXISTS "
    "(SELECT 1 FROM bounce_events AS b WHERE b.key = 'rcpt:' || m.message_id) ORDER BY m.created, m.id")


@dataclass(frozen=True, slots=True)
class BounceEvent:
    key: str
    email: str | None  # None: no reader matched
    day: date
    kind: str  # hard, soft, policy, delayed, complaint, unsubscribe, unmatched
    detail: str


@dataclass(frozen=True, slots=True)
class Rule:
    threshold: float = 5.0
    stale_days: int = 7


@dataclass(frozen=True, slots=True)
class Suppression:
    email: str
    reason: str
    at: str

    def since(self) -> date:
        """The day it began, or a ``StoreError`` naming the reader and the first value that is not of its kind
        (edited by hand, damaged): ``digest status`` shows that in one line and goes on."""
        if not isinstance(self.email, str):
            raise StoreError(f"the address of a suppression is not text ({shown(self.email)})")
        if not isinstance(self.reason, str):
            raise StoreError(f"the reason {self.email} was suppressed is not text ({shown(self.reason)})")
        return instant(self.at, f"the day {self.email} was suppressed").date()

    def kind(self) -> str:
        """Why, in a word (``complaint``, ``hard``), as a send's summary names it; a reason that is not text
        (edited by hand, damaged) still suppresses, named as such, so one bad row never stops the send."""
        return self.reason.split(":")[0] if isinstance(self.reason, str) else "reason unreadable"


def next_score(score: float, last: date | None, weight: float, day: date, stale_days: int) -> tuple[float, bool]:
    """(the new score, whether this bounce counted): once a day, never backwards, reset when stale."""
    if last is not None and day <= last:
        return score, False
    if last is None or day - last > timedelta(days=stale_days):
        score = 0.0
    return score + weight, True


class Bounces(Connection):
    def record_bounce(self, event: BounceEvent, rule: Rule) -> str:
        """Record one event once; returns what it did: duplicate, recorded, counted, suppressed."""
        with self.transaction():
            cursor = self.db.execute(
                "INSERT OR IGNORE INTO bounce_events (key, email, day, kind, detail) VALUES (:k, :e, :d, :kind, :detail)",
                {"k": event.key, "e": event.email, "d": event.day.isoformat(), "kind": event.kind,
                 "detail": event.detail[:500]})
            if cursor.rowcount == 0:
                return "duplicate"
            if event.email is None:
                return "recorded"
            if event.kind in SUPPRESS_AT_ONCE:
                return self._suppress(event.email, f"{event.kind}: {event.detail}, on {event.day}")
            if event.kind not in WEIGHTS:
                return "recorded"
            return self._score(event, rule)

    def _score(self, event: BounceEvent, rule: Rule) -> str:
        assert event.email is not None
        row = self.db.execute("SELECT score, last_day FROM bounce_scores WHERE email = :e", {"e": event.email}).fetchone()
        score, last = (row[0], date.fromisoformat(row[1])) if row else (0.0, None)
        score, counted = next_score(score, last, WEIGHTS[event.kind], event.day, rule.stale_days)
        if not counted:
            return "recorded"
        self.db.execute("UPDATE bounce_events SET counted = :w WHERE key = :k", {"w": WEIGHTS[event.kind], "k": event.key})
        self.db.execute("INSERT INTO bounce_scores (email, score, last_day) VALUES (:e, :s, :d) "
                        "ON CONFLICT (email) DO UPDATE SET score = excluded.score, last_day = excluded.last_day",
                        {"e": event.email, "s": score, "d": event.day.isoformat()})
        if score >= rule.threshold:
            return self._suppress(event.email, f"bounces: score {score:g} of {rule.threshold:g}, "
                                               f"last on {event.day}: {event.detail}")
        return "counted"

    def _suppress(self, email: str, reason: str) -> str:
        """Inside a transaction: the first reason stays (the one that suppressed the reader)."""
        cursor = self.db.execute("INSERT OR IGNORE INTO suppressions (email, reason, at) VALUES (:e, :r, :at)",
                                 {"e": email, "r": reason[:300], "at": utcnow()})
        return "suppressed" if cursor.rowcount else "recorded"

    def suppressions(self) -> dict[str, Suppression]:
        rows = self.db.execute("SELECT email, reason, at FROM suppressions")
        return {row[0]: Suppression(*row) for row in rows}

    def suppression(self, email: str) -> Suppression | None:
        row = self.db.execute("SELECT email, reason, at FROM suppressions WHERE email = :e",
                              {"e": email.lower()}).fetchone()
        return Suppression(*row) if row else None

    def lift_suppression(self, email: str) -> Suppression | None:
        """Lift the suppression and start the score again; returns what was lifted (None: nothing)."""
        with self.transaction():
            found = self.suppression(email)
            self.db.execute("DELETE FROM suppressions WHERE email = :e", {"e": email.lower()})
            self.db.execute("DELETE FROM bounce_scores WHERE email = :e", {"e": email.lower()})
        return found

    def forget_bounces(self, email: str, hashed: str | None = None, reason: str = "") -> None:
        """Drop what bounces left about a reader being removed; ``hashed``: keep their suppression (or their
        unsubscribe) as this keyed hash of the address, with a reason that names no one."""
        e = {"e": email.lower()}
        with self.transaction():
            if hashed is not None:
                self.db.execute("INSERT OR IGNORE INTO forgotten (hash, reason, at) VALUES (:h, :r, :at)",
                                {"h": hashed, "r": reason[:100], "at": utcnow()})
            for table in ("suppressions", "bounce_scores", "bounce_events"):
                self.db.execute(f"DELETE FROM {table} WHERE email = :e", e)

    def forgotten(self) -> dict[str, str]:
        """The suppressions of removed readers: keyed hash of the address -> reason."""
        return {row[0]: row[1] for row in self.db.execute("SELECT hash, reason FROM forgotten")}

    def lift_forgotten(self, hashes: Iterable[str]) -> int:
        """``digest readers resume`` of a removed reader: their hashed suppression goes."""
        with self.transaction():
            return sum(self.db.execute("DELETE FROM forgotten WHERE hash = :h", {"h": h}).rowcount for h in hashes)

    def bounce_summary(self, email: str, recent: int = 10) -> dict[str, Any]:
        """For ``digest readers show``: the score, the suppression and the latest events."""
        e = {"e": email.lower(), "n": recent}
        score = self.db.execute("SELECT score, last_day FROM bounce_scores WHERE email = :e", e).fetchone()
        events = self.db.execute("SELECT day, kind, counted, detail FROM bounce_events WHERE email = :e "
                                 "ORDER BY id DESC LIMIT :n", e)
        found = self.suppression(email)
        return {
            "suppressed": {"reason": found.reason, "at": found.at} if found else None,
            "bounce_score": score[0] if score else 0.0,
            "last_bounce": score[1] if score else None,
            "bounces": [dict(zip(("day", "kind", "counted", "detail"), row)) for row in events],
        }

    def refusals_not_scored(self) -> list[tuple[str, str, int, str, str]]:
        """(Message-ID, address, time, reply, where: RCPT or DATA) of the messages whose address the server
        refused during a send, not yet scored."""
        rows = self.db.execute(REFUSALS_NOT_SCORED, {"mark": REFUSED_AT})
        out = []
        for r in rows:
            for mark, where in ((RCPT_MARK, "RCPT"), (DATA_MARK, "DATA")):
                if r[3].endswith(mark):
                    out.append((r[0], r[1], r[2], r[3].removesuffix(mark), where))
        return out

    def reader_by_message_id(self, message_ids: list[str]) -> str | None:
        """The reader a kept message was sent to, by its Message-ID (with or without <>)."""
        for mid in message_ids:
            bare = mid.strip().strip("<>")
            row = self.db.execute("SELECT a.email FROM messages AS m JOIN addresses AS a ON a.id = m.reader "
                                  "WHERE m.message_id IN (:a, :b)", {"a": f"<{bare}>", "b": bare}).fetchone()
            if row:
                return str(row[0])
        return None
