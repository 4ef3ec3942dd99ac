"""Sending against a real aiosmtpd server: every digest delivered once, nothing lost."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import trustme

from digest.app import Digest
from digest.errors import AuthError, MailError
from digest.lock import Shard
from digest.model import Subscriber
from digest.settings import load_settings
from digest.store import Store

from .conftest import FIXTURES
from .smtp_server import Authenticator, Inbox, start

READERS = [
    Subscriber("ada@example.org", ("reward model", "RLHF"), name="Ada"),
    Subscriber("bob@example.org", ("exploration",)),
]


def settings_for(controller, tmp_path: Path, **extra: str):
    env = {
        "DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(controller.port),
        "DIGEST_SMTP_SECURITY": "none", "DIGEST_FROM": "Digest <digest@example.com>",
        "DIGEST_STATE_DB": str(tmp_path / "state.db"), "DIGEST_MIN_SCORE": "1",
        "DIGEST_SMTP_TIMEOUT": "5", **extra,
    }
    return load_settings(None, env)


def send(settings, readers=READERS, **kwargs):
    return Digest(settings).send(readers, source=str(FIXTURES / "papers.jsonl"), **kwargs)


def test_one_message_per_reader_with_both_parts_and_headers(server, inbox, tmp_path) -> None:
    report = send(settings_for(server, tmp_path))
    assert sorted(report.sent) == ["ada@example.org", "bob@example.org"]
    message = inbox.to("ada@example.org")[0]
    for header in ("From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe"):
        assert message[header], header
    assert message["List-Unsubscribe"] == "<mailto:digest@example.com?subject=unsubscribe>"
    assert message.get_content_type() == "multipart/alternative"
    kinds = [part.get_content_type() for part in message.iter_parts()]
    assert kinds == ["text/plain", "text/html"]
    assert "Reward Models for RLHF" in message.get_body(("html",)).get_content()
    assert "Reward Models for RLHF" in message.get_body(("plain",)).get_content()


def test_a_second_send_the_same_day_sends_nothing(server, inbox, tmp_path) -> None:
    settings = settings_for(server, tmp_path)
    send(settings)
    again = send(settings)
    assert again.sent == [] and sorted(again.nothing_new) == ["ada@example.org", "bob@example.org"]
    assert len(inbox.messages) == 2
    forced = send(settings, force=True)
    assert len(forced.sent) == 2


def test_one_unsubscribe_url_for_every_reader_claims_no_one_click_and_keeps_the_mailto(server, inbox,
                                                                                         tmp_path) -> None:
    """RFC 8058: a One-Click POST carries nothing but the URI, so a URI shared by all readers cannot say who
    leaves; only a reader's own signed link (DIGEST_PUBLIC_URL) gets One-Click."""
    send(settings_for(server, tmp_path, DIGEST_UNSUBSCRIBE_URL="https://example.com/u?id=1"))
    message = inbox.messages[0]
    assert message["List-Unsubscribe"] == "<https://example.com/u?id=1>, <mailto:digest@example.com?subject=unsubscribe>"
    assert message["List-Unsubscribe-Post"] is None


def test_transient_451_is_retried_and_delivered_once(server, inbox, tmp_path) -> None:
    inbox.replies.append("451 4.3.0 try again later")
    report = send(settings_for(server, tmp_path), readers=READERS[:1])
    assert report.sent == ["ada@example.org"] and len(inbox.messages) == 1


def test_permanent_550_fails_one_reader_and_the_next_run_retries_only_them(server, inbox, tmp_path) -> None:
    settings = settings_for(server, tmp_path)
    inbox.refuse.add("bob@example.org")
    report = send(settings)
    assert report.sent == ["ada@example.org"] and "bob@example.org" in report.failed
    inbox.refuse.clear()
    second = send(settings)
    assert second.sent == ["bob@example.org"]
    assert len(inbox.to("ada@example.org")) == 1 and len(inbox.to("bob@example.org")) == 1


def test_server_down_records_nothing_and_the_next_run_delivers(inbox, tmp_path) -> None:
    controller = start(inbox)
    controller.stop()
    settings = settings_for(controller, tmp_path)
    with pytest.raises(MailError, match="cannot connect"):
        send(settings)
    with Store.open(settings.state_db) as store:
        assert store.all_sent_ids() == {}
    controller = start(inbox)
    try:
        report = send(settings_for(controller, tmp_path))
    finally:
        controller.stop()
    assert len(report.sent) == 2 and len(inbox.messages) == 2


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def tls_settings(controller, tmp_path, ca, security: str, **extra: str):
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return settings_for(controller, tmp_path, DIGEST_SMTP_SECURITY=security, DIGEST_SMTP_CA_FILE=str(ca_file),
                        DIGEST_SMTP_HOST="localhost", **extra)


def server_context(ca):
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    return context


