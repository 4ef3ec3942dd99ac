"""The window after which an accepted delivery is recorded (issue #17): what the README says
(LINGER, 25 ms), on a timer, even while the thread that builds messages is busy, and
so after a kill -9 every digest the server accepted before that window is recorded."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from digest.mail import Mailer
from digest.sending.deliver import Outgoing, SendQueue
from digest.sending.record import LINGER, Recording
from digest.sending.report import SendReport
from digest.settings import load_settings
from digest.store import Store
from digest.store.journal import Journal

from .test_crash import Counting, counting, env_for, living, readers_file, send_command, wait_for  # noqa: F401


def test_an_accepted_delivery_is_recorded_within_the_linger_while_the_builder_is_busy(server, inbox, tmp_path):
    db = tmp_path / "state.db"
    Store.open(db).close()
    settings = load_settings(None, {"DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(server.port),
                                    "DIGEST_SMTP_SECURITY": "none", "DIGEST_FROM": "digest@example.com"})
    outgoing = SendQueue(Mailer(settings), "digest@example.com")
    recording = Recording(db, outgoing, Journal.beside(db), SendReport(), batch=50)
    message = b"From: digest@example.com\r\nTo: ada@example.org\r\nSubject: x\r\n\r\nhello\r\n"
    for number in range(3):  # the first batch is one answer, the next ones wait for the linger
        outgoing.submit(Outgoing(f"r{number}@example.org", f"<{number}@x>", message, ["2611.00001"]))
    recording.start()
    try:
        assert wait_for(lambda: len(inbox.messages) == 3, 5)
        accepted = time.monotonic()
        with Store.open(db) as store:  # the builder never comes back meanwhile: only the timer records
            assert wait_for(lambda: len(store.all_sent_ids()) == 3, 1)
            took = time.monotonic() - accepted
    finally:
        outgoing.close()
        recording.close()

    assert took < LINGER + 0.2
    recording.raise_if_broken()


@pytest.fixture
def counting_times():
    from aiosmtpd.controller import Controller

    from .smtp_server import free_port

    class Timed(Counting):
        def __init__(self) -> None:
            super().__init__()
            self.accepted: dict[str, float] = {}

        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            reply = await super().handle_DATA(server, session, envelope)
            for recipient in envelope.rcpt_tos:
                self.accepted.setdefault(recipient, time.monotonic())
            return reply

    handler = Timed()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port  # type: ignore[attr-defined]
    yield handler
    controller.stop()


def test_after_a_kill_every_digest_accepted_more_than_the_window_before_is_recorded(counting_times, tmp_path):
    """The end of a send is the long wait: every message is queued, the builder waits for the last answers."""
    subscribers = readers_file(tmp_path / "readers.toml", "k", 60)  # 40 get a digest
    counting_times.delay = 0.1
    process = subprocess.Popen(send_command(subscribers), env=env_for(counting_times.port, tmp_path), cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: len(counting_times.accepted) >= 36, 30)
        process.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        process.wait(5)
    finally:
        if process.poll() is None:
            process.kill()
    assert wait_for(lambda: living(str(subscribers)) == [], 5)

    with Store.open(Path(tmp_path / "state.db")) as store:
        recorded = set(store.all_sent_ids())
    window = LINGER + 0.1  # the linger, a commit, and a busy machine's scheduling
    early = {email for email, at in counting_times.accepted.items() if at < killed - window}
    assert early and early <= recorded, sorted(early - recorded)


def test_a_pace_that_fails_stops_the_queue_and_close_returns(server, inbox, tmp_path):
    """The shared pace lives in the store; if taking a turn ever raised, the sender thread used to die
    with the queue full behind it, and closing the queue waited for it forever."""
    from threading import Thread

    from digest.sending.deliver import Pace

    class Broken:
        def take(self) -> float:
            raise RuntimeError("the bucket is gone")

    settings = load_settings(None, {"DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(server.port),
                                    "DIGEST_SMTP_SECURITY": "none", "DIGEST_FROM": "digest@example.com"})
    pace = Pace(60.0)
    pace.turns = Broken()
    outgoing = SendQueue(Mailer(settings), "digest@example.com", depth=2, pace=pace)
    message = b"From: digest@example.com\r\nTo: ada@example.org\r\nSubject: x\r\n\r\nhello\r\n"
    for number in range(4):
        outgoing.submit(Outgoing(f"r{number}@example.org", f"<{number}@x>", message, ["2611.00001"]))
    closing = Thread(target=outgoing.close, daemon=True)
    closing.start()
    closing.join(10)

    assert not closing.is_alive()
    assert isinstance(outgoing.error, RuntimeError) and inbox.messages == []


def test_a_store_failing_while_the_queue_closes_does_not_take_the_threads_end_marks(counting, tmp_path):
    """The hang of a send whose database restarted: ``close`` had queued each thread's end mark
    behind the last messages when the recording thread found the store gone and halted the
    queue, which dropped the pending messages and the end marks with them; the sender thread
    then waited for a message forever, and ``close`` for it."""
    from threading import Thread

    counting.delay = 0.5  # the one thread is busy with its message while the queue is halted
    settings = load_settings(None, {"DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(counting.port),
                                    "DIGEST_SMTP_SECURITY": "none", "DIGEST_FROM": "digest@example.com"})
    outgoing = SendQueue(Mailer(settings), "digest@example.com", depth=4)
    message = b"From: digest@example.com\r\nTo: ada@example.org\r\nSubject: x\r\n\r\nhello\r\n"
    for number in range(3):
        outgoing.submit(Outgoing(f"r{number}@example.org", f"<{number}@x>", message, ["2611.00001"]))
    assert wait_for(counting.receiving.is_set, 5)
    closing = Thread(target=outgoing.close, daemon=True)
    closing.start()  # queues the end mark behind the two waiting messages
    time.sleep(0.1)
    outgoing.stop()  # what the recording thread does when the store fails
    closing.join(10)

    assert not closing.is_alive()
    assert outgoing.dropped == 2 and counting.copies("r0@example.org") == 1
