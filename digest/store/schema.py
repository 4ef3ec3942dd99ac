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
    # The compact ledger (issue #13): addresses and paper ids stored once, integer keys,
    # the never-twice record as (paper, reader) pairs in a WITHOUT ROWID table keyed by
    # paper (a send asks about today's papers only), Message-ID and time once per
    # message, times as Unix seconds, and a status column open to more states.
    # Every recorded delivery is carried over.
    """
    CREATE TABLE addresses (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE);
    INSERT INTO addresses (email) SELECT email FROM messages UNION SELECT email FROM sent;
    CREATE TABLE papers_v3 (
        key INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, title TEXT NOT NULL DEFAULT '',
        first_seen TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now'))
    );
    INSERT INTO papers_v3 (id, title, first_seen) SELECT id, title, first_seen FROM papers ORDER BY first_seen, id;
    INSERT OR IGNORE INTO papers_v3 (id, first_seen) SELECT paper_id, min(sent_at) FROM sent GROUP BY paper_id;
    CREATE TABLE messages_v3 (
        id INTEGER PRIMARY KEY, reader INTEGER NOT NULL REFERENCES addresses, created INTEGER NOT NULL,
        status TEXT NOT NULL, error TEXT, papers INTEGER NOT NULL, message_id TEXT NOT NULL UNIQUE
    );
    INSERT INTO messages_v3 (reader, created, status, error, papers, message_id)
        SELECT a.id, coalesce(CAST(strftime('%s', m.created) AS INTEGER), 0), m.status, m.error, m.papers, m.message_id
        FROM messages AS m JOIN addresses AS a ON a.email = m.email ORDER BY m.created, m.rowid;
    CREATE TABLE sent_v3 (paper INTEGER NOT NULL, reader INTEGER NOT NULL, PRIMARY KEY (paper, reader)) WITHOUT ROWID;
    INSERT INTO sent_v3 (paper, reader)
        SELECT p.key, a.id FROM sent AS s JOIN papers_v3 AS p ON p.id = s.paper_id JOIN addresses AS a ON a.email = s.email
        ORDER BY 1, 2;
    DROP TABLE sent;
    DROP TABLE messages;
    DROP TABLE papers;
    ALTER TABLE papers_v3 RENAME TO papers;
    ALTER TABLE messages_v3 RENAME TO messages;
    ALTER TABLE sent_v3 RENAME TO sent;
    CREATE INDEX messages_by_reader ON messages (reader, created);
    CREATE INDEX messages_by_created ON messages (created);
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
        for number, script in enumerate(MIGRATIONS, 1):
            if self._version() >= number:
                continue
            with self.transaction():
                if self._version() >= number:  # another process (a shard) migrated it meanwhile
                    continue
                for statement in filter(str.strip, script.split(";")):
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {number}")
        if self._version() > len(MIGRATIONS):
            raise StoreError(f"{self.path} was written by a newer digest (schema {self._version()}); upgrade digest")

    def _version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

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
