"""Paper embeddings for matching by meaning, kept so that no paper is embedded twice.

A paper listed on several lookback days, or ranked again by a re-run, a preview
or a shard, takes its vector from here. Keyed by paper id and model name (a new
model embeds afresh); the vector is the model's float16 bytes. Rows unused for
``keep_days`` are pruned when new ones are saved.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone

from .schema import Connection


class Embeddings(Connection):
    def embeddings(self, model: str, ids: Sequence[str]) -> dict[str, bytes]:
        """The stored vectors of ``ids`` for ``model`` (paper id -> bytes); marks them used today."""
        rows = self.db.execute(
            "SELECT paper_id, vector FROM embeddings WHERE model = :model "
            "AND paper_id IN (SELECT value FROM json_each(:ids))",
            {"model": model, "ids": json.dumps(sorted(set(ids)))}).fetchall()
        found = {paper_id: bytes(vector) for paper_id, vector in rows}
        if found:
            with self.transaction():
                self.db.execute(
                    "UPDATE embeddings SET used = :today WHERE model = :model AND used < :today "
                    "AND paper_id IN (SELECT value FROM json_each(:ids))",
                    {"model": model, "ids": json.dumps(sorted(found)), "today": _today()})
        return found

    def save_embeddings(self, model: str, vectors: Mapping[str, bytes], keep_days: int = 90) -> None:
        """Keep these papers' vectors; drop any vector no run used for ``keep_days``."""
        today = _today()
        oldest = (datetime.now(timezone.utc) - timedelta(days=keep_days)).date().isoformat()
        with self.transaction():
            self.db.executemany(
                "INSERT OR REPLACE INTO embeddings (paper_id, model, vector, used) VALUES (?, ?, ?, ?)",
                [(paper_id, model, vector, today) for paper_id, vector in vectors.items()])
            self.db.execute("DELETE FROM embeddings WHERE used < :oldest", {"oldest": oldest})


def _today() -> str:
    return datetime.now(timezone.utc).date().isoformat()
