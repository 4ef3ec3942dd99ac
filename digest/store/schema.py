"""The state database's schema, its migrations, and the connection they run on.

Plain sqlite3, WAL, named parameters, schema versioned with ``PRAGMA user_version``
and migrated on open. Each table group (deliveries, runs, readers, ...) is a small
mixin in its own module; ``digest.store.Store`` puts them together.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from ..errors import StoreError

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
    # readers: web preferences, suppressions, sign-ups, votes, the archive, rate-limit counters
    """
    CREATE TABLE readers (
        email TEXT PRIMARY KEY, rid TEXT UNIQUE,
        status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'unsubscribed', 'pending')),
        origin TEXT NOT NULL DEFAULT 'roster' CHECK (origin IN ('roster', 'web')),
        keywords TEXT, max_items INTEGER, frequency TEXT NOT NULL DEFAULT 'run',
        created TEXT NOT NULL, updated TEXT NOT NULL
    );
    CREATE TABLE reader_changes (id INTEGER PRIMARY KEY, email TEXT NOT NULL, at TEXT NOT NULL, change TEXT NOT NULL);
    CREATE INDEX reader_changes_by_email ON reader_changes (email);
    CREATE TABLE votes (
        email TEXT NOT NULL, paper_id TEXT NOT NULL, title TEXT NOT NULL, abstract TEXT NOT NULL,
        vote INTEGER NOT NULL CHECK (vote IN (-1, 1)), at TEXT NOT NULL, PRIMARY KEY (email, paper_id)
    );
    CREATE TABLE archive (
        email TEXT NOT NULL, message_id TEXT NOT NULL, day TEXT NOT NULL, html TEXT NOT NULL,
        created TEXT NOT NULL, PRIMARY KEY (email, message_id)
    );
    CREATE INDEX archive_by_email ON archive (email, day);
    CREATE INDEX archive_by_day ON archive (day);
    CREATE TABLE counters (key TEXT NOT NULL, period TEXT NOT NULL, hits INTEGER NOT NULL, PRIMARY KEY (key, period));
    """,
]


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Connection:
    """The open database: migrations, transactions, closing. Table mixins build on it."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self.db = connection
        self.path = path

    @classmethod
    def connect(cls, path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(path, timeout=30, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        return db

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
