"""A file lock so that overlapping runs (cron plus daemon) never send twice."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from types import TracebackType

from .errors import LockedError


class SendLock:
    """Held for a whole send; a second run waits up to ``wait`` seconds, then gives up."""

    def __init__(self, path: Path, wait: float = 600.0) -> None:
        self.path = path
        self.wait = wait
        self.fd: int | None = None

    def __enter__(self) -> "SendLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(self.fd)
                    raise LockedError(f"another digest send holds {self.path}; try again when it has finished") from None
                time.sleep(0.1)

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
