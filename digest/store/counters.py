"""Counters: store-backed rate limits (the web app's sign-ups per client and per address).

One row per key and period; the periods are the caller's ISO dates or hours, so the
clock is the caller's and the count is shared by every process on the store.
"""

from __future__ import annotations

from datetime import date, timedelta

from .schema import Connection


class Counters(Connection):
    def hit(self, key: str, period: str, limit: int) -> bool:
        """Count one attempt for ``key`` in ``period``; False once over ``limit``.

        ``period`` starts with the caller's ISO date ("2026-11-23" or "2026-11-23T10"):
        counters more than two days older than it are pruned.
        """
        stale = (date.fromisoformat(period[:10]) - timedelta(days=2)).isoformat()  # periods sort as text
        with self.transaction():
            self.db.execute("DELETE FROM counters WHERE (period < :p AND key = :k) OR period < :stale",
                            {"p": period, "k": key, "stale": stale})
            self.db.execute(
                "INSERT INTO counters (key, period, hits) VALUES (:k, :p, 1) "
                "ON CONFLICT (key, period) DO UPDATE SET hits = hits + 1", {"k": key, "p": period})
            hits = self.db.execute("SELECT hits FROM counters WHERE key = :k AND period = :p",
                                   {"k": key, "p": period}).fetchone()[0]
        return int(hits) <= limit
