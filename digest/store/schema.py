"""The state database's schema, its migrations, and the connection they run on.

Plain sqlite3, WAL, named parameters, schema versioned with ``PRAGMA user_version``
and migrated on open. Each table group (deliveries, runs, readers, ...) is a small
mixin in its own module; ``digest.store.Store`` puts them together.

Every ``sqlite3.Error``, psycopg error and ``OSError`` from the database, on a
read or in a transaction, becomes one ``StoreError`` naming the file (or the
URL, without its password) and the fix (``store_error``): the table mixins never
translate errors themselves. The same migrations run on PostgreSQL, translated
statement by statement (``engine``, ``postgres``, ``dialect``).
"""

from __future__ import annotations

import errno
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union
from urllib.parse import unquote, urlsplit

from ..errors import StoreError, file_in_the_way
from .dialect import Retype, migration_steps
from .engine import DatabaseURL, is_database_error

if TYPE_CHECKING:
    from .postgres import PgDatabase

BUSY_SECONDS = 30  # how long a write waits for another program's lock on the database

MIGRATIONS: list[str | Retype] = [
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
    # deliveries whose fate is unknown: the whole message went out, the server's reply was lost
    """
    CREATE TABLE uncertain (
        message_id TEXT PRIMARY KEY, email TEXT NOT NULL, created TEXT NOT NULL,
        papers TEXT NOT NULL, error TEXT NOT NULL, resolved TEXT
    );
    CREATE INDEX uncertain_by_email ON uncertain (email, created);
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
    # the text of recently listed papers: a vote from an email link keeps the abstract, a library id finds its text
    """
    CREATE TABLE paper_texts (id TEXT PRIMARY KEY, title TEXT NOT NULL, abstract TEXT NOT NULL, seen TEXT NOT NULL);
    CREATE INDEX paper_texts_by_seen ON paper_texts (seen);
    """,
    # embeddings for matching by meaning (DIGEST_SEMANTIC): each paper (or keyword) embedded once per model
    """
    CREATE TABLE embeddings (
        key TEXT NOT NULL, model TEXT NOT NULL, vector BLOB NOT NULL, used TEXT NOT NULL,
        PRIMARY KEY (key, model)
    ) WITHOUT ROWID;
    CREATE INDEX embeddings_by_used ON embeddings (used);
    """,
    # runs, told truthfully in digest status: who started each (scheduled, daemon, one-off), the
    # readers who already had the day's digest apart from "nothing new", deferred apart from
    # failed, and how many readers a stop signal left for the next run
    """
    ALTER TABLE runs ADD COLUMN started_by TEXT;
    ALTER TABLE runs ADD COLUMN already INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE runs ADD COLUMN deferred INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE runs ADD COLUMN left_over INTEGER NOT NULL DEFAULT 0;
    """,
    # catch-up (issue #17): every listing's papers as they arrived, and per reader when their last
    # digest was accepted and when a send first found them due; the last digest is carried over
    # from the kept messages. Runs keep the readers who had a problem of their own (by address).
    """
    CREATE TABLE listed (id TEXT PRIMARY KEY, arrived INTEGER NOT NULL, paper BLOB NOT NULL);
    CREATE INDEX listed_by_arrived ON listed (arrived);
    CREATE TABLE reader_marks (reader INTEGER PRIMARY KEY, last_digest INTEGER, first_due INTEGER);
    INSERT INTO reader_marks (reader, last_digest)
        SELECT reader, max(created) FROM messages WHERE status = 'sent' GROUP BY reader;
    ALTER TABLE runs ADD COLUMN problems TEXT;
    """,
    # which process runs each send (host and pid): digest status tells a run that died from one still running
    """
    ALTER TABLE runs ADD COLUMN host TEXT;
    ALTER TABLE runs ADD COLUMN pid INTEGER;
    """,
    # bounces and complaints (issue #20): every bounce, complaint or reply read once (by a key:
    # the mailbox message's digest, or the refused message's Message-ID), each reader's bounce
    # score Mailman's way, and the readers suppressed, with why, until `digest readers resume`
    """
    CREATE TABLE bounce_events (
        id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, email TEXT, day TEXT NOT NULL, kind TEXT NOT NULL,
        detail TEXT NOT NULL, counted REAL NOT NULL DEFAULT 0
    );
    CREATE INDEX bounce_events_by_email ON bounce_events (email, day);
    CREATE TABLE bounce_scores (email TEXT PRIMARY KEY, score REAL NOT NULL, last_day TEXT NOT NULL);
    CREATE TABLE suppressions (email TEXT PRIMARY KEY, reason TEXT NOT NULL, at TEXT NOT NULL);
    """,
    # the archive as records (issue #19): what a digest's page is re-rendered from, a few hundred bytes,
    # with papers, profiles and editions stored once; the HTML rows of before are read until they expire
    """
    CREATE TABLE archive_papers (id INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE, paper BLOB NOT NULL,
                                 last INTEGER NOT NULL);
    CREATE TABLE archive_profiles (id INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE, value TEXT NOT NULL,
                                   last INTEGER NOT NULL);
    CREATE TABLE archive_editions (id INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE, value TEXT NOT NULL,
                                   last INTEGER NOT NULL);
    CREATE TABLE archive_records (
        day INTEGER NOT NULL, reader INTEGER NOT NULL, edition INTEGER NOT NULL, profile INTEGER NOT NULL,
        message_id TEXT NOT NULL, record BLOB NOT NULL, PRIMARY KEY (day, reader)
    ) WITHOUT ROWID;
    """,
    # LLM summaries (issue #21): one per paper, abstract, model, language and prompt version, kept
    # until no run has used it for a while (digest.summaries)
    """
    CREATE TABLE llm_summaries (
        paper_id TEXT NOT NULL, abstract_hash TEXT NOT NULL, model TEXT NOT NULL, language TEXT NOT NULL,
        prompt_version TEXT NOT NULL, summary TEXT NOT NULL, used TEXT NOT NULL,
        PRIMARY KEY (paper_id, abstract_hash, model, language, prompt_version)
    ) WITHOUT ROWID;
    CREATE INDEX llm_summaries_by_used ON llm_summaries (used);
    """,
    # limits that hold across processes (issue #20): one row per bucket (the SMTP rate, a host's request
    # spacing), the time of its next free turn; and the suppressions of readers since removed, kept only
    # as a keyed hash of the address, so a removed reader still in the subscribers file is not mailed again
    """
    CREATE TABLE buckets (name TEXT PRIMARY KEY, next_at REAL NOT NULL);
    CREATE TABLE forgotten (hash TEXT PRIMARY KEY, reason TEXT NOT NULL, at TEXT NOT NULL);
    """,
    # the web app's outbox (issue #20): confirmation mails wait here for the relay (times in epoch
    # seconds), sent in the background with retries; a sign-up's keywords held as typed until confirmed
    """
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY, recipient TEXT NOT NULL, message BLOB NOT NULL, created REAL NOT NULL,
        next_try REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT
    );
    CREATE INDEX outbox_by_next_try ON outbox (next_try);
    CREATE TABLE signup_holds (email TEXT PRIMARY KEY, keywords TEXT NOT NULL, created REAL NOT NULL);
    """,
    # followed authors and labs (issue #21): a reader's own, from the preferences page, as JSON lists
    # (NULL until they edit them: the subscribers file's are used)
    """
    ALTER TABLE readers ADD COLUMN authors TEXT;
    ALTER TABLE readers ADD COLUMN orgs TEXT;
    """,
    # reading lists (issue #21): the papers each reader saved from a digest, by the archive's copy of the paper
    # (archive_papers, never pruned while a list holds it), saved_at in epoch seconds
    """
    CREATE TABLE reading_list (
        reader INTEGER NOT NULL REFERENCES addresses, paper_id TEXT NOT NULL,
        paper INTEGER NOT NULL REFERENCES archive_papers, saved_at INTEGER NOT NULL,
        PRIMARY KEY (reader, paper_id)
    );
    CREATE INDEX reading_list_by_paper ON reading_list (paper);
    """,
    # sends that split a list on PostgreSQL (issue #22): one row per reader (lower-case address) for a send
    # to lock while it has that reader (SELECT ... FOR UPDATE SKIP LOCKED, digest.claims); unused on SQLite
    """
    CREATE TABLE claims (email TEXT PRIMARY KEY);
    """,
    # no silent empty digest (issue #18): per reader, the keywords that matched nothing at the last send
    # that ranked them, with what the papers say instead (JSON), for their preferences page
    """
    CREATE TABLE keyword_hints (email TEXT PRIMARY KEY, at REAL NOT NULL, hints TEXT NOT NULL);
    """,
    # the reader's own pages (issue #21): the language of their LLM summaries, chosen on the preferences
    # page (NULL: the roster's); each digest's whole ranked list beyond its picks, kept beside its record in
    # a rowid table, where a list of a few KB stays inside the b-tree's pages (archive_records is WITHOUT
    # ROWID: a row over ~1 KB there spills to an overflow page of its own, mostly empty)
    """
    ALTER TABLE readers ADD COLUMN language TEXT;
    CREATE TABLE archive_lists (day INTEGER NOT NULL, reader INTEGER NOT NULL, tail BLOB NOT NULL);
    CREATE UNIQUE INDEX archive_lists_by_digest ON archive_lists (day, reader);
    """,
    # times and days in their own types on PostgreSQL (issue #22): the ISO-text columns, read back as the
    # same text (digest.store.dialect); the epoch-second columns stay numbers (README, "Typed columns")
    Retype((
        ("papers", "first_seen", "timestamptz", "now()"), ("runs", "started", "timestamptz"),
        ("runs", "finished", "timestamptz"), ("runs", "run_date", "date"), ("readers", "created", "timestamptz"),
        ("readers", "updated", "timestamptz"), ("reader_changes", "at", "timestamptz"),
        ("votes", "at", "timestamptz"), ("archive", "day", "date"), ("archive", "created", "timestamptz"),
        ("uncertain", "created", "timestamptz"), ("uncertain", "resolved", "timestamptz"),
        ("paper_texts", "seen", "timestamptz"), ("embeddings", "used", "date"),
        ("bounce_events", "day", "date"), ("bounce_scores", "last_day", "date"),
        ("suppressions", "at", "timestamptz"), ("forgotten", "at", "timestamptz"),
        ("llm_summaries", "used", "date"),
    )),
    # the send's first step scores the refusals not yet scored (issue #19: a send that does not see its
    # history): the failed messages by time, so that it reads those, not every message kept
    """
    CREATE INDEX messages_failed ON messages (created) WHERE status = 'failed';
    """,
    # runs keep how many readers' replies were lost (uncertain): the daemon's retry of them outlives a restart
    """
    ALTER TABLE runs ADD COLUMN uncertain INTEGER NOT NULL DEFAULT 0;
    """,
    # runs keep the sources they read (a JSON list of digest.sources.source_names): the catch-up's look-back is each
    # source's own, so a one-off send of a file does not move the daemon's; NULL: a run from before, read as any
    """
    ALTER TABLE runs ADD COLUMN sources TEXT;
    """,
    # runs keep the sources of theirs that failed while others loaded (a JSON list of names, as sources; NULL: none
    # failed, or a run from before): digest status names them beside those the run read
    """
    ALTER TABLE runs ADD COLUMN failed_sources TEXT;
    """,
    # catch-up marks that sends side by side (and hosts whose clocks differ) cannot overtake: per reader, the
    # newest arrival stamp of listed that the plan of their last accepted digest saw (NULL: a digest recorded
    # before, whose catch-up still runs from last_digest); digest.store.listed
    """
    ALTER TABLE reader_marks ADD COLUMN seen_upto INTEGER;
    """,
]


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def store_error(path: Path, err: BaseException) -> StoreError:
    """One line naming the database, what is wrong with it and what to do."""
    if isinstance(err, StoreError):
        return err
    if isinstance(path, DatabaseURL):
        return _server_error(path, err)
    text = str(err).lower()
    code = getattr(err, "errno", None)
    if "locked" in text or "busy" in text:
        problem = f"is locked by another program for more than {BUSY_SECONDS} s; stop it, or wait, and run again"
    elif "full" in text or code in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        problem = "cannot be written: the disk is full; free some space and run again"
    elif "disk i/o error" in text:
        problem = "cannot be written (disk I/O error): the disk is full or failing; free some space or check it"
    elif "not a database" in text or "malformed" in text or "corrupt" in text:
        problem = (f"is damaged ({err}); restore it from a backup, or move it away to start a new history "
                   "(set DIGEST_STATE_DB)")
    elif "readonly" in text or "read-only" in text or code in (errno.EROFS, errno.EACCES, errno.EPERM):
        problem = (f"cannot be written ({_reason(err)}); make it and its folder writable, "
                   "or set DIGEST_STATE_DB to a writable place")
    elif file_in_the_way(path) is not None:
        problem = (f"cannot be created: {file_in_the_way(path)} is a file, not a folder; "
                   "set DIGEST_STATE_DB to a path in a folder")
    elif code in (errno.ENOTDIR, errno.EEXIST):
        problem = f"cannot be created ({_reason(err)}): a file is in the way of its folder; set DIGEST_STATE_DB"
    else:
        problem = f"cannot be used ({_reason(err)}); check DIGEST_STATE_DB"
    return StoreError(f"the state database {path} {problem}")


def _server_error(url: DatabaseURL, err: BaseException) -> StoreError:
    """PostgreSQL's errors, by SQLSTATE where it has one; the password never shows."""
    state = getattr(err, "sqlstate", None) or ""
    reason = _without_password(" ".join(_reason(err).replace(url.url, str(url)).split()), url.url)
    if state == "53100" or "no space left" in reason.lower():
        problem = "cannot be written: the server's disk is full; free some space there and run again"
    elif state == "57014":
        problem = f"did not answer in time ({reason}); check the server's load and its statement_timeout"
    elif state in ("28P01", "28000"):
        problem = f"refused the login ({reason}); check the user and password in DIGEST_STATE_DB"
    elif state.startswith("08") or state.startswith("57P") or not state:
        problem = f"cannot be reached ({reason}); check that the server is running and DIGEST_STATE_DB"
    elif state.startswith("40"):
        problem = f"gave up a transaction ({reason}); run again"
    else:
        problem = f"cannot be used ({reason}); check DIGEST_STATE_DB"
    transient = (state == "57014" or state.startswith(("08", "57P", "40"))
                 or (not state and "no space left" not in reason.lower()))
    return StoreError(f"the state database {url} {problem}", transient=transient)


