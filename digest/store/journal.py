"""The delivery journal: accepted deliveries the database could not take, kept until it can.

``state.db.journal`` beside the database (digest's own file, not SQLite's
``-journal``): one JSON line per delivery the SMTP server answered (sent,
failed, deferred or uncertain) that could not be written into the database
(disk full, damaged page). Each append is fsync'd before the run goes on. The
next send replays it into the database before it sends anything, then removes
it; replaying twice is harmless (deliveries are keyed by Message-ID). A line
torn by a crash is skipped: its message was never confirmed as recorded, so at
worst that reader gets it again.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import StoreError

log = logging.getLogger("digest")


@dataclass(frozen=True, slots=True)
class Entry:
    email: str
    message_id: str
    paper_ids: list[str]
    status: str  # sent, failed, deferred or uncertain (see digest.mail.Delivery)
    error: str = ""


def journal_path(state_db: Path) -> Path:
    return state_db.with_name(state_db.name + ".journal")


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def beside(cls, state_db: Path) -> "Journal":
        return cls(journal_path(state_db))

    def append(self, entries: Iterable[Entry]) -> None:
        """Write and fsync; a ``StoreError`` if the journal cannot be written either."""
        data = "".join(json.dumps(asdict(entry), ensure_ascii=False) + "\n" for entry in entries).encode()
        if not data:
            return
        try:
            created = not self.path.exists()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            if created:
                _fsync_dir(self.path.parent)
        except OSError as err:
            raise StoreError(f"cannot write the delivery journal {self.path} ({err.strerror or err})") from err

    def check_writable(self) -> None:
        """Before a send: if the database fails mid-run, the journal must be able to take over."""
        try:
            existed = self.path.exists()
            os.close(os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600))
            if not existed:
                self.path.unlink()
        except OSError as err:
            raise StoreError(f"refusing to send: the delivery journal {self.path} cannot be written "
                             f"({err.strerror or err}); make the folder of DIGEST_STATE_DB writable") from err

    def pending(self) -> list[Entry]:
        """The entries waiting to be recorded (a line torn by a crash is skipped)."""
        try:
            lines = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            return []
        except OSError as err:
            raise StoreError(f"cannot read the delivery journal {self.path} ({err.strerror or err}); "
                             "make it readable, or move it away (its deliveries may then be sent again)") from err
        return [entry for entry in map(_parse, lines) if entry is not None]

    def replay(self, store: Any) -> int:
        """Record the pending entries in ``store`` (one transaction each kind), then remove the journal."""
        entries = self.pending()
        if entries:
            record_entries(store, entries)
            log.warning("recorded %d deliveries from %s", len(entries), self.path)
        self.clear()
        return len(entries)

    def clear(self) -> None:
        try:
            self.path.unlink(missing_ok=True)
        except OSError as err:
            raise StoreError(f"cannot remove the replayed delivery journal {self.path} ({err.strerror or err}); "
                             "remove it by hand") from err


def record_entries(store: Any, entries: list[Entry]) -> None:
    """The one place deliveries become rows: used by the recorder and by the replay."""
    store.record_deliveries(
        (e.email, e.message_id, e.paper_ids, None if e.status == "sent" else e.error)
        for e in entries if e.status != "uncertain"
    )
    store.record_uncertain((e.email, e.message_id, e.paper_ids, e.error) for e in entries if e.status == "uncertain")
    store.resolve_uncertain({e.email for e in entries if e.status == "sent"})


def _parse(line: bytes) -> Entry | None:
    try:
        return Entry(**json.loads(line))
    except (ValueError, TypeError):
        return None


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
