"""Uncertain deliveries: the whole message went out but the server's reply was lost.

The server may have queued it or not; only the reader knows. Such a delivery
is not recorded as sent: the next run sends that reader's digest once more
(at most one extra copy a day), and a reader with two uncertain deliveries in a
day is left alone until tomorrow, when the papers come again as unsent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timezone

from ..errors import StoreError
from .runs import instant, shown
from .schema import Connection


def checked_uncertain(email: object, created: object, error: object) -> tuple[str, datetime, str]:
    """One row of ``open_uncertain`` with its time read, or a ``StoreError`` naming the first value that is not of
    its kind (edited by hand, damaged): ``digest status`` shows that in one line and goes on."""
    if not isinstance(email, str):
        raise StoreError(f"the address of an uncertain delivery is not text ({shown(email)})")
    when = instant(created, f"the time of {email}'s uncertain delivery")
    if not isinstance(error, str):
        raise StoreError(f"the error of {email}'s uncertain delivery is not text ({shown(error)})")
    return email, when, error


class Uncertain(Connection):
    def record_uncertain(self, deliveries: Iterable[tuple[str, str, list[str], str]],
                         at: datetime | None = None) -> None:
        """(email, Message-ID, paper ids, what happened) of messages with a lost reply; ``at``: when (default
        now on the store's clock, the send's, as for a delivery: "today's lost replies" are asked on it)."""
        now = self._when(at)
        rows = [{"mid": mid, "email": email.lower(), "now": now, "papers": json.dumps(ids), "error": error}
                for email, mid, ids, error in deliveries]
        if not rows:
            return
        with self.transaction():
            self.db.executemany(
                "INSERT OR IGNORE INTO uncertain (message_id, email, created, papers, error) "
                "VALUES (:mid, :email, :now, :papers, :error)", rows)

    def resolve_uncertain(self, emails: Iterable[str]) -> None:
        """A later digest to these readers was accepted: their uncertain deliveries are settled."""
        rows = [{"email": email.lower(), "now": self._when(None)} for email in emails]
        if not rows:
            return
        with self.transaction():
            self.db.executemany(
                "UPDATE uncertain SET resolved = :now WHERE email = :email AND resolved IS NULL", rows)

    def _when(self, at: datetime | None) -> str:
        moment = at if at is not None else datetime.fromtimestamp(self.clock(), timezone.utc)
        return moment.astimezone(timezone.utc).isoformat(timespec="seconds")

    def uncertain_since(self, since: datetime) -> dict[str, int]:
        """How many uncertain deliveries each reader had at or after ``since``."""
        rows = self.db.execute(
            "SELECT email, count(*) FROM uncertain WHERE created >= :since GROUP BY email",
            {"since": since.astimezone(timezone.utc).isoformat(timespec="seconds")},
        )
        return {email: int(count) for email, count in rows}

    def open_uncertain(self) -> list[tuple[str, str, str]]:
        """(email, when, what happened) of uncertain deliveries no later digest has settled."""
        rows = self.db.execute(
            "SELECT email, created, error FROM uncertain WHERE resolved IS NULL ORDER BY created")
        return [(row[0], row[1], row[2]) for row in rows]
