"""Deliveries: the papers seen, the messages the server answered, and who got which paper.

A paper is recorded as sent only after the SMTP server accepted the message.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone

from ..model import Paper
from .schema import Connection, utcnow


class Deliveries(Connection):
    def record_seen(self, papers: Iterable[Paper]) -> None:
        now = utcnow()
        with self.transaction():
            self.db.executemany(
                "INSERT OR IGNORE INTO papers (id, title, first_seen) VALUES (:id, :title, :now)",
                [{"id": p.id, "title": p.title, "now": now} for p in papers],
            )

    def sent_ids(self, email: str) -> set[str]:
        rows = self.db.execute("SELECT paper_id FROM sent WHERE email = :email", {"email": email.lower()})
        return {r[0] for r in rows}

    def all_sent_ids(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for email, paper_id in self.db.execute("SELECT email, paper_id FROM sent"):
            out.setdefault(email, set()).add(paper_id)
        return out

    def record_sent(self, email: str, message_id: str, paper_ids: Iterable[str]) -> None:
        """Called only after the server accepted the message: one transaction."""
        self.record_deliveries([(email, message_id, list(paper_ids), None)])

    def record_failed(self, email: str, message_id: str, error: str, papers: int) -> None:
        self.record_deliveries([(email, message_id, ["?"] * papers, error)])

    def record_deliveries(self, deliveries: Iterable[tuple[str, str, list[str], str | None]]) -> None:
        """(email, Message-ID, paper ids, error or None) of messages the server has answered.

        One transaction for the lot: a batch commits as soon as the replies are in.
        """
        now = utcnow()
        messages, sent = [], []
        for email, message_id, paper_ids, error in deliveries:
            status = "failed" if error else "sent"
            messages.append({"mid": message_id, "email": email.lower(), "now": now, "status": status,
                             "error": error, "n": len(paper_ids)})
            if not error:
                sent.extend({"email": email.lower(), "pid": pid, "mid": message_id, "now": now} for pid in paper_ids)
        if not messages:
            return
        with self.transaction():
            self.db.executemany(
                "INSERT OR REPLACE INTO messages (message_id, email, created, status, error, papers) "
                "VALUES (:mid, :email, :now, :status, :error, :n)",
                messages,
            )
            self.db.executemany(
                "INSERT OR REPLACE INTO sent (email, paper_id, message_id, sent_at) VALUES (:email, :pid, :mid, :now)",
                sent,
            )

    def message_status(self, email: str) -> list[tuple[str, str]]:
        rows = self.db.execute(
            "SELECT message_id, status FROM messages WHERE email = :email ORDER BY created", {"email": email.lower()}
        )
        return [(r[0], r[1]) for r in rows]

    def readers_sent_since(self, since: datetime) -> set[str]:
        """Readers whose digest the server accepted at or after ``since``."""
        rows = self.db.execute(
            "SELECT DISTINCT email FROM messages WHERE status = 'sent' AND created >= :since",
            {"since": since.astimezone(timezone.utc).isoformat(timespec="seconds")},
        )
        return {row[0] for row in rows}
