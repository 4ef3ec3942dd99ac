"""The PostgreSQL side of the store's connection (psycopg 3, the ``postgres`` extra).

Same calls as the SQLite wrapper in ``schema``: each statement is translated
from the SQLite the mixins write (``dialect.translate``, cached), the
connection runs in autocommit and the store issues ``BEGIN``/``COMMIT`` itself,
as it does on SQLite. ``BEGIN IMMEDIATE`` becomes ``BEGIN`` plus a
transaction-level advisory lock on the whole store: write transactions take
turns, as SQLite's do, so a read-then-write inside one (a counter, a token
bucket, the migrations) sees no other writer between its read and its write,
across hosts. Reads outside a transaction never wait.

``PRAGMA user_version`` reads and writes the ``schema_version`` table; any other
``PRAGMA`` (WAL, vacuum steps, checkpoints: SQLite's own care) does nothing.

The session runs in UTC, and ``timestamptz`` and ``date`` values are read back as
the ISO text SQLite keeps (``2031-01-06T08:00:00+00:00``, ``2031-01-06``), so the
code above the store sees the same values from either engine (``dialect.Retype``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timezone
from functools import cache
from typing import Any

from .dialect import COMPAT_FUNCTIONS, translate
from .engine import DatabaseURL, lock_key
from .schema import guarded

WRITE_LOCK = lock_key("write")  # every write transaction of the store
CONNECT_SECONDS = 10
# TCP keepalives on the server's end of the socket (libpq's keepalives_* are the client's end only): a host
# that vanished mid-send holds its send locks and claims until the server notices, after the system's default
# of two hours and more without these; with them, within about a minute (30 s idle, then 3 probes 10 s apart)
KEEPALIVES = (("tcp_keepalives_idle", 30), ("tcp_keepalives_interval", 10), ("tcp_keepalives_count", 3))
# A statement the server has not answered after this long (or the session's statement_timeout and 10 s more,
# if longer) is given up and its connection closed: a stalled backend or a network partition (the server's
# kernel still acknowledging, or nothing in flight for keepalives to notice) held a send, its claims and the
# other hosts' write turns for ever. VACUUM FULL and the migrations wait as long as they take.
STALL_SECONDS = 60.0
# A store connection idle this long inside a transaction has its session ended by the server: its transactions
# are a few statements long, and one holds the write turn of every host; a host frozen in one (SIGSTOP, a paused
# VM, whose kernel still answers keepalives) held every other host's writes until it woke. The claiming
# connection's transaction lasts the whole send: its limit is the lease the send renews (digest.lease).
# A host frozen in the middle of a statement (a batch of inserts goes out as one pipeline: the server, having
# run part of it, waits for the rest, "active" and reading, which no idle timeout ends) is ended by the
# next writer once it has waited that long as well (_STUCK_WRITER).
IDLE_IN_WRITE_SECONDS = 20.0
_STUCK_WRITER = """
    SELECT pg_terminate_backend(a.pid) FROM pg_locks AS l JOIN pg_stat_activity AS a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted AND l.pid != pg_backend_pid()
    AND ((l.classid::bigint << 32) | l.objid::bigint) = (%s::bigint & x'ffffffffffffffff'::bigint)
    AND a.state = 'active' AND a.wait_event = 'ClientRead' AND a.query_start < now() - make_interval(secs => %s)
"""
RELEASE_SECONDS = 5.0  # the last word to a server (let_go): it lets go of a closed session's locks itself
_VERSION_SET = re.compile(r"^\s*PRAGMA\s+user_version\s*=\s*(\d+)\s*$", re.I)
_VERSION_GET = re.compile(r"^\s*PRAGMA\s+user_version\s*$", re.I)
_PRAGMA = re.compile(r"^\s*PRAGMA\b", re.I)
_BEGIN = re.compile(r"^\s*BEGIN(\s+(IMMEDIATE|EXCLUSIVE|DEFERRED))?\s*(TRANSACTION)?\s*$", re.I)
_UNIQUE_KEYS = """
    SELECT array_agg(a.attname::text ORDER BY k.ord)
    FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indrelid
    JOIN pg_namespace AS n ON n.oid = c.relnamespace AND n.nspname = current_schema()
    CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
    JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum = k.attnum
    WHERE c.relname = %s AND i.indisunique GROUP BY i.indexrelid, i.indisprimary ORDER BY i.indisprimary DESC