@pytest.mark.parametrize("security, implicit", [("starttls", False), ("ssl", True)])
def test_tls_with_a_trusted_certificate_and_login(inbox, tmp_path, ca, security, implicit) -> None:
    controller = start(inbox, tls=server_context(ca), implicit=implicit, auth=Authenticator("ada", "s3cret"))
    try:
        report = send(tls_settings(controller, tmp_path, ca, security, DIGEST_SMTP_USER="ada", DIGEST_SMTP_PASSWORD="s3cret"))
    finally:
        controller.stop()
    assert len(report.sent) == 2


def test_wrong_password_stops_at_once_and_never_shows_it(inbox, tmp_path, ca) -> None:
    controller = start(inbox, tls=server_context(ca), auth=Authenticator("ada", "s3cret"))
    try:
        settings = tls_settings(controller, tmp_path, ca, "starttls", DIGEST_SMTP_USER="ada", DIGEST_SMTP_PASSWORD="wrong-pw")
        with pytest.raises(AuthError) as info:
            send(settings)
    finally:
        controller.stop()
    assert "DIGEST_SMTP_PASSWORD" in str(info.value) and "wrong-pw" not in str(info.value)
    assert inbox.messages == []


class BusyAtFirst(Authenticator):
    """Gmail's answer to too many logins at once: a temporary failure (RFC 4954 454), not a wrong password."""

    def __init__(self, user: str, password: str, busy: int) -> None:
        super().__init__(user, password)
        self.busy = busy  # AUTH commands answered 454 first (smtplib tries PLAIN, then LOGIN)

    def __call__(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult

        if self.busy:
            self.busy -= 1
            return AuthResult(success=False, handled=False,
                              message="454 4.7.0 Too many login attempts, please try again later.")
        return super().__call__(server, session, envelope, mechanism, auth_data)


@pytest.mark.usefixtures("fast_retries")
def test_a_temporary_login_failure_is_retried_not_reported_as_a_wrong_password(inbox, tmp_path, ca) -> None:
    controller = start(inbox, tls=server_context(ca), auth=BusyAtFirst("ada", "s3cret", busy=2))
    try:
        report = send(tls_settings(controller, tmp_path, ca, "starttls", DIGEST_SMTP_USER="ada",
                                   DIGEST_SMTP_PASSWORD="s3cret", DIGEST_SMTP_CONNECTIONS="1"))
    finally:
        controller.stop()
    assert sorted(report.sent) == ["ada@example.org", "bob@example.org"] and len(inbox.messages) == 2


class BusyHello(Inbox):
    """Gmail's answer to too many connections: "421 4.7.0 Try again later, closing connection. (EHLO)"."""

    def __init__(self, busy: int) -> None:
        super().__init__()
        self.busy = busy  # EHLO commands answered 421 first

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        if self.busy:
            self.busy -= 1
            return ["421 4.7.0 Try again later, closing connection. (EHLO)"]
        session.host_name = hostname  # what aiosmtpd does itself when no handler answers EHLO
        return responses


@pytest.mark.usefixtures("fast_retries")
@pytest.mark.parametrize("security, implicit", [("starttls", False), ("ssl", True)])
def test_a_421_to_ehlo_is_a_busy_server_retried_not_a_missing_starttls(tmp_path, ca, security, implicit) -> None:
    inbox = BusyHello(busy=1)
    controller = start(inbox, tls=server_context(ca), implicit=implicit, auth=Authenticator("ada", "s3cret"))
    try:
        report = send(tls_settings(controller, tmp_path, ca, security, DIGEST_SMTP_USER="ada",
                                   DIGEST_SMTP_PASSWORD="s3cret", DIGEST_SMTP_CONNECTIONS="1"))
    finally:
        controller.stop()
    assert sorted(report.sent) == ["ada@example.org", "bob@example.org"] and len(inbox.messages) == 2


def test_untrusted_certificate_is_refused(inbox, tmp_path, ca) -> None:
    controller = start(inbox, tls=server_context(ca))
    try:
        settings = settings_for(controller, tmp_path, DIGEST_SMTP_SECURITY="starttls", DIGEST_SMTP_HOST="localhost")
        with pytest.raises(MailError, match="not trusted"):
            send(settings)
    finally:
        controller.stop()


def test_dry_run_writes_eml_files_and_records_nothing(tmp_path) -> None:
    settings = load_settings(None, {"DIGEST_FROM": "d@example.com", "DIGEST_STATE_DB": str(tmp_path / "s.db"), "DIGEST_MIN_SCORE": "1"})
    report = send(settings, dry_run=True, outbox=tmp_path / "out")
    assert len(report.written) == 2 and all(p.read_bytes().startswith(b"From: ") for p in report.written)
    with Store.open(settings.state_db) as store:
        assert store.all_sent_ids() == {}


def test_two_processes_started_together_deliver_once(server, inbox, tmp_path) -> None:
    env = {**os.environ, "DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(server.port),
           "DIGEST_SMTP_SECURITY": "none", "DIGEST_FROM": "digest@example.com", "DIGEST_TO": "ada@example.org",
           "DIGEST_KEYWORDS": "reward model, exploration", "DIGEST_STATE_DB": str(tmp_path / "state.db"),
           "DIGEST_MIN_SCORE": "1"}
    command = [sys.executable, "-m", "digest", "send", "--source", str(FIXTURES / "papers.jsonl")]
    procs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    codes = [p.wait(timeout=60) for p in procs]
    assert codes == [0, 0]
    assert len(inbox.messages) == 1


def test_a_big_list_built_by_a_forked_producer_is_delivered_once_each(server, inbox, tmp_path) -> None:
    """`digest send` in its own (single-threaded) process forks a renderer for big lists."""
    from digest.app import PRODUCER_MIN

    readers = PRODUCER_MIN + 20
    lines = []
    for n in range(readers):
        keywords = '["reward model", "exploration"]' if n % 3 else '["quantum chromodynamics"]'
        lines.append(f'[[subscribers]]\nemail = "reader{n}@example.org"\nkeywords = {keywords}\n')
    subscribers = tmp_path / "subscribers.toml"
    subscribers.write_text("\n".join(lines), encoding="utf-8")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")},
           "DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(server.port), "DIGEST_SMTP_SECURITY": "none",
           "DIGEST_FROM": "digest@example.com", "DIGEST_SUBSCRIBERS": str(subscribers),
           "DIGEST_STATE_DB": str(tmp_path / "state.db"), "DIGEST_MIN_SCORE": "1"}
    command = [sys.executable, "-m", "digest", "-v", "send", "--source", str(FIXTURES / "papers.jsonl")]

    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    matching = sum(1 for n in range(readers) if n % 3)
    assert first.returncode == 0, first.stderr
    assert f"building {readers} messages in a second process" in first.stderr
    assert first.stdout.strip().endswith(f"sent {matching}, nothing new {readers - matching}, failed 0")
    assert sorted(m["To"] for m in inbox.messages) == sorted(f"reader{n}@example.org" for n in range(readers) if n % 3)
    assert again.stdout.strip().endswith(
        f"sent 0, nothing new {readers - matching}, failed 0, already had today's {matching}")
    with Store.open(tmp_path / "state.db") as store:
        assert len(store.all_sent_ids()) == matching
        first_run = store.last_runs(2)[1]
        # a run's own messages, as `digest status` counts an unfinished one: the renderer's name the send's process
        assert store.recorded_during(first_run) == (matching, 0)


