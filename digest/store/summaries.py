"""LLM summaries (``digest.summaries``), kept so that no paper is summarised twice.

Keyed by (paper id, abstract hash, model, language, prompt version): a revised
abstract, another model, another language or a new prompt asks afresh. Rows no
run used for ``keep_days`` are pruned when a new one is saved.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

from .schema import Connection

Key = tuple[str, ...]  # (paper_id, abstract_hash, model, language, prompt_version)
_COLUMNS = ("paper_id", "abstract_hash", "model", "language", "prompt_version")


class Summaries(Connection):
    def summaries(self, keys: Sequence[Key]) -> dict[Key, str]:
        """The stored summaries among ``keys``; marks them used today."""
        wanted = {tuple(key) for key in keys}
        rows = self.db.execute(
            "SELECT paper_id, abstract_hash, model, language, prompt_version, summary FROM llm_summaries "
            "WHERE paper_id IN (SELECT value FROM json_each(:ids))",
            {"ids": json.dumps(sorted({key[0] for key in wanted}))}).fetchall()
        found = {tuple(row[:5]): row[5] for row in rows if tuple(row[:5]) in wanted}
        if found:
            with self.transaction():
                self.db.executemany(
                    "UPDATE llm_summaries SET used = :today WHERE paper_id = :paper_id AND abstract_hash = "
                    ":abstract_hash AND model = :model AND language = :language AND prompt_version = "
                    ":prompt_version AND used < :today",
                    [{**dict(zip(_COLUMNS, key)), "today": _today()} for key in found])
        return found

    def save_summary(self, key: Key, summary: str, keep_days: int = 90) -> None:
        """Keep this summary; drop any no run used for ``keep_days``."""
        oldest = (datetime.now(timezone.utc) - timedelta(days=keep_days)).date().isoformat()
        with self.transaction():
            self.db.execute(
                "INSERT OR REPLACE INTO llm_summaries (paper_id, abstract_hash, model, language, prompt_version, "
                "summary, used) VALUES (:paper_id, :abstract_hash, :model, :language, :prompt_version, "
                ":summary, :today)",
                {**dict(zip(_COLUMNS, key)), "summary": summary, "today": _today()})
            self.db.execute("DELETE FROM llm_summaries WHERE used < :oldest", {"oldest": oldest})


def _today() -> str:
    return datetime.now(timezone.utc).date().isoformat()
