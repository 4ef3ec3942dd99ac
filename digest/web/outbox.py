"""The serving process sends the outbox (``digest.store.outbox``) in a background thread.

A sign-up queues its mail and wakes this thread; the page has already answered.
A relay that is down, busy or silent costs this thread time, never a request. A
mail the relay could not take waits ``RETRY_DELAYS`` (then the last one, again)
and is dropped, with a warning, after ``GIVE_UP_SECONDS``: its link has expired by
then. A relay's clear refusal (5xx) is final; an ambiguous end (the reply to the
message lost) counts as sent, so a reader never gets two copies. A mail to an
address suppressed since it was queued (a complaint, bounces) is dropped unsent.

A stop waits ``STOP_SECONDS`` for the mail in hand, not the relay's timeout: a mail
the relay has not answered by then stays queued, due at once, and is sent when the
server runs again (a second copy only if the relay had in fact taken it); the
mails of the batch not yet tried wait likewise.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from email.utils import parseaddr
from typing import Any

from ..errors import DigestError
from ..readers import unmailable
from ..settings import Settings
from ..store import QueuedMail, Store

log = logging.getLogger("digest.web")
RETRY_DELAYS = (5.0, 30.0, 120.0, 600.0, 1800.0)
GIVE_UP_SECONDS = 48 * 3600.0
LEASE_SECONDS = 600.0  # a claimed mail returns to the queue if its process died while sending it
POLL_SECONDS = 5.0  # also looks by itself: another process may queue, and retries fall due
STOP_SECONDS = 1.0  # how long a stop waits for the mail in hand (a silent relay holds it DIGEST_SMTP_TIMEOUT)


class OutboxSender:
    def __init__(self, settings: Settings, make_mailer: Callable[[], Any],
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.make_mailer = make_mailer
        self.clock = clock
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._claimed: dict[int, QueuedMail] = {}  # taken from the queue, neither sent nor put back yet
        self._claimed_lock = threading.Lock()

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="digest-outbox", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """Stop sending; a mail still in the relay's hands after ``timeout`` is left queued, due at once (the
        thread, a daemon, ends with the process)."""
        self._stop.set()
        self._wake.set()
        if self._thread is None:
            return
        self._thread.join(timeout)
        if self._thread.is_alive():
            try:
                with Store.open(self.settings.state_db) as store:
                    self._put_back(store)
            except DigestError as err:  # its claim lapses after LEASE_SECONDS instead
                log.warning("outbox: %s", err)

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
            with self._claimed_lock:
                self._claimed.update((mail.id, mail) for mail in batch)
            try:
                return self._send(store, batch)
            finally:
                self._put_back(store)  # what a stop left untried

    def _put_back(self, store: Store) -> None:
        """The claimed mails not sent (a stop came): due again now, not when their lease lapses."""
        with self._claimed_lock:
            left, self._claimed = list(self._claimed.values()), {}
        if not left:
            return
        store.release_mail([mail.id for mail in left], self.clock())
        for mail in left:
            log.warning("outbox: stopped before the relay took the mail to %s; it stays queued and is sent when "
                        "the server runs again (twice, if the relay had in fact taken it)", mail.recipient)

    def _settled(self, mail: QueuedMail) -> None:
        with self._claimed_lock:
            self._claimed.pop(mail.id, None)

    def _send(self, store: Store, batch: list[QueuedMail]) -> int:
        sent = 0
        mailer = None
        try:
            mailer = self.make_mailer()
            for number, mail in enumerate(batch):
                if self._stop.is_set():
                    break
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
        if why := unmailable(store, self.settings.secret_keys, mail.recipient):  # since the mail was queued
            log.info("outbox: not sending the mail to %s: %s", mail.recipient, why)
            store.mail_done(mail.id)
            self._settled(mail)
            return 0
        sender = parseaddr(self.settings.from_addr)[1]
        delivery = mailer.send(sender, mail.recipient, mail.message)
        if delivery.status == "deferred":
            self._later(store, mail, delivery.error)
            return 0
        if delivery.status == "failed":
            log.warning("outbox: the relay refused the mail to %s: %s; not retried", mail.recipient, delivery.error)
        store.mail_done(mail.id)
        self._settled(mail)
        return int(delivery.ok)

    def _later(self, store: Store, mail: QueuedMail, error: str) -> None:
        now = self.clock()
        if now - mail.created >= GIVE_UP_SECONDS:
            log.warning("outbox: gave up the mail to %s after %d tries: %s", mail.recipient, mail.attempts + 1, error)
            store.mail_done(mail.id)
            self._settled(mail)
            return
        delay = RETRY_DELAYS[min(mail.attempts, len(RETRY_DELAYS) - 1)]
        log.info("outbox: the mail to %s waits %g s: %s", mail.recipient, delay, error)
        store.mail_later(mail.id, error, now + delay)
        self._settled(mail)