def test_non_ascii_subjects_are_encoded_words_that_decode_back() -> None:
    from email.header import decode_header, make_header

    from digest.mime import encode_header

    subject = "Paper digest · 12 new: Über-große Sprachmodelle und 数学 " + "x" * 80
    encoded = encode_header(subject)

    assert encoded.isascii() and all(len(line) <= 78 for line in encoded.split("\r\n"))
    assert str(make_header(decode_header(encoded))) == subject


def test_sigterm_during_a_send_records_what_went_out_and_the_next_run_sends_the_rest(inbox, tmp_path) -> None:
    import signal
    import time

    inbox.delay = 0.4  # each message takes a while: the signal lands mid-batch
    controller = start(inbox)
    try:
        lines = [f'[[subscribers]]\nemail = "reader{n}@example.org"\nkeywords = ["exploration"]\n' for n in range(6)]
        (tmp_path / "subscribers.toml").write_text("\n".join(lines), encoding="utf-8")
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")},
               "DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(controller.port),
               "DIGEST_SMTP_SECURITY": "none", "DIGEST_FROM": "digest@example.com",
               "DIGEST_SUBSCRIBERS": str(tmp_path / "subscribers.toml"),
               "DIGEST_STATE_DB": str(tmp_path / "state.db"), "DIGEST_MIN_SCORE": "1"}
        command = [sys.executable, "-m", "digest", "send", "--source", str(FIXTURES / "papers.jsonl")]
        first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while not inbox.receiving.is_set() and time.monotonic() < deadline:
            time.sleep(0.02)
        first.send_signal(signal.SIGTERM)
        out, err = first.communicate(timeout=30)
        delivered_first = len(inbox.messages)

        with Store.open(tmp_path / "state.db") as store:
            recorded = {email for email, ids in store.all_sent_ids().items() if ids}
        inbox.delay = 0
        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    finally:
        controller.stop()

    assert first.returncode == 1, err
    assert "stopping after the current message" in err and "stopped early" in out
    assert 1 <= delivered_first < 6
    assert recorded == {m["To"] for m in inbox.messages[:delivered_first]}
    assert second.returncode == 0, second.stderr
    assert sorted(m["To"] for m in inbox.messages) == sorted(f"reader{n}@example.org" for n in range(6))


