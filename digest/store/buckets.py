"""Buckets: limits that hold across processes (the SMTP rate, a host's request spacing).

Each bucket is one row: the time of its next free turn. A token bucket of
capacity one, kept as the "theoretical arrival time" (GCRA): taking a turn is one
short ``BEGIN IMMEDIATE`` transaction that reads the row, reserves the turn
(now, or the next free one) and moves the row one interval on. The caller then
waits for its turn *outside* the transaction, so no process ever sleeps while it
holds the database's write lock, and four shards together keep one cap.

Nothing is ever held: a process killed while it waits only wastes its own turn,
and one killed inside the transaction leaves nothing (SQLite rolls it back). A
row more than ``MAX_AHEAD`` turns in the future (the wall clock stepped back) is
taken as stale and starts again from now, so a bucket can never stay stuck.

On PostgreSQL the row is kept in the database server's time (``clock_timestamp()``),
read inside the transaction: the hosts' own clocks differ, and a host whose clock is
behind would find the others' turns far ahead (stale, with a skew of ``MAX_AHEAD``
turns: the cap gone) and they its turns in the past. Each host is handed its turn
in its own clock's time, as a wait from now.
"""

from __future__ import annotations

from collections.abc import Callable

from .schema import Connection

MAX_AHEAD = 256  # turns that may be reserved ahead: more waiters than 4 shards x 32 connections


class Buckets(Connection):
    def take_turn(self, name: str, interval: float, clock: Callable[[], float]) -> float:
        """Reserve the bucket's next turn at or after now (``clock``: seconds, wall clock); returns its time.

        Now is read once the write lock is held: read before, a process that waited for
        the lock would reserve a turn in the past and move the row on from there, and
        the next process could go less than ``interval`` after it.
        """
        with self.transaction():
            here = now = clock()
            if self.db.dialect == "postgresql":  # several hosts: the row keeps the server's time, not any host's
                now = float(self.db.execute("SELECT extract(epoch FROM clock_timestamp())").fetchone()[0])
            row = self.db.execute("SELECT next_at FROM buckets WHERE name = :n", {"n": name}).fetchone()
            free = float(row[0]) if row else now
            if free - now > interval * MAX_AHEAD:
                free = now  # stale: the clock went back, or a bad row; never wait for ever
            turn = max(now, free)
            self.db.execute("INSERT INTO buckets (name, next_at) VALUES (:n, :t) "
                            "ON CONFLICT (name) DO UPDATE SET next_at = excluded.next_at",
                            {"n": name, "t": turn + interval})
        return here + (turn - now)  # in ``clock``'s time: how long to wait is the same on every host
