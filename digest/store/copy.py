"""``digest store copy``: a SQLite store's whole history moved into a PostgreSQL one.

Every table the SQLite file has (deliveries, readers, votes, the archive,
embeddings, listings, catch-up marks, bounces, runs, ...) is copied row for
row, keys included, in one transaction on the target: a copy that fails
leaves the target as it was. Both stores are opened first, so both are at the
latest schema and have the same tables and columns. The target must hold no
data at all, in any table the copy writes (a copy merges nothing): a target with
only a suppression or a signup hold is refused too, naming the tables that hold
rows, before anything is written. Identity counters (``runs.id``, ...) are
moved past the copied keys, so new rows never collide with old ones. Times and
days, ISO text in SQLite, become ``timestamptz`` and ``date`` values there
(``dialect.Retype``); one PostgreSQL cannot read as such stops the copy.
"""

from __future__ import annotations

import zlib
from typing import Any

from ..errors import StoreError
from .schema import Connection

BATCH = 5000
FIRST = ("addresses", "papers")  # referred to by other tables' foreign keys


def copy_store(source: Connection, target: Connection) -> dict[str, int]:
    """Copy every table of ``source`` (SQLite) into ``target`` (empty); rows copied per table."""
    if source.db.dialect != "sqlite":
        raise StoreError(f"digest store copy reads a SQLite store; {source.path} is not one")
    tables = _tables(source)
    held = [table for table in tables if target.db.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None]
    if held:
        raise StoreError(f"the state database {target.path} already holds data ({', '.join(held)}); "
                         "copy into an empty database")
    copied: dict[str, int] = {}
    with target.transaction():
        for table in tables:
            try:
                copied[table] = _copy_table(source, target, table)
            except StoreError as err:  # a time PostgreSQL cannot read as one, say: name the table too
                raise StoreError(f"{err} (copying the table {table})") from err
        if target.db.dialect == "postgresql":
            _move_identities(target)
    return copied


def _tables(source: Connection) -> list[str]:
    names = [row[0] for row in source.db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    return [t for t in FIRST if t in names] + [t for t in names if t not in FIRST]


def _copy_table(source: Connection, target: Connection, table: str) -> int:
    columns = [row[1] for row in source.db.execute(f"PRAGMA table_info({table})")]
    insert = (f"INSERT INTO {table} ({', '.join(columns)}) "
              f"VALUES ({', '.join('?' for _ in columns)})")
    cursor = source.db.raw.execute(f"SELECT {', '.join(columns)} FROM {table}")  # type: ignore[union-attr]
    count = 0
    while True:
        rows: list[Any] = cursor.fetchmany(BATCH)
        if not rows:
            return count
        if table == "archive" and target.db.dialect == "postgresql":  # plain HTML of before: compressed, as now
            rows = [_packed(row, columns.index("html")) for row in rows]
        target.db.executemany(insert, rows)
        count += len(rows)


def _packed(row: Any, index: int) -> tuple[Any, ...]:
    value = row[index]
    return (*row[:index], zlib.compress(value.encode("utf-8"), 1) if isinstance(value, str) else value,
            *row[index + 1:])


def _move_identities(target: Connection) -> None:
    """Each identity column's next value after the largest copied key."""
    rows = target.db.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND is_identity = 'YES'").fetchall()
    for table, column in rows:
        target.db.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
            f"coalesce((SELECT max({column}) FROM {table}), 0) + 1, false)")
