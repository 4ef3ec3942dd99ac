"""The keywords that matched nothing at a reader's last send (``digest.ranking.hints``), for their preferences page.

A reader whose every keyword misses gets no email at all (no empty digests),
so the send keeps, per reader it ranked, the hints of that run: the
preferences page shows them. One row per reader, replaced by each run that
ranks them, and removed when they have none left; the hints are JSON, the
store does not know their shape.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from .schema import Connection


class Hints(Connection):
    def save_keyword_hints(self, found: Mapping[str, Sequence[Mapping[str, Any]]], now: float) -> None:
        """This run's hints of every reader it ranked (an empty list: they have none now), in one transaction."""
        if not found:
            return
        emails = sorted({email.lower() for email in found})
        rows = [{"e": email.lower(), "at": now, "h": json.dumps(list(hints), ensure_ascii=False)}
                for email, hints in found.items() if hints]
        with self.transaction():
            self.db.execute("DELETE FROM keyword_hints WHERE email IN (SELECT value FROM json_each(:emails))",
                            {"emails": json.dumps(emails)})
            if rows:
                self.db.executemany("INSERT INTO keyword_hints (email, at, hints) VALUES (:e, :at, :h)",
                                    rows)

    def keyword_hints_of(self, email: str) -> tuple[float, list[dict[str, Any]]] | None:
        """(when the last run that ranked the reader found them, the hints), or None: it found none."""
        row = self.db.execute("SELECT at, hints FROM keyword_hints WHERE email = :e", {"e": email.lower()}).fetchone()
        return (float(row[0]), list(json.loads(row[1]))) if row else None

