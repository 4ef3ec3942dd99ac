"""The state store: what each reader was sent, the runs, and the readers' own changes.

One SQLite file. The schema and its migrations live in ``schema``; each table
group is a small mixin in its own module, put together here.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ..errors import StoreError
from .deliveries import Deliveries
from .readers import Readers, ReaderState, Vote
from .runs import Run, Runs
from .schema import MIGRATIONS, utcnow

__all__ = ["MIGRATIONS", "ReaderState", "Run", "Store", "Vote", "utcnow"]


class Store(Deliveries, Runs, Readers):
    @classmethod
    def open(cls, path: Path) -> "Store":
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            store = cls(cls.connect(path), path)
            store._migrate()
            return store
        except sqlite3.DatabaseError as err:
            raise StoreError(f"{path}: cannot open the state database ({err}); check DIGEST_STATE_DB") from err
        except OSError as err:
            raise StoreError(f"{path}: cannot create the state database ({err.strerror}); check DIGEST_STATE_DB") from err

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
