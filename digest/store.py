"""The state store: which papers each reader was sent, in which message, and runs.

Plain sqlite3, WAL, schema versioned with ``PRAGMA user_version`` and migrated on
open. A paper is recorded as sent only after the SMTP server accepted the message.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .errors import StoreError
from .model import Paper

MIGRATIONS = [
    """
    CREATE TABLE papers (id TEXT PRIMARY KEY, title TEXT NOT NULL, first_seen TEXT NOT NULL);
    CREATE TABLE messages (
        message_id TEXT PRIMARY KEY, email TEXT NOT NULL, created TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('sent', 'failed')), error TEXT, papers INTEGER NOT NULL
    );
    CREATE TABLE sent (
        email TEXT NOT NULL, paper_id TEXT NOT NULL, message_id TEXT NOT NULL REFERENCES messages,
        sent_at TEXT NOT NULL, PRIMARY KEY (email, paper_id)
    );
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY, started TEXT NOT NULL, finished TEXT, run_date TEXT NOT NULL,
        sent INTEGER NOT NULL DEFAULT 0, nothing_new INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0, note TEXT
    );
    """,
    """
    ALTER TABLE runs ADD COLUMN slot TEXT;
    ALTER TABLE runs ADD COLUMN error TEXT;
    CREATE INDEX runs_by_slot ON runs (slot);
    CREATE INDEX messages_by_email ON messages (email, created);
    """,
]


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class Run:
    id: int
    started: str
    finished: str | None
    run_date: str
    sent: int
    nothing_new: int
    failed: int
    note: str | None
    slot: str | None = None
    error: str | None = None


class Store:
    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self.db = connection
        self.path = path

    @classmethod
    def open(cls, path: Path) -> "Store":
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            store = cls(db, path)
            store._migrate()
            return store
        except sqlite3.DatabaseError as err:
            raise StoreError(f"{path}: cannot open the state database ({err}); check DIGEST_STATE_DB") from err
        except OSError as err:
            raise StoreError(f"{path}: cannot create the state database ({err.strerror}); check DIGEST_STATE_DB") from err

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StoreError(f"{self.path} was written by a newer digest (schema {version}); upgrade digest")
        for number, script in enumerate(MIGRATIONS[version:], version + 1):
            with self.transaction():
                for statement in filter(str.strip, script.split(";")):
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {number}")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- papers and sends -------------------------------------------------------

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

    # --- runs ------------------------------------------------------------------------

    def start_run(self, run_date: str, slot: str | None = None) -> int:
        """``slot`` names the scheduled time a daemon run serves (see ``slot_done``)."""
        with self.transaction():
            cursor = self.db.execute(
                "INSERT INTO runs (started, run_date, slot) VALUES (:now, :day, :slot)",
                {"now": utcnow(), "day": run_date, "slot": slot},
            )
        return int(cursor.lastrowid or 0)

    def slot_done(self, slot: str) -> bool:
        """Whether a run for this scheduled slot finished: the daemon never serves a slot twice."""
        row = self.db.execute(
            "SELECT 1 FROM runs WHERE slot = :slot AND finished IS NOT NULL AND error IS NULL LIMIT 1",
            {"slot": slot},
        ).fetchone()
        return row is not None

    def readers_sent_since(self, since: datetime) -> set[str]:
        """Readers whose digest the server accepted at or after ``since``."""
        rows = self.db.execute(
            "SELECT DISTINCT email FROM messages WHERE status = 'sent' AND created >= :since",
            {"since": since.astimezone(timezone.utc).isoformat(timespec="seconds")},
        )
        return {row[0] for row in rows}

    def finish_run(self, run_id: int, sent: int, nothing_new: int, failed: int, note: str = "",
                   error: str | None = None) -> None:
        """``error``: the run stopped early (SMTP down, ...); its slot stays open for a retry."""
        with self.transaction():
            self.db.execute(
                "UPDATE runs SET finished = :now, sent = :sent, nothing_new = :nn, failed = :failed, note = :note, "
                "error = :error WHERE id = :id",
                {"now": utcnow(), "sent": sent, "nn": nothing_new, "failed": failed, "note": note,
                 "error": error, "id": run_id},
            )

    def last_runs(self, limit: int = 10) -> list[Run]:
        rows = self.db.execute(
            "SELECT id, started, finished, run_date, sent, nothing_new, failed, note, slot, error FROM runs "
            "ORDER BY id DESC LIMIT :limit", {"limit": limit},
        )
        return [Run(*row) for row in rows]

    def last_finished_run_date(self) -> str | None:
        row = self.db.execute("SELECT max(run_date) FROM runs WHERE finished IS NOT NULL").fetchone()
        return row[0] if row else None

    def counts(self) -> dict[str, int]:
        one = lambda sql: int(self.db.execute(sql).fetchone()[0])  # noqa: E731
        return {
            "papers": one("SELECT count(*) FROM papers"),
            "messages": one("SELECT count(*) FROM messages WHERE status = 'sent'"),
            "readers": one("SELECT count(DISTINCT email) FROM sent"),
        }
