"""The state store: what each reader was sent, the runs, and the readers' own changes.

One SQLite file. The schema and its migrations live in ``schema``; each table
group is a small mixin in its own module, put together here. Accepted
deliveries the database could not take wait in the ``journal`` beside it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from .bounces import Bounces
from .buckets import Buckets
from .archive import Archive, KeptDigest, KeptPick
from .deliveries import Deliveries
from .embeddings import Embeddings
from .listed import Listed
from .outbox import Outbox, QueuedMail
from .readers import Readers, ReaderState, Vote
from .runs import Run, Runs
from .schema import MIGRATIONS, store_error, utcnow
from .summaries import Summaries
from .uncertain import Uncertain

__all__ = ["MIGRATIONS", "KeptDigest", "KeptPick", "QueuedMail", "ReaderState", "Run", "Store", "Vote", "utcnow"]


class Store(Deliveries, Runs, Readers, Uncertain, Embeddings, Listed, Bounces, Buckets, Archive, Summaries, Outbox):
    @classmethod
    def open(cls, path: Path) -> "Store":
        db: sqlite3.Connection | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = cls.connect(path)
            store = cls(db, path)
            store._migrate()
            return store
        except (sqlite3.Error, OSError) as err:
            if db is not None:
                db.close()
            raise store_error(path, err) from err
        except BaseException:
            if db is not None:
                db.close()
            raise

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
