"""Embeddings for matching by meaning, kept so that nothing is embedded twice.

A paper listed on several lookback days, or ranked again by a re-run, a preview
or a shard, takes its vector from here; so does a keyword from yesterday's run.
Keyed by the paper id (or ``keyword:`` and the SHA-256 of a keyword's text) and
the model name (a new model embeds afresh); the vector is the model's float16
bytes. Rows unused for ``keep_days`` are pruned when new ones are saved.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone

from .schema import Connection


class Embeddings(Connection):
    def embeddings(self, model: str, keys: Sequence[str]) -> dict[str, bytes]:
        """The stored vectors of ``keys`` for ``model`` (key -> bytes); marks them used today."""
        rows = self.db.execute(
            "SELECT key, vector FROM embeddings WHERE model = :model "
            "AND key IN (SELECT value FROM json_each(:ids))",
            {"model": model, "ids": json.dumps(sorted(set(keys)))}).fetchall()
        found = {key: bytes(vector) for key, vector in rows}
        if found:
            with self.transaction():
                self.db.execute(
                    "UPDATE embeddings SET used = :today WHERE model = :model AND used < :today "
                    "AND key IN (SELECT value FROM json_each(:ids))",
                    {"model": model, "ids": json.dumps(sorted(found)), "today": _today()})
        return found

    def save_embeddings(self, model: str, vectors: Mapping[str, bytes], keep_days: int = 90) -> None:
        """Keep these vectors (key -> bytes); drop any vector no run used for ``keep_days``."""
        today = _today()
        oldest = (datetime.now(timezone.utc) - timedelta(days=keep_days)).date().isoformat()
        with self.transaction():
            self.db.executemany(
                "INSERT OR REPLACE INTO embeddings (key, model, vector, used) VALUES (?, ?, ?, ?)",
                [(key, model, vector, today) for key, vector in vectors.items()])
            self.db.execute("DELETE FROM embeddings WHERE used < :oldest", {"oldest": oldest})


def _today() -> str:
    return datetime.now(timezone.utc).date().isoformat()
