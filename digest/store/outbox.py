"""The web app's outbox: mails that wait for the SMTP relay, and sign-ups held as first typed.

A sign-up's confirmation is queued here in the request's thread and sent by the
serving process in the background (``digest.web.outbox``): the page never waits on
SMTP, and a mail the relay could not take is tried again, with a growing delay,
until it is accepted or too old to matter. A mail is claimed with a lease before it
is sent, so two serving processes never send the same row at once.

A sign-up's keywords are held (``signup_holds``) until it is confirmed or expires: a
second form for the same address changes nothing, and a re-subscription after an
unsubscribe takes the keywords typed, not the old ones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .schema import Connection

HOLD_SECONDS = 48 * 3600  # a confirmation link's life, as pending sign-ups expire


@dataclass(frozen=True, slots=True)
class QueuedMail:
    id: int
    recipient: str
    message: bytes
    created: float
    attempts: int


class Outbox(Connection):
    def queue_mail(self, recipient: str, message: bytes, now: float) -> int:
        with self.transaction():
            cursor = self.db.execute(
                "INSERT INTO outbox (recipient, message, created, next_try) VALUES (:r, :m, :now, :now)",
                {"r": recipient, "m": message, "now": now})
        return int(cursor.lastrowid or 0)

    def take_mail(self, now: float, lease: float, limit: int = 20) -> list[QueuedMail]:
        """The mails due now, claimed for ``lease`` seconds (a process that dies mid-send lets them go again)."""
        with self.transaction():
            rows = self.db.execute(
                "SELECT id, recipient, message, created, attempts FROM outbox WHERE next_try <= :now "
                "ORDER BY next_try, id LIMIT :n", {"now": now, "n": limit}).fetchall()
            self.db.executemany("UPDATE outbox SET next_try = :t WHERE id = :id",
                                [{"t": now + lease, "id": row[0]} for row in rows])
        return [QueuedMail(row[0], row[1], bytes(row[2]), row[3], row[4]) for row in rows]

    def mail_done(self, mail_id: int) -> None:
        """Accepted by the relay (or refused for good): gone from the queue."""
        with self.transaction():
            self.db.execute("DELETE FROM outbox WHERE id = :id", {"id": mail_id})

    def release_mail(self, mail_ids: list[int], now: float) -> None:
        """Claimed but not sent (the process is stopping): due again at once, not when the lease lapses."""
        with self.transaction():
            self.db.executemany("UPDATE outbox SET next_try = :now WHERE id = :id",
                                [{"now": now, "id": mail_id} for mail_id in mail_ids])

    def mail_later(self, mail_id: int, error: str, next_try: float) -> None:
        with self.transaction():
            self.db.execute("UPDATE outbox SET attempts = attempts + 1, next_try = :t, last_error = :e WHERE id = :id",
                            {"t": next_try, "e": error[:500], "id": mail_id})

    def queued_mail(self) -> list[tuple[str, int, str | None]]:
        """(recipient, attempts, last error) of every mail waiting: for ``digest status`` and the tests."""
        rows = self.db.execute("SELECT recipient, attempts, last_error FROM outbox ORDER BY id")
        return [(r[0], r[1], r[2]) for r in rows]

    # sign-ups held as typed ------------------------------------------------------------

    def hold_signup(self, email: str, keywords: list[str], now: float) -> list[str]:
        """Hold these keywords for ``email`` unless a fresh hold exists; returns the keywords held."""
        with self.transaction():
            self.db.execute("DELETE FROM signup_holds WHERE created < :old", {"old": now - HOLD_SECONDS})
            self.db.execute("INSERT OR IGNORE INTO signup_holds (email, keywords, created) VALUES (:e, :k, :now)",
                            {"e": email.lower(), "k": json.dumps(keywords), "now": now})
            return self._held(email) or keywords

    def held_signup(self, email: str, now: float) -> list[str] | None:
        row = self.db.execute("SELECT keywords FROM signup_holds WHERE email = :e AND created >= :old",
                              {"e": email.lower(), "old": now - HOLD_SECONDS}).fetchone()
        return list(json.loads(row[0])) if row else None

    def _held(self, email: str) -> list[str] | None:
        row = self.db.execute("SELECT keywords FROM signup_holds WHERE email = :e", {"e": email.lower()}).fetchone()
        return list(json.loads(row[0])) if row else None

    def release_signup(self, email: str) -> None:
        with self.transaction():
            self.db.execute("DELETE FROM signup_holds WHERE email = :e", {"e": email.lower()})