def _without_password(reason: str, url: str) -> str:
    """``reason`` with the URL's password (as written or decoded) shown as ``***`` wherever it stands as a word.

    Only whole words: a short password such as ``p`` must not turn "port" into "***ort".
    """
    password = urlsplit(url).password or ""
    for form in {password, unquote(password)} - {""}:
        before = r"(?<!\w)" if re.match(r"\w", form[0]) else ""
        after = r"(?!\w)" if re.match(r"\w", form[-1]) else ""
        reason = re.sub(before + re.escape(form) + after, "***", reason)
    return reason


def _reason(err: BaseException) -> str:
    return getattr(err, "strerror", None) or str(err).strip() or type(err).__name__


@contextmanager
def guarded(path: Path) -> Iterator[None]:
    """Turn database and file-system errors inside the block into a ``StoreError``."""
    try:
        yield
    except Exception as err:
        if not is_database_error(err):
            raise
        raise store_error(path, err) from err


class _Cursor:
    """A cursor whose reads map errors like the connection does (a damaged page shows up late)."""

    def __init__(self, cursor: sqlite3.Cursor, path: Path) -> None:
        self._cursor, self._path = cursor, path

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    def fetchone(self) -> Any:
        with guarded(self._path):
            return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        with guarded(self._path):
            return self._cursor.fetchall()

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class _Database:
    """``sqlite3.Connection``'s execute calls, with errors mapped to ``StoreError``.

    The PostgreSQL wrapper (``digest.store.postgres.PgDatabase``) has the same calls.
    """

    dialect = "sqlite"

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self.raw, self._path = db, path

    def execute(self, sql: str, parameters: Any = ()) -> _Cursor:
        with guarded(self._path):
            return _Cursor(self.raw.execute(sql, parameters), self._path)

    def executemany(self, sql: str, rows: Any) -> _Cursor:
        with guarded(self._path):
            return _Cursor(self.raw.executemany(sql, rows), self._path)

    def begin(self) -> None:
        self.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.raw.execute("COMMIT")

    def rollback(self) -> None:
        self.raw.execute("ROLLBACK")

    def script(self, sql: str) -> None:
        """``executescript``: a pragma like ``incremental_vacuum`` takes every step, not one."""
        with guarded(self._path):
            self.raw.executescript(sql)

    def size_bytes(self) -> int:
        wal = self._path.with_name(self._path.name + "-wal")
        return self._path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)

    def compact(self) -> None:
        self.execute("PRAGMA auto_vacuum=INCREMENTAL")  # an old file takes it at the VACUUM
        self.execute("VACUUM")
        self.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def unhurried(self) -> AbstractContextManager[None]:
        return nullcontext()  # SQLite waits only for its busy timeout

    def close(self) -> None:
        self.raw.close()