"""


def connect(url: DatabaseURL, application: str = "digest", *, store: bool = False) -> Any:
    """A psycopg connection in autocommit, the database made ready for the migrations; ``store``: the
    store's own, whose transactions are short (``IDLE_IN_WRITE_SECONDS``)."""
    try:
        import psycopg
    except ImportError:
        from ..errors import ConfigError

        raise ConfigError(f"DIGEST_STATE_DB is a PostgreSQL URL ({url}): install the postgres extra, "
                          "pip install 'digest[postgres]'") from None
    conn = _connection_class().connect(
        url.url, autocommit=True, connect_timeout=CONNECT_SECONDS, application_name=application,
        keepalives=1, keepalives_idle=30, keepalives_interval=10, keepalives_count=3)
    try:
        conn.stall = STALL_SECONDS
        server = _setting_seconds(conn, "statement_timeout")  # 0: none
        conn.stall = max(STALL_SECONDS, server + 10.0) if server > 0 else STALL_SECONDS
        _read_times_as_text(conn)
        conn.execute("SET TIME ZONE 'UTC'")
        for name, value in KEEPALIVES:  # the server's side too: only its probes end a vanished host's session
            conn.execute(f"SET {name} = {value}")
        if store:
            _limit_idle_transactions(conn)
        _bootstrap(conn)
    except BaseException:
        conn.close()
        raise
    return conn


@cache
def _connection_class() -> Any:
    """psycopg's connection, each wait for the server bounded by its ``stall`` seconds (None: unbounded).

    psycopg 3.2 and later (``Connection.wait``'s ``timeout``); before it, waits stay unbounded."""
    import psycopg

    found: type[BaseException] | None = getattr(psycopg.errors, "_WaitTimeout", None)
    if found is None:
        return psycopg.Connection
    timed_out: type[BaseException] = found

    class Connection(psycopg.Connection):  # type: ignore[type-arg]
        stall: float | None = None

        def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
            limit = self.stall if timeout is None else timeout
            try:
                return super().wait(gen, interval, limit)
            except timed_out:
                if timeout is not None:
                    raise
                self.close()  # mid-protocol: the connection cannot be used again
                raise psycopg.OperationalError(f"no answer from the server within {limit:g} s "
                                               "(the server or the network stalled)") from None

    return Connection


@contextmanager
def unhurried(conn: Any) -> Iterator[None]:
    """Waits for the server unbounded inside (VACUUM FULL, a migration rewriting a big table)."""
    stall, conn.stall = getattr(conn, "stall", None), None
    try:
        yield
    finally:
        conn.stall = stall


def _limit_idle_transactions(conn: Any) -> None:
    """``idle_in_transaction_session_timeout`` at most ``IDLE_IN_WRITE_SECONDS`` (a shorter one set for the
    server or in the URL stays)."""
    idle = _setting_seconds(conn, "idle_in_transaction_session_timeout")
    if idle == 0 or idle > IDLE_IN_WRITE_SECONDS:
        conn.execute(f"SET idle_in_transaction_session_timeout = {int(IDLE_IN_WRITE_SECONDS * 1000)}")


def _setting_seconds(conn: Any, name: str) -> float:
    """A server setting in milliseconds (a timeout), in seconds; 0 is none."""
    return float(conn.execute("SELECT setting::float / 1000 FROM pg_settings WHERE name = %s", (name,)).fetchone()[0])


