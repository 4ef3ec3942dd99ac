"""Several SMTP connections (DIGEST_SMTP_CONNECTIONS) fed by one producer: the same
rules per connection, nothing lost or duplicated when one of them fails, counted at the server."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from digest.app import Digest
from digest.errors import MailError
from digest.limits import Turns
from digest.model import Subscriber
from digest.settings import load_settings
from digest.store import Store

from .conftest import FIXTURES

READERS = [Subscriber(f"r{n}@example.org", ("exploration",)) for n in range(30)]


pytestmark = pytest.mark.usefixtures("fast_retries")


def app_for(port: int, tmp_path: Path, **extra: str) -> Digest:
    return Digest(load_settings(None, {
        "DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(port), "DIGEST_SMTP_SECURITY": "none",
        "DIGEST_FROM": "digest@example.com", "DIGEST_STATE_DB": str(tmp_path / "state.db"),
        "DIGEST_MIN_SCORE": "1", "DIGEST_SMTP_TIMEOUT": "5", "DIGEST_SMTP_CONNECTIONS": "3", **extra}))


def send(app: Digest, readers=READERS):
    with app:
        return app.send(readers, source=str(FIXTURES / "papers.jsonl"))


def test_three_connections_deliver_each_message_once(faulty, faults, tmp_path):
    report = send(app_for(faulty.port, tmp_path))

    assert sorted(report.sent) == sorted(r.email for r in READERS)
    assert all(faults.to(r.email) == 1 for r in READERS)
    assert faults.most_open == 3 and faults.connections == 3


def test_a_421_and_a_dropped_connection_mid_batch_lose_and_duplicate_nothing(faulty, faults, tmp_path):
    faults.mail += [""] * 7 + ["421 4.4.2 closing connection"] + [""] * 6 + ["drop"]

    report = send(app_for(faulty.port, tmp_path))

    assert sorted(report.sent) == sorted(r.email for r in READERS) and not report.failed
    assert [faults.to(r.email) for r in READERS] == [1] * 30, "counted at the server"
    assert faults.connections == 5  # three, and one reconnect after each failure
    with Store.open(tmp_path / "state.db") as store:
        assert len(store.all_sent_ids()) == 30


def test_a_server_that_takes_fewer_connections_at_once_gets_every_message_on_those_it_takes(faulty, faults,
                                                                                            tmp_path, caplog):
    """A provider's cap on connections at once (Exchange Online: 421 4.3.2 to the one too many) is not a
    server that is down: the connection it turns away hands its message to the others, and the run goes on."""
    faults.most_at_once = 2
    readers = [Subscriber(f"r{n}@example.org", ("exploration",)) for n in range(200)]

    report = send(app_for(faulty.port, tmp_path, DIGEST_SMTP_CONNECTIONS="4"), readers)

    assert sorted(report.sent) == sorted(r.email for r in readers) and not report.failed
    assert [faults.to(r.email) for r in readers] == [1] * 200, "counted at the server"
    assert faults.connections > 2, "the server turned some away"
    assert caplog.text.count("lower DIGEST_SMTP_CONNECTIONS") == 1, "said once a run"


def test_an_unreachable_server_stops_the_run_once(tmp_path):
    from .smtp_server import free_port

    with pytest.raises(MailError, match="cannot connect") as info:
        send(app_for(free_port(), tmp_path))

    assert str(info.value).count("cannot connect") == 1


def test_a_login_required_for_everyone_stops_all_connections_with_one_error(faulty, faults, tmp_path):
    faults.mail_always = "530 5.7.0 Authentication required"

    with pytest.raises(MailError, match="set DIGEST_SMTP_USER"):
        send(app_for(faulty.port, tmp_path))

    assert faults.mail_commands <= 3 and faults.received == []


def test_a_stop_signal_finishes_the_message_in_hand_on_every_connection(tmp_path, inbox, server):
    inbox.delay = 0.5  # each connection sits on DATA: the stop lands with three messages in hand
    app = app_for(server.port, tmp_path)
    threading.Thread(target=lambda: (inbox.receiving.wait(10), time.sleep(0.1), app.stopping.set()),
                     daemon=True).start()

    report = send(app, READERS[:12])

    with Store.open(tmp_path / "state.db") as store:
        recorded = {email for email, ids in store.all_sent_ids().items() if ids}
    assert len(inbox.messages) == 3, "each connection finished the message it held, and took no other"
    assert recorded == {m["To"] for m in inbox.messages} == set(report.sent)
    assert report.stopped == 9


@pytest.mark.parametrize("busy", ["451 to MAIL", "421 greeting"])
def test_a_stop_signal_cuts_a_backoff_short_and_the_reader_waits_for_the_next_run(faulty, faults, tmp_path,
                                                                                monkeypatch, busy):
    monkeypatch.setattr("digest.mail.BACKOFF", (60.0,) * 4)  # without the cut, the stop waits a minute
    if busy == "451 to MAIL":
        faults.mail.append("451 4.3.0 try again later")
    else:
        faults.greet[1] = "421 4.3.2 busy, try again"
    app = app_for(faulty.port, tmp_path, DIGEST_SMTP_CONNECTIONS="1")
    turned_away = (lambda: faults.mail_commands >= 1) if busy == "451 to MAIL" else (lambda: faults.connections >= 1)
    threading.Thread(target=stop_once, args=(turned_away, app), daemon=True).start()

    began = time.monotonic()
    report = send(app, READERS[:2])
    took = time.monotonic() - began

    assert took < 20, f"the stop waited out the backoff ({took:.1f} s)"
    assert report.sent == [] and report.deferred == {} and report.stopped == 2 and faults.received == []
    with Store.open(tmp_path / "state.db") as store:
        assert store.message_status(READERS[0].email) == [], "nothing recorded: not sent, not deferred"
    again = send(app_for(faulty.port, tmp_path, DIGEST_SMTP_CONNECTIONS="1"), READERS[:2])
    assert sorted(again.sent) == [r.email for r in READERS[:2]] and len(faults.received) == 2


def stop_once(turned_away, app: Digest) -> None:
    """The stop signal, once the server has turned the first try away (the sender is in its backoff)."""
    deadline = time.monotonic() + 30
    while not turned_away() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    app.stopping.set()


def test_the_rate_limit_paces_the_whole_pool(faulty, faults, tmp_path):
    began = time.monotonic()
    report = send(app_for(faulty.port, tmp_path, DIGEST_SMTP_RATE="600"), READERS[:6])  # one every 0.1 s

    assert len(report.sent) == 6 and time.monotonic() - began >= 0.5


def test_a_stopped_send_takes_no_turns_of_the_rate_limit_for_the_messages_it_leaves(faulty, faults, tmp_path):
    """The turns are shared with every send from this store (shards, the run after a restart): a message the
    stop leaves for the next run must not push their first turn back."""
    app = app_for(faulty.port, tmp_path, DIGEST_SMTP_CONNECTIONS="1", DIGEST_SMTP_RATE="6")  # a turn every 10 s
    faults.on_received.append((1, app.stopping.set))  # the stop lands as the first message is queued

    report = send(app, READERS[:5])

    assert len(report.sent) == 1 and report.stopped == 4
    wait = Turns(tmp_path / "state.db", "smtp", 10.0).take()
    assert wait <= 10.0, f"the next send waits {wait:.0f} s for its first turn, not at most one turn"


@pytest.mark.parametrize("value", ["0", "33", "many"])
def test_the_number_of_connections_is_checked_when_settings_load(value):
    from digest.errors import ConfigError

    with pytest.raises(ConfigError, match=f"DIGEST_SMTP_CONNECTIONS='{value}'"):
        load_settings(None, {"DIGEST_SMTP_CONNECTIONS": value})
