"""Sign-ups through the outbox: the page never waits on SMTP, the mail arrives once the relay is back, once.

A real uvicorn serving the real app, a real SQLite file, a real aiosmtpd started
late on the port that refused the first tries.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller

from digest.addresses import canonical_address, parse_address
from digest.store import Store

from .smtp_server import Inbox, free_port
from .smtp_server import start as start_relay
from .test_web_signup import link_in, sign_up
from .web_server import Web, csrf_of, running, wait_until


@pytest.fixture(autouse=True)
def quick_outbox(monkeypatch: pytest.MonkeyPatch, fast_retries: None) -> None:
    """The real retry delays are seconds to minutes; the rules are the same with short ones."""
    monkeypatch.setattr("digest.web.outbox.RETRY_DELAYS", (0.2, 0.4))
    monkeypatch.setattr("digest.web.outbox.POLL_SECONDS", 0.1)


@pytest.fixture
def web(tmp_path: Path, server, inbox):
    with running(tmp_path, signup=True, smtp_host="127.0.0.1", smtp_port=server.port,
                 smtp_security="none") as site:
        yield site


def test_a_signup_with_the_relay_down_is_delivered_once_the_relay_is_back(tmp_path: Path) -> None:
    port = free_port()  # nothing listens here yet: every try is refused
    with running(tmp_path, signup=True, smtp_host="127.0.0.1", smtp_port=port, smtp_security="none") as web:
        with web.client() as client:
            answer = sign_up(web, client, "late@example.org")
        assert answer.status_code == 200 and "Check your inbox" in answer.text
        wait_until(lambda: web.queued() and web.queued()[0][1] >= 2, what="the outbox never retried")
        [(recipient, attempts, error)] = web.queued()
        assert recipient == "late@example.org" and "cannot connect" in (error or "")
        inbox = Inbox()
        relay = Controller(inbox, hostname="127.0.0.1", port=port, auth_require_tls=False)
        relay.start()
        try:
            web.drain()
            time.sleep(1.0)  # several retry periods: a second copy would have come by now
        finally:
            relay.stop()
    [message] = inbox.to("late@example.org")
    assert "/confirm/" in message.get_content()
    assert message["Auto-Submitted"] == "auto-generated"  # RFC 3834: no vacation reply to it


def test_the_page_answers_while_the_relay_says_nothing(tmp_path: Path, inbox) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts, never greets: smtplib would wait DIGEST_SMTP_TIMEOUT (60 s) for a banner
    try:
        with running(tmp_path, signup=True, smtp_host="127.0.0.1", smtp_port=silent.getsockname()[1],
                     smtp_security="none", smtp_timeout=60.0) as web:
            with web.client() as client:
                started = time.monotonic()
                answer = sign_up(web, client, "patient@example.org")
                took = time.monotonic() - started
            assert answer.status_code == 200 and "Check your inbox" in answer.text
            assert took < 10, f"the page waited on SMTP ({took:.1f} s; the relay's timeout is 60 s)"
            assert [r for r, _, _ in web.queued()] == ["patient@example.org"]
    finally:
        silent.close()


@contextmanager
def serving(tmp_path: Path, relay_port: int) -> Iterator[subprocess.Popen[bytes]]:
    """A real `digest serve` process whose outbox mails through the relay on ``relay_port`` (30 s timeout)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("DIGEST_")}
    env.update({"DIGEST_STATE_DB": str(tmp_path / "state.db"), "DIGEST_SECRET_KEY": "Ut4nW8qZ1xC6vB3mK9pR2sL7",
                "DIGEST_FROM": "Digest <digest@example.com>", "DIGEST_SMTP_HOST": "127.0.0.1",
                "DIGEST_SMTP_PORT": str(relay_port), "DIGEST_SMTP_SECURITY": "none", "DIGEST_SMTP_TIMEOUT": "30"})
    with (tmp_path / "serve.log").open("ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "digest", "serve", "--port", str(free_port())],
                                   env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_stop_while_the_relay_says_nothing_is_prompt_and_the_mail_is_sent_after_the_restart(tmp_path: Path) -> None:
    with Store.open(tmp_path / "state.db") as store:
        message = b"To: waiting@example.org\r\nSubject: Confirm\r\n\r\nyour link\r\n"
        store.queue_mail("waiting@example.org", message, time.time())
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # accepts, never greets
        silent.settimeout(20)
        with serving(tmp_path, silent.getsockname()[1]) as serve:
            relay_side, _ = silent.accept()  # the outbox has the mail in hand and waits for the banner
            with relay_side:
                time.sleep(0.2)
                began = time.monotonic()
                serve.send_signal(signal.SIGTERM)
                serve.wait(20)
                took = time.monotonic() - began
    assert took < 3, f"the stop waited {took:.1f} s on a silent relay"
    with Store.open(tmp_path / "state.db") as store:
        assert [r for r, _, _ in store.queued_mail()] == ["waiting@example.org"]  # not lost
    inbox = Inbox()
    relay = start_relay(inbox)
    try:
        with serving(tmp_path, relay.port):  # restarted: the mail is due at once, not after its claim lapses
            wait_until(lambda: bool(inbox.to("waiting@example.org")), what="the mail was not sent after the restart",
                       timeout=10)
            time.sleep(0.3)
    finally:
        relay.stop()
    assert len(inbox.to("waiting@example.org")) == 1
    with Store.open(tmp_path / "state.db") as store:
        assert store.queued_mail() == []


def test_a_second_form_for_a_pending_signup_keeps_the_first_keywords(web: Web, inbox) -> None:
    with web.client() as client:
        sign_up(web, client, "twice@example.org", "diffusion")
        sign_up(web, client, "twice@example.org", "robotics")
        web.drain()
        first, second = inbox.to("twice@example.org")
        link = link_in(second)
        page = client.get(link).text  # the confirm page shows the keywords held: the first form's
        assert "<li>diffusion</li>" in page and "robotics" not in page
        client.post(link, data={"csrf": csrf_of(page)})
    with web.store() as store:
        state = store.reader_state("twice@example.org")
    assert state is not None and state.status == "active" and state.keywords == ("diffusion",)


def test_a_resubscription_after_an_unsubscribe_takes_the_keywords_typed(web: Web, inbox) -> None:
    def confirm(client: httpx.Client, keywords: str) -> None:
        before = len(inbox.to("back@example.org"))
        sign_up(web, client, "back@example.org", keywords)
        web.drain()
        link = link_in(inbox.to("back@example.org")[before])
        client.post(link, data={"csrf": csrf_of(client.get(link).text)})

    with web.client() as client:
        confirm(client, "diffusion")
        assert client.post(web.links("back@example.org").unsubscribe).status_code == 200
        assert web.status("back@example.org") == "unsubscribed"
        confirm(client, "robotics\nreward model*")
    with web.store() as store:
        state = store.reader_state("back@example.org")
    assert state is not None and state.status == "active" and state.keywords == ("robotics", "reward model*")


SPELLINGS = [
    "ada.lovelace@gmail.com", "adalovelace@gmail.com", "AdaLovelace@gmail.com", "ADA.LOVELACE@GMAIL.COM",
    "a.d.a.l.o.v.e.l.a.c.e@gmail.com", "ada.lovelace+digest@gmail.com", "adalovelace+x@gmail.com",
    "Ada.Lovelace+Papers@Gmail.com", "ada.lovelace@googlemail.com", "adalovelace@googlemail.com",
    "ADA.LOVELACE+1@GOOGLEMAIL.COM", "ada.love.lace@gmail.com", "adal.ovelace@gmail.com", "ada.lovelace+2@gmail.com",
    "ada.lovelace+3@gmail.com", "ada.lovelace+4@gmail.com", "a.da.lovelace@gmail.com", "ad.a.lovelace@gmail.com",
    "adaLOVELACE@gmail.com", "adalovelace+a+b@gmail.com", "adalovelace+@gmail.com", "Ada.Lovelace@GMail.com",
    "ada.lovelace+5@googlemail.com", "ada.lovelace+6@googlemail.com", "adalove.lace@googlemail.com",
    "ADALOVELACE+7@gmail.com", "adalovel.ace@gmail.com",
]


def test_27_spellings_of_one_address_get_at_most_the_per_address_limit(web: Web, inbox) -> None:
    assert len(set(SPELLINGS)) == 27 and len({canonical_address(parse_address(s)) for s in SPELLINGS}) == 1
    with web.client() as client:
        for n, spelling in enumerate(SPELLINGS):  # from 27 networks: the per-client limit is not what stops them
            network = {"x-forwarded-for": f"203.0.113.{n + 1}"}  # the form is fetched and posted from it
            page = client.get(f"{web.url}/subscribe", headers=network)
            answer = client.post(f"{web.url}/subscribe", headers=network,
                                 data={"csrf": csrf_of(page.text), "email": spelling, "keywords": "diffusion"})
            assert answer.status_code == 200
    web.drain()
    assert len(inbox.messages) == 3


@pytest.mark.parametrize(("spelling", "key"), [
    ("Ada@Example.org", "ada@example.org"),
    ("ada+tag@example.org", "ada+tag@example.org"),  # an unknown provider's plus-tag may be another mailbox
    ("a.da+x@googlemail.com", "ada@gmail.com"),
    ("Ada+News@Outlook.com", "ada@outlook.com"),
    ("ada.l+x@fastmail.com", "ada.l@fastmail.com"),  # dots matter everywhere but Gmail
    ("ADA@BÜCHER.example", "ada@xn--bcher-kva.example"),
    ("ada@xn--bcher-kva.example", "ada@xn--bcher-kva.example"),
])
def test_the_canonical_address_folds_what_the_provider_folds(spelling: str, key: str) -> None:
    assert canonical_address(parse_address(spelling)) == key


def test_one_ipv6_network_is_one_client() -> None:
    from digest.web.security import client_key

    assert client_key("2001:db8:1:2::5") == client_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::5") != client_key("2001:db8:1:2::5")
    assert client_key("::ffff:192.0.2.7") == client_key("192.0.2.7") == "192.0.2.7"


def test_an_idn_domain_is_mailed_in_punycode(web: Web, inbox) -> None:
    with web.client() as client:
        answer = sign_up(web, client, "ada@bücher.example")
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    web.drain()
    [message] = inbox.messages
    assert message["To"] == "ada@xn--bcher-kva.example"
    assert web.status("ada@xn--bcher-kva.example") == "pending"


def test_a_non_ascii_mailbox_name_is_refused_with_a_reason_and_leaves_nothing(web: Web, inbox) -> None:
    with web.client() as client:
        answer = sign_up(web, client, "josé@bücher.example")
    assert answer.status_code == 400 and "beyond ASCII before the @" in answer.text
    assert web.queued() == [] and web.status("josé@bücher.example") is None
    with web.store() as store:
        assert store.reader_states() == {}