def let_go(conn: Any, release: str) -> None:
    """Run ``release`` (``ROLLBACK``, ``SELECT pg_advisory_unlock_all()``), then close the connection.

    After a bare close the server frees a session's locks only once its process has
    ended: a moment in which the next send would find them still held. A connection
    already dead needs no release (the server ends its session with it).
    """
    from .engine import is_database_error

    if getattr(conn, "stall", None) is not None:  # a stalled server frees them anyway when the session ends
        conn.stall = min(conn.stall, RELEASE_SECONDS)
    try:
        conn.execute(release)
    except Exception as err:
        if not is_database_error(err):
            raise
    conn.close()


def drop_inherited(conn: Any) -> None:
    """In a forked child: let go of an inherited connection's socket without a word to the server
    (the parent's session goes on); /dev/null takes its place, so nothing can ever write to it."""
    import os

    null = os.open(os.devnull, os.O_RDWR)
    try:
        os.dup2(null, conn.fileno())
    finally:
        os.close(null)


def _read_times_as_text(conn: Any) -> None:
    for kind, loader in _iso_loaders().items():
        conn.adapters.register_loader(kind, loader)


@cache
def _iso_loaders() -> dict[str, type]:
    """``timestamptz`` as SQLite's ISO text in UTC (``isoformat``: seconds, or microseconds if any), ``date``
    as ``YYYY-MM-DD``."""
    from psycopg.types.datetime import DateLoader, TimestamptzLoader

    class IsoTimestamp(TimestamptzLoader):
        def load(self, data: Any) -> str:  # type: ignore[override]
            return str(super().load(data).astimezone(timezone.utc).isoformat())

    class IsoDate(DateLoader):
        def load(self, data: Any) -> str:  # type: ignore[override]
            return str(super().load(data).isoformat())

    return {"timestamptz": IsoTimestamp, "date": IsoDate}


def _bootstrap(conn: Any) -> None:
    """Once per database: the schema version table and SQLite's missing functions, under the write lock.

    Two processes may both find the database new: the second takes the lock after the first
    committed, but an advisory lock does not refresh the session's catalog cache, so its own
    check can still miss the table and its CREATE fail as a duplicate. Then the first one's
    work is there (its transaction made all of it at once): asked again in a new transaction,
    which does see it.
    """
    import psycopg

    if _ready(conn):
        return
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            if _ready(conn):
                return
            for statement in COMPAT_FUNCTIONS:
                conn.execute(statement)
            conn.execute("CREATE TABLE schema_version (version BIGINT NOT NULL)")
            conn.execute("INSERT INTO schema_version (version) VALUES (0)")
    except (psycopg.errors.DuplicateTable, psycopg.errors.DuplicateFunction, psycopg.errors.UniqueViolation):
        if not _ready(conn):
            raise


def _ready(conn: Any) -> bool:
    return conn.execute("SELECT to_regclass('schema_version')").fetchone()[0] is not None


