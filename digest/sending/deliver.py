"""Deliver: one sender thread talks SMTP while the caller's thread builds and records.

SMTP is mostly waiting for the server's reply; a sender thread (the wait
releases the GIL) lets rendering and building overlap it, on one connection.
Results come back to the caller's thread, which records them: a message counts
as sent only after the server accepted it. A fatal error (server gone after the
retries, refused login) stops the queue; the messages behind it are neither sent
nor recorded, so the next run sends them.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from ..mail import Delivery, Mailer


@dataclass
class Outgoing:
    """One built message on its way, with what to record once the server has answered."""

    recipient: str
    message_id: str
    message: bytes
    paper_ids: list[str]


class SendQueue:
    def __init__(self, mailer: Mailer, sender: str, depth: int = 4) -> None:
        self.mailer = mailer
        self.sender = sender
        self._todo: queue.Queue[Outgoing | None] = queue.Queue(maxsize=depth)
        self._done: queue.Queue[tuple[Outgoing, Delivery]] = queue.Queue()
        self._error: BaseException | None = None
        self._stopped = threading.Event()
        # started by the first submit: a producer may fork before, while this process has one thread
        self._thread = threading.Thread(target=self._run, name="digest-smtp", daemon=True)

    def _run(self) -> None:
        while True:
            item = self._todo.get()
            if item is None:
                return
            if self._stopped.is_set():
                continue
            try:
                delivery = self.mailer.send(self.sender, item.recipient, item.message)
            except BaseException as err:  # noqa: BLE001 (handed to the caller's thread)
                self._error = err
                self._stopped.set()
                continue
            self._done.put((item, delivery))

    def submit(self, item: Outgoing) -> None:
        """Queue one message; waits while ``depth`` messages are ahead of it."""
        if self._thread.ident is None:
            self._thread.start()
        while not self._stopped.is_set():
            try:
                self._todo.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def finished(self) -> Iterator[tuple[Outgoing, Delivery]]:
        """Deliveries the server has answered since the last call."""
        while True:
            try:
                yield self._done.get_nowait()
            except queue.Empty:
                return

    def stop(self) -> int:
        """Hand nothing more to the server (the message in hand finishes); returns how many were dropped."""
        self._stopped.set()
        return self.drop_pending()

    def drop_pending(self) -> int:
        """Forget the messages not handed to the server yet: they go next run."""
        dropped = 0
        while True:
            try:
                if self._todo.get_nowait() is not None:
                    dropped += 1
            except queue.Empty:
                return dropped

    def close(self) -> None:
        """Wait for everything queued (unless stopped) and for the message in hand; then disconnect."""
        if self._thread.ident is not None:
            while self._thread.is_alive():
                try:
                    self._todo.put(None, timeout=0.1)
                    break
                except queue.Full:
                    if self._stopped.is_set():
                        self.drop_pending()
            self._thread.join()
        self.mailer.close()

    @property
    def error(self) -> BaseException | None:
        """What stopped the queue (server gone after the retries, refused login), if anything."""
        return self._error

    def raise_error(self) -> None:
        if self._error is not None:
            raise self._error
