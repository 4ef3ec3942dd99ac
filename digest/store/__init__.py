"""The state store: what each reader was sent, the runs, and the readers' own changes.

One SQLite file, or a PostgreSQL database when ``DIGEST_STATE_DB`` is a
``postgresql://`` URL (``engine``: the same statements on both). The schema and its migrations live in ``schema``; each table
group is a small mixin in its own module, put together here. Accepted
deliveries the database could not take wait in the ``journal`` beside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .bounces import Bounces
from .buckets import Buckets
from .counters import Counters
from .archive import Archive
from .deliveries import Deliveries
from .embeddings import Embeddings
from .engine import DatabaseURL, is_database_error
from .hints import Hints
from .kept import Kept, KeptDigest, KeptEntry, KeptPick
from .listed import Listed
from .outbox import Outbox, QueuedMail
from .readers import Readers, ReaderState
from .reading import ReadingList, SavedPaper
from .runs import Run, Runs
from .schema import MIGRATIONS, store_error, utcnow
from .summaries import Summaries
from .uncertain import Uncertain
from .votes import Vote, Votes

__all__ = ["MIGRATIONS", "DatabaseURL", "KeptDigest", "KeptEntry", "KeptPick", "QueuedMail", "ReaderState", "Run", "SavedPaper",
           "Store", "Vote", "utcnow"]


class Store(Deliveries, Runs, Readers, Votes, Uncertain, Embeddings, Listed, Bounces, Buckets, Archive, Kept,
            Summaries, Outbox, ReadingList, Hints, Counters):
    @classmethod
    def open(cls, path: Path) -> "Store":
        db: Any = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)  # for a URL: this host's folder (the journal)
            db = cls.connect(path)
            store = cls(db, path)
            store._migrate()
            return store
        except Exception as err:
            if db is not None:
                db.close()
            if not is_database_error(err):
                raise
            raise store_error(path, err) from err
        except BaseException:
            if db is not None:
                db.close()
            raise

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