Database = Union[_Database, "PgDatabase"]


def _use_wal(db: sqlite3.Connection) -> None:
    """WAL, once per database file (it persists).

    Switching a new file to WAL needs it to itself, and SQLite answers "locked" at
    once, without the busy wait, when another process (a second shard) opens the
    same new file at that moment: so wait and try again, as the busy timeout would.
    """
    deadline = time.monotonic() + BUSY_SECONDS
    while True:
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


class Connection:
    """The open database: migrations, transactions, closing. Table mixins build on it."""

    def __init__(self, connection: "sqlite3.Connection | Database", path: Path) -> None:
        self.db: Database = _Database(connection, path) if isinstance(connection, sqlite3.Connection) else connection
        self.path = path
        self.clock: Callable[[], float] = time.time  # when a delivery is recorded; a send sets its own clock

    @classmethod
    def connect(cls, path: Path) -> "sqlite3.Connection | Database":
        """A SQLite file (WAL) for a path; a PostgreSQL connection for a ``DatabaseURL``."""
        if isinstance(path, DatabaseURL):
            from .postgres import PgDatabase, connect

            return PgDatabase(connect(path, store=True), path)
        db = sqlite3.connect(path, timeout=BUSY_SECONDS, isolation_level=None)
        if db.execute("PRAGMA page_count").fetchone()[0] == 0:  # a new file, before WAL writes its header
            db.execute("PRAGMA auto_vacuum=INCREMENTAL")  # an old one switches at `digest store compact`
        _use_wal(db)
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        return db

    def _migrate(self) -> None:
        with self.db.unhurried():  # a migration rewriting a big table takes what it takes
            self._migrate_steps()

    def _migrate_steps(self) -> None:
        for number, script in enumerate(MIGRATIONS, 1):
            if self._version() >= number:
                continue
            with self.transaction():
                if self._version() >= number:  # another process (a shard) migrated it meanwhile
                    continue
                for statement in migration_steps(script, self.db.dialect):
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {number}")
        if self._version() > len(MIGRATIONS):
            raise StoreError(f"{self.path} was written by a newer digest (schema {self._version()}); upgrade digest")

    def _version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction; any failure inside it (disk full, damaged page) is a ``StoreError``."""
        self.db.begin()
        try:
            with guarded(self.path):
                yield
                self.db.commit()
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        """Roll back, if there is still a transaction (SQLite already did on a full disk; a PostgreSQL
        connection that dropped has none)."""
        try:
            self.db.rollback()
        except Exception as err:
            if not is_database_error(err):
                raise

    def close(self) -> None:
        self.db.close()
