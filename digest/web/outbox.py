"""The serving process sends the outbox (``digest.store.outbox``) in a background thread.

A sign-up queues its mail and wakes this thread; the page has already answered.
A relay that is down, busy or silent costs this thread time, never a request. A
mail the relay could not take waits ``RETRY_DELAYS`` (then the last one, again)
and is dropped, with a warning, after ``GIVE_UP_SECONDS``: its link has expired by
then. A relay's clear refusal (5xx) is final; an ambiguous end (the reply to the
message lost) counts as sent, so a reader never gets two copies.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from email.utils import parseaddr
from typing import Any

from ..errors import DigestError
from ..settings import Settings
from ..store import QueuedMail, Store

log = logging.getLogger("digest.web")
RETRY_DELAYS = (5.0, 30.0, 120.0, 600.0, 1800.0)
GIVE_UP_SECONDS = 48 * 3600.0
LEASE_SECONDS = 600.0  # a claimed mail returns to the queue if its process died while sending it
POLL_SECONDS = 5.0  # also looks by itself: another process may queue, and retries fall due


class OutboxSender:
    def __init__(self, settings: Settings, make_mailer: Callable[[], Any],
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.make_mailer = make_mailer
        self.clock = clock
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="digest-outbox", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.send_due()
            except DigestError as err:  # the store is busy or broken: say so, try again later
                log.warning("outbox: %s", err)
            self._wake.wait(POLL_SECONDS)
            self._wake.clear()

    def send_due(self) -> int:
        """Send what is due; returns how many the relay accepted."""
        with Store.open(self.settings.state_db) as store:
            batch = store.take_mail(self.clock(), LEASE_SECONDS)
            if not batch:
                return 0
            return self._send(store, batch)

    def _send(self, store: Store, batch: list[QueuedMail]) -> int:
        sent = 0
        mailer = None
        try:
            mailer = self.make_mailer()
            for number, mail in enumerate(batch):
                try:
                    sent += self._send_one(store, mailer, mail)
                except DigestError as err:  # the relay (not this mail): the rest wait too
                    for waiting in batch[number:]:
                        self._later(store, waiting, str(err))
                    break
        except DigestError as err:  # no mailer (a setting): every mail waits
            for mail in batch:
                self._later(store, mail, str(err))
        finally:
            if mailer is not None:
                mailer.close()
        return sent

    def _send_one(self, store: Store, mailer: Any, mail: QueuedMail) -> int:
        sender = parseaddr(self.settings.from_addr)[1]
        delivery = mailer.send(sender, mail.recipient, mail.message)
        if delivery.status == "deferred":
            self._later(store, mail, delivery.error)
            return 0
        if delivery.status == "failed":
            log.warning("outbox: the relay refused the mail to %s: %s; not retried", mail.recipient, delivery.error)
        store.mail_done(mail.id)
        return int(delivery.ok)

    def _later(self, store: Store, mail: QueuedMail, error: str) -> None:
        now = self.clock()
        if now - mail.created >= GIVE_UP_SECONDS:
            log.warning("outbox: gave up the mail to %s after %d tries: %s", mail.recipient, mail.attempts + 1, error)
            store.mail_done(mail.id)
            return
        delay = RETRY_DELAYS[min(mail.attempts, len(RETRY_DELAYS) - 1)]
        log.info("outbox: the mail to %s waits %g s: %s", mail.recipient, delay, error)
        store.mail_later(mail.id, error, now + delay)
