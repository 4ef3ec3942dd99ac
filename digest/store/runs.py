"""Runs: each send, when it started and finished, what it did, and the slot it served."""

from __future__ import annotations

from dataclasses import dataclass

from .schema import Connection, utcnow


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


class Runs(Connection):
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
