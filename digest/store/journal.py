"""The delivery journal: accepted deliveries the database could not take, kept until it can.

``state.db.journal`` beside the database (digest's own file, not SQLite's
``-journal``): one JSON line per delivery the SMTP server answered (sent,
failed, deferred or uncertain) that could not be written into the database
(disk full, damaged page). Each append is fsync'd before the run goes on. The
next send replays it into the database before it sends anything, then removes
it; replaying twice is harmless (deliveries are keyed by Message-ID). A line
torn by a crash is skipped: its message was never confirmed as recorded, so at
worst that reader gets it again.

Shards of a list share the journal, so every change to it (an append, a
replay from reading to removing, the writability check) holds an ``flock`` on
the file and makes sure it is still the file at ``path``: a shard that waited
while another replayed and removed the journal appends to a new one, never to
the removed one. A failed append is cut back to where it began, so a partial
line never swallows the next one.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
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
    at: float | None = None  # when the server answered (Unix seconds); None: a line written before digest kept it
    seen_upto: int | None = None  # the newest arrival stamp its digest's plan saw (digest.store.listed); None: a
    # line written before digest kept it, or a digest no plan built


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
            fd = self._open_locked(create=True)
            assert fd is not None
            try:
                _append(fd, data, self.path.parent)
            finally:
                os.close(fd)
        except OSError as err:
            raise StoreError(f"cannot write the delivery journal {self.path} ({err.strerror or err})") from err

    def _open_locked(self, *, create: bool) -> int | None:
        """The journal, opened and flocked, and still the file at ``path``; None if there is none (``create`` off)."""
        flags = os.O_RDWR | os.O_APPEND | os.O_CLOEXEC | (os.O_CREAT if create else 0)
        while True:
            try:
                fd = os.open(self.path, flags, 0o600)
            except FileNotFoundError:
                if create:
                    raise
                return None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                if _same_file(fd, self.path):
                    return fd
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)  # removed by a replay while we waited: open the new one

    def check_writable(self) -> None:
        """Before a send: if the database fails mid-run, the journal must be able to take over."""
        try:
            fd = self._open_locked(create=True)
            assert fd is not None
            try:
                if os.fstat(fd).st_size == 0:
                    self.path.unlink()  # under the lock: nobody appended to it meanwhile
            finally:
                os.close(fd)
        except OSError as err:
            raise StoreError(f"refusing to send: the delivery journal {self.path} cannot be written "
                             f"({err.strerror or err}); make the folder of DIGEST_STATE_DB writable") from err

    def pending(self) -> list[Entry]:
        """The entries waiting to be recorded (a line torn by a crash is skipped)."""
        return self._read()[0]

    def _read(self) -> tuple[list[Entry], int]:
        """(the entries, how many lines could not be read)."""
        try:
            lines = [line for line in self.path.read_bytes().splitlines() if line.strip()]
        except FileNotFoundError:
            return [], 0
        except OSError as err:
            raise StoreError(f"cannot read the delivery journal {self.path} ({err.strerror or err}); "
                             "make it readable, or move it away (its deliveries may then be sent again)") from err
        entries = [entry for entry in map(_parse, lines) if entry is not None]
        return entries, len(lines) - len(entries)

    def replay(self, store: Any) -> int:
        """Record the pending entries in ``store``, then remove the journal; no other process appends meanwhile."""
        try:
            fd = self._open_locked(create=False)
        except OSError as err:
            raise StoreError(f"cannot read the delivery journal {self.path} ({err.strerror or err}); "
                             "make it readable, or move it away (its deliveries may then be sent again)") from err
        if fd is None:
            return 0
        try:
            entries, unreadable = self._read()
            if entries:
                record_entries(store, entries)
                log.warning("recorded %d deliveries from %s", len(entries), self.path)
            if unreadable:
                log.warning("skipped %d unreadable line(s) of %s (torn by a crash, or damaged): those readers "
                            "may get that digest again", unreadable, self.path)
            self.clear()
        finally:
            os.close(fd)  # lets a waiting append go on, into a new file
        return len(entries)

    def clear(self) -> None:
        try:
            self.path.unlink(missing_ok=True)
        except OSError as err:
            raise StoreError(f"cannot remove the replayed delivery journal {self.path} ({err.strerror or err}); "
                             "remove it by hand") from err


def record_entries(store: Any, entries: list[Entry]) -> None:
    """The one place deliveries become rows: used by the recorder and by the replay.

    Each delivery is recorded at the time the server answered it, not at the replay's:
    a digest journaled last night and replayed this morning is last night's, so it
    neither counts as today's digest (the reader would be skipped today) nor moves the
    reader's catch-up mark past papers that arrived in between; and with what its plan
    saw (``seen_upto``), from which the reader's next digest catches up.
    """
    times = sorted({(e.at, e.seen_upto) for e in entries},
                   key=lambda key: (key[0] is not None, key[0] or 0.0, key[1] is not None, key[1] or 0))
    for at, seen_upto in times:
        when = None if at is None else datetime.fromtimestamp(at, timezone.utc)
        these = [e for e in entries if e.at == at and e.seen_upto == seen_upto]
        store.record_deliveries(((e.email, e.message_id, e.paper_ids, None if e.status == "sent" else e.error)
                                 for e in these if e.status != "uncertain"), at=when, seen_upto=seen_upto)
        store.record_uncertain(((e.email, e.message_id, e.paper_ids, e.error)
                                for e in these if e.status == "uncertain"), at=when)
    store.resolve_uncertain({e.email for e in entries if e.status == "sent"})


def _parse(line: bytes) -> Entry | None:
    try:
        return Entry(**json.loads(line))
    except (ValueError, TypeError):
        return None


def _append(fd: int, data: bytes, folder: Path) -> None:
    """Append all of ``data`` after a whole line and fsync; on failure, cut the file back to where it was."""
    size = os.fstat(fd).st_size
    if size and os.pread(fd, 1, size - 1) != b"\n":
        data = b"\n" + data  # a line torn by a crash: end it, so it does not swallow ours
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]  # a write may be short (a file size limit, a full disk)
        os.fsync(fd)
    except OSError:
        try:
            os.ftruncate(fd, size)
        except OSError:
            pass
        raise
    if size == 0:
        _fsync_dir(folder)  # a new file: its name must survive a crash too


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


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