FOUR = [Subscriber(f"{name}@example.org", ("exploration",)) for name in ("ada", "bob", "cy", "dee")]


@pytest.mark.parametrize(("kwargs", "left"), [
    pytest.param({}, 4, id="the whole list"),
    pytest.param({"only": "Bob@example.org"}, 1, id="--subscriber"),
    pytest.param({"shard": Shard.parse("2/3")}, len(Shard.parse("2/3").select(FOUR)), id="--shard 2/3"),
])
def test_a_send_stopped_while_fetching_leaves_over_the_readers_it_was_for(server, inbox, tmp_path, kwargs,
                                                                         left) -> None:
    app = Digest(settings_for(server, tmp_path))
    app.stopping.set()  # a SIGTERM while the listing is fetched

    report = app.send(FOUR, source=str(FIXTURES / "papers.jsonl"), **kwargs)

    with Store.open(tmp_path / "state.db") as store:
        [run] = store.last_runs()
    assert (report.stopped, run.left_over) == (left, left) and inbox.messages == []


def test_sigterm_while_a_forked_producer_embeds_stops_the_send_in_a_second(server, inbox, tmp_path) -> None:
    """`digest send` waits for its renderer's first message while the renderer embeds the day's papers (a
    minute on a slow CPU with DIGEST_SEMANTIC): a SIGTERM then stops it at once, every reader left over."""
    import signal
    import time

    from digest.app import PRODUCER_MIN

    readers = PRODUCER_MIN + 20
    lines = [f'[[subscribers]]\nemail = "reader{n}@example.org"\nkeywords = ["exploration"]\n' for n in range(readers)]
    (tmp_path / "subscribers.toml").write_text("\n".join(lines), encoding="utf-8")
    folder = str(Path(__file__).parent / "slow_embedder")  # a model that takes a second for 64 texts
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")},
           "PYTHONPATH": os.pathsep.join(p for p in (folder, os.environ.get("PYTHONPATH")) if p),
           "DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(server.port), "DIGEST_SMTP_SECURITY": "none",
           "DIGEST_FROM": "digest@example.com", "DIGEST_SUBSCRIBERS": str(tmp_path / "subscribers.toml"),
           "DIGEST_STATE_DB": str(tmp_path / "state.db"), "DIGEST_SEMANTIC": "true"}
    papers = tmp_path / "papers.jsonl"
    papers.write_text("".join(f'{{"id": "2603.{n:05d}", "title": "Exploration study {n}", "abstract": "On '
                              f'exploration, part {n}."}}\n' for n in range(640)))  # ten seconds of the model
    command = [sys.executable, "-m", "digest", "-v", "send", "--source", str(papers)]
    send = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = ""
    while "embedding" not in seen and send.poll() is None:
        seen += send.stderr.readline()
    began = time.monotonic()
    send.send_signal(signal.SIGTERM)
    out, err = send.communicate(timeout=30)
    took = time.monotonic() - began

    assert f"building {readers} messages in a second process" in seen, seen + err
    assert send.returncode == 1 and took < 4, f"{took:.1f} s: {err}"
    assert f"stopped early, {readers} left for the next run" in out and not inbox.messages
    with Store.open(tmp_path / "state.db") as store:
        [run] = store.last_runs()
    assert run.left_over == readers and run.error is None


@pytest.mark.parametrize("kwargs", [
    pytest.param({"only": "bob@example.org"}, id="--subscriber"),
    pytest.param({"shard": next(Shard.parse(f"{k}/3") for k in (1, 2, 3)
                                if not Shard.parse(f"{k}/3").owns("cy@example.org"))}, id="--shard"),
])
def test_a_send_for_some_readers_counts_only_their_skips(server, inbox, tmp_path, kwargs) -> None:
    """``send --subscriber bob`` said "skipped 1 (1 paused)" for cy, whom it was never for; a shard counted
    every other shard's skipped readers too."""
    settings = settings_for(server, tmp_path)
    with Store.open(tmp_path / "state.db") as store:
        store.set_status("cy@example.org", "paused")

    report = Digest(settings).send(FOUR, source=str(FIXTURES / "papers.jsonl"), **kwargs)

    assert "cy@example.org" not in report.skipped and "skipped" not in report.summary()


def test_a_send_for_one_reader_still_says_why_that_reader_is_skipped(server, inbox, tmp_path) -> None:
    with Store.open(tmp_path / "state.db") as store:
        store.set_status("cy@example.org", "paused")

    report = Digest(settings_for(server, tmp_path)).send(FOUR, source=str(FIXTURES / "papers.jsonl"),
                                                         only="cy@example.org")

    assert report.skipped == {"cy@example.org": "paused"} and inbox.messages == []