class PgCursor:
    """What the mixins read of a cursor: rows, ``rowcount``, ``lastrowid``."""

    def __init__(self, cursor: Any, db: "PgDatabase") -> None:
        self._cursor, self._db = cursor, db

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount) if self._cursor is not None else -1

    @property
    def lastrowid(self) -> int | None:
        """The identity an INSERT just drew (``lastval()``); None if it drew none."""
        with self._db.guarded():
            try:
                return int(self._db.raw.execute("SELECT lastval()").fetchone()[0])
            except Exception as err:
                if type(err).__module__.split(".")[0] != "psycopg" or self._db.in_transaction():
                    raise
                return None

    def fetchone(self) -> Any:
        if self._cursor is None or self._cursor.description is None:
            return None
        with self._db.guarded():
            return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        if self._cursor is None or self._cursor.description is None:
            return []
        with self._db.guarded():
            return list(self._cursor.fetchall())

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class PgDatabase:
    """``execute``/``executemany`` of SQLite-dialect statements on a psycopg connection."""

    dialect = "postgresql"

    def __init__(self, conn: Any, url: DatabaseURL) -> None:
        self.raw, self.url = conn, url
        self._sql: dict[tuple[str, bool], str] = {}
        self._keys: dict[str, list[list[str]]] = {}
        self._columns: dict[str, list[str]] = {}

    def guarded(self) -> Any:
        return guarded(self.url)

    def execute(self, sql: str, parameters: Any = ()) -> PgCursor:
        with self.guarded():
            special = self._special(sql, parameters)
            if special is not None:
                return special
            text = self._translated(sql, bool(parameters))
            return PgCursor(self.raw.execute(text, parameters or None), self)

    def executemany(self, sql: str, rows: Any) -> PgCursor:
        rows = list(rows)
        with self.guarded():
            cursor = self.raw.cursor()
            if rows:
                cursor.executemany(self._translated(sql, True), rows)
            return PgCursor(cursor, self)

    def _special(self, sql: str, parameters: Any) -> PgCursor | None:
        """BEGIN [IMMEDIATE] and PRAGMAs, which PostgreSQL does its own way."""
        if _BEGIN.match(sql):
            self._write_turn()
            return PgCursor(None, self)
        if _VERSION_GET.match(sql):
            return PgCursor(self.raw.execute("SELECT version FROM schema_version"), self)
        version = _VERSION_SET.match(sql)
        if version:
            return PgCursor(self.raw.execute("UPDATE schema_version SET version = %s", (int(version[1]),)), self)
        if _PRAGMA.match(sql):
            return PgCursor(None, self)
        return None

    def _write_turn(self) -> None:
        """``BEGIN`` and the store's write lock: at once if free; else waited for, a quarter of
        ``IDLE_IN_WRITE_SECONDS`` at a time, ending between waits a holder stuck mid-statement that long."""
        import psycopg

        self.raw.execute("BEGIN")
        if self.raw.execute("SELECT pg_try_advisory_xact_lock(%s)", (WRITE_LOCK,)).fetchone()[0]:
            return
        while True:
            self.raw.execute(f"SET LOCAL lock_timeout = {max(int(IDLE_IN_WRITE_SECONDS * 250), 1)}")
            try:
                self.raw.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            except psycopg.errors.LockNotAvailable:
                self.raw.execute("ROLLBACK")
                try:
                    self.raw.execute(_STUCK_WRITER, (WRITE_LOCK, IDLE_IN_WRITE_SECONDS))
                except psycopg.errors.InsufficientPrivilege:  # another role's session: wait on
                    pass
                self.raw.execute("BEGIN")
                continue
            self.raw.execute("SET LOCAL lock_timeout TO DEFAULT")
            return

    def _translated(self, sql: str, parameters: bool) -> str:
        key = (sql, parameters)
        text = self._sql.get(key)
        if text is None:
            text = self._sql[key] = translate(sql, self, parameters=parameters)
        return text

    def unique_keys(self, table: str) -> Sequence[Sequence[str]]:
        """The table's unique keys (the primary key first), from the catalog; cached per connection."""
        if table not in self._keys:
            self._keys[table] = [list(row[0]) for row in self.raw.execute(_UNIQUE_KEYS, (table,))]
        return self._keys[table]

    def columns(self, table: str) -> Sequence[str]:
        if table not in self._columns:
            self._columns[table] = [row[0] for row in self.raw.execute(
                "SELECT column_name::text FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = %s", (table,))]
        return self._columns[table]

    def begin(self) -> None:
        self.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.raw.execute("COMMIT")

    def rollback(self) -> None:
        self.raw.execute("ROLLBACK")

    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return bool(self.raw.info.transaction_status != TransactionStatus.IDLE)

    def script(self, sql: str) -> None:
        """Statements run as they are (SQLite's ``executescript``); PRAGMAs do nothing."""
        for statement in filter(str.strip, sql.split(";")):
            self.execute(statement)

    def size_bytes(self) -> int:
        return int(self.raw.execute("SELECT pg_database_size(current_database())").fetchone()[0])

    def compact(self) -> None:
        with unhurried(self.raw):
            self.raw.execute("VACUUM FULL")

    def unhurried(self) -> Any:
        return unhurried(self.raw)

    def close(self) -> None:
        self.raw.close()
