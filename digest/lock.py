"""A file lock so that overlapping runs (cron plus daemon) never send twice.

The lock is an ``flock`` on a file beside the database; the kernel drops it when
the holder's last descriptor closes, so a run killed with ``kill -9`` never
leaves it behind. A forked helper (the renderer) closes its inherited copy at
once (``close_inherited``), so it can never keep the lock after its parent died.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from pathlib import Path
from types import TracebackType

from .errors import LockedError, StoreError

log = logging.getLogger("digest")


class SendLock:
    """Held for a whole send; a second run waits up to ``wait`` seconds, then gives up."""

    def __init__(self, path: Path, wait: float = 600.0) -> None:
        self.path = path
        self.wait = wait
        self.fd: int | None = None

    def __enter__(self) -> "SendLock":
        self.fd = self._open()
        deadline = time.monotonic() + self.wait
        waiting = False
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._write_pid()
                return self
            except BlockingIOError:
                if not waiting:
                    log.warning("waiting for another digest send (%s) to finish", self._holder())
                    waiting = True
                if time.monotonic() >= deadline:
                    self._close()
                    raise LockedError(f"another digest send ({self._holder()}) holds {self.path}; "
                                      "try again when it has finished") from None
                time.sleep(0.1)

    def _open(self) -> int:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as err:
            raise StoreError(f"cannot open the send lock {self.path} ({err.strerror or err}); make its folder "
                             "writable, or set DIGEST_STATE_DB to a writable place") from err

    def _write_pid(self) -> None:
        """Who holds it, for the message a waiting run shows (best effort: a full disk is no reason to stop)."""
        assert self.fd is not None
        try:
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:
            pass

    def _holder(self) -> str:
        try:
            pid = self.path.read_text().strip()
        except OSError:
            pid = ""
        return f"process {pid}" if pid.isdigit() else "another process"

    def _close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def close_inherited(self) -> None:
        """In a forked child: drop the inherited descriptor (the parent keeps the lock)."""
        if self.fd is not None:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = None

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            self._close()
