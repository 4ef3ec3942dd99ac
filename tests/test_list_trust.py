"""What a big mailbox provider checks of a list (Gmail's and Yahoo's bulk-sender rules of 2024), on the bytes a
real SMTP server (aiosmtpd) received from ``digest send`` and on what the real web app does with them."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from digest.mime import list_id

from .smtp_server import start
from .test_mime_wire import RawInbox

KEY = "Zq7VhX2mN9pL4tR8wK3cF6yB1dG5sJ0a"
ADA = "ada@example.org"
# RFC 2919: List-Id: [phrase] <list-label "." list-id-namespace>, the label a dot-atom
LIST_ID = re.compile(r"(?:[^<>]*\s)?<[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)+>")


@pytest.fixture
def wire(tmp_path: Path):
    inbox = RawInbox()
    controller = start(inbox)
    yield inbox, controller.port
    controller.stop()


def env_file(tmp_path: Path, port: int, *lines: str) -> Path:
    subscribers = tmp_path / "subscribers.toml"
    subscribers.write_text(f'[[subscribers]]\nemail = "{ADA}"\nname = "Ada Lovelace"\nkeywords = ["reward model*"]\n')
    path = tmp_path / "digest.env"
    path.write_text("\n".join([
        f"DIGEST_SUBSCRIBERS={subscribers}", f"DIGEST_STATE_DB={tmp_path / 'state.db'}", "DIGEST_SOURCE=sample",
        "DIGEST_FROM=Paper Digest <digest@example.com>", "DIGEST_MIN_SCORE=1", "DIGEST_SMTP_HOST=127.0.0.1",
        f"DIGEST_SMTP_PORT={port}", "DIGEST_SMTP_SECURITY=none", f"DIGEST_SECRET_KEY={KEY}",
        "DIGEST_PUBLIC_URL=https://digest.example.com", "DIGEST_BOUNCE_ADDRESS=bounces@example.com", *lines]) + "\n")
    return path


def head_of(raw: bytes) -> str:
    return raw.split(b"\r\n\r\n", 1)[0].decode("ascii")


@pytest.mark.parametrize("sender, label", [
    ("Paper Digest <digest@example.com>", "Paper Digest <digest.example.com>"),
    ("digest@example.com", "<digest.example.com>"),
    ("Résumé (du jour) <papers+ml@lists.example.com>", "<papers+ml.lists.example.com>"),
])
def test_a_digest_on_the_wire_names_its_list_in_a_well_formed_list_id(wire, tmp_path: Path, run_cli, sender,
                                                                         label) -> None:
    inbox, port = wire
    env = env_file(tmp_path, port, f"DIGEST_FROM={sender}")
    code, out, err = run_cli("--env-file", str(env), "send")
    assert code == 0, out + err
    [(_, raw)] = inbox.raw
    message = message_from_bytes(raw, policy=policy.default)
    value = " ".join(message.get_all("List-Id", []))
    assert LIST_ID.fullmatch(value), head_of(raw)
    assert str(message["List-Id"]).endswith(label)
    written = re.search(r"^List-Id:.*?\r\n(?![ \t])", head_of(raw) + "\r\n", re.M | re.S).group(0)
    assert all(len(line) <= 78 for line in written.split("\r\n")), written


def test_a_long_name_beyond_ascii_keeps_the_list_id_within_78_columns_and_reads_back() -> None:
    name = "Résumé des papiers du jour, édition spéciale pour les lecteurs 田中俊介"
    value = list_id(name, "digest@example.com")
    assert all(len(line) <= 78 for line in f"List-Id: {value}".split("\r\n")), value
    parsed = message_from_bytes(f"List-Id: {value}\r\n\r\n".encode("ascii"), policy=policy.default)
    assert str(parsed["List-Id"]) == f"{name} <digest.example.com>"


# a suppressed address gets nothing from the web app either ------------------------------------------------------

@pytest.fixture
def signup_web(tmp_path: Path, server, inbox):
    from .web_server import running

    with running(tmp_path, signup=True, smtp_host="127.0.0.1", smtp_port=server.port, smtp_security="none") as site:
        yield site


def suppress(web, email: str, kind: str) -> None:
    from datetime import date

    from digest.store.bounces import BounceEvent, Rule

    with web.store() as store:
        store.record_bounce(BounceEvent(f"mail:{email}", email, date(2026, 3, 2), kind, "report"), Rule(threshold=1))


@pytest.mark.parametrize("kind", ["complaint", "hard"])
@pytest.mark.parametrize("email", ["ada@example.org", "dan@example.org"], ids=["roster-reader", "web-reader"])
def test_a_sign_up_for_a_suppressed_address_mails_it_nothing_and_answers_as_for_any(signup_web, inbox, kind,
                                                                                    email) -> None:
    """A form anyone can post must not make the list mail an address that filed a spam complaint (or whose
    mailbox bounced): the provider counts that mail against the sender. Only `digest readers resume` lifts it."""
    from .test_web_signup import _same, sign_up

    web = signup_web
    if email == "dan@example.org":  # a reader who signed up on the web, confirmed, and was later suppressed
        with web.store() as store:
            store.request_signup(email, "rid-dan", ["diffusion"])
            store.confirm_signup(email)
    suppress(web, email, kind)
    with web.client() as client:
        answer = sign_up(web, client, email)
        other = sign_up(web, client, "fresh@example.org")
    web.drain()
    assert answer.status_code == other.status_code == 200 and _same(answer.text) == _same(other.text)
    assert inbox.to(email) == [] and len(inbox.to("fresh@example.org")) == 1
    with web.store() as store:
        assert store.suppression(email) is not None


@pytest.mark.parametrize("kind, mailed", [("complaint", 0), ("hard", 0), ("unsubscribed", 1)])
def test_a_reader_removed_while_suppressed_is_mailed_nothing_by_a_sign_up_one_removed_unsubscribed_is(
        signup_web, inbox, run_cli, kind, mailed) -> None:
    """`digest readers remove` keeps a suppression as a keyed hash of the address: still a suppression."""
    from .test_web_signup import sign_up

    web = signup_web
    env = web.settings.state_db.parent / "digest.env"
    env.write_text(f"DIGEST_SUBSCRIBERS={web.settings.subscribers}\nDIGEST_STATE_DB={web.settings.state_db}\n"
                   f"DIGEST_SECRET_KEY={web.settings.secret_key}\nDIGEST_FROM=Digest <digest@example.com>\n")
    if kind == "unsubscribed":
        with web.store() as store:
            store.set_status(ADA, "unsubscribed", by="web")
    else:
        suppress(web, ADA, kind)
    code, out, err = run_cli("--env-file", str(env), "readers", "remove", ADA)
    assert code == 0 and "keyed hash" in out, out + err
    with web.client() as client:
        assert sign_up(web, client, ADA).status_code == 200
    web.drain()
    assert len(inbox.to(ADA)) == mailed


def test_a_mail_queued_before_its_address_was_suppressed_is_not_sent(signup_web, inbox) -> None:
    from datetime import datetime, timezone

    from digest.web.signup import build_mail

    web = signup_web
    web.handle.stop()  # no outbox running: the mail waits in the queue
    now = datetime.now(timezone.utc)
    with web.store() as store:
        store.queue_mail("eve@example.org", build_mail(web.settings, "eve@example.org", "Hi", "Text.\n", now),
                         now.timestamp())
    suppress(web, "eve@example.org", "complaint")
    from digest.web.outbox import OutboxSender
    from digest.mail import Mailer

    sender = OutboxSender(web.settings, lambda: Mailer(web.settings))
    assert sender.send_due() == 0
    assert inbox.messages == [] and web.queued() == []


# each way out stops the next send; the way back asks for a confirmation ---------------------------------------

@pytest.fixture
def served(tmp_path: Path, server, inbox):
    """The real web app (uvicorn) and `digest send` over one state file, mailing into one aiosmtpd inbox."""
    from .web_server import running

    with running(tmp_path, signup=True, smtp_host="127.0.0.1", smtp_port=server.port, smtp_security="none") as web:
        env = tmp_path / "digest.env"
        env.write_text(f"DIGEST_SUBSCRIBERS={web.settings.subscribers}\nDIGEST_STATE_DB={web.settings.state_db}\n"
                       "DIGEST_SOURCE=sample\nDIGEST_FROM=Digest <digest@example.com>\nDIGEST_MIN_SCORE=1\n"
                       f"DIGEST_SMTP_HOST=127.0.0.1\nDIGEST_SMTP_PORT={server.port}\nDIGEST_SMTP_SECURITY=none\n"
                       f"DIGEST_SECRET_KEY={KEY}\nDIGEST_PUBLIC_URL={web.url}\n")
        yield web, env


def one_click_url(message) -> str:
    found = re.search(r"<(http[^>]+/unsubscribe/[^>]+)>", str(message["List-Unsubscribe"]))
    assert found, message["List-Unsubscribe"]
    return found.group(1)


def test_the_one_click_post_of_a_sent_digest_needs_no_cookie_or_form_answers_at_once_and_stops_the_next_send(
        served, inbox, run_cli) -> None:
    import time

    import httpx

    web, env = served
    assert run_cli("--env-file", str(env), "send")[0] == 0
    [digest] = inbox.to(ADA)
    url = one_click_url(digest)
    started = time.monotonic()
    for _ in range(2):  # a provider may post twice: the same answer, nothing more changed
        answer = httpx.post(url, files={"List-Unsubscribe": (None, "One-Click")},  # multipart, as RFC 8058 allows
                            headers={"sec-fetch-site": "cross-site", "user-agent": "Google-One-Click"}, timeout=5)
        assert answer.status_code == 200 and "set-cookie" not in answer.headers, answer.text
    assert time.monotonic() - started < 2
    assert web.status(ADA) == "unsubscribed"
    with web.store() as store:
        assert [change for _, change in store.reader_changes(ADA)] == ["status active -> unsubscribed (web)"]
    code, out, err = run_cli("--env-file", str(env), "send", "--force")
    assert code == 0 and len(inbox.to(ADA)) == 1 and "1 unsubscribed" in out, out + err


@pytest.mark.parametrize("how", ["one-click", "web page", "preferences page"])
def test_after_any_unsubscribe_a_sign_up_needs_its_confirmation_before_the_digest_comes_again(served, inbox, run_cli,
                                                                                               how) -> None:
    import httpx

    from .test_web_signup import link_in, sign_up
    from .web_server import csrf_of

    web, env = served
    links = web.links(ADA)
    with web.client() as client:
        if how == "one-click":
            client.post(links.unsubscribe, content=b"List-Unsubscribe=One-Click")
        elif how == "web page":
            page = client.get(links.unsubscribe).text
            form = re.search(r'<form[^>]*action="([^"]*)"[^>]*method="post"', page) or re.search(
                r'<form[^>]*method="post"[^>]*action="([^"]*)"', page)
            assert form, page
            assert client.post(httpx.URL(web.url).join(form.group(1)), data={"csrf": csrf_of(page)}).status_code == 200
        else:
            page = client.get(links.preferences).text
            data = {"csrf": csrf_of(page), "keywords": "reward model*", "frequency": "run",
                    "status": "unsubscribed", "shown_status": "active", "max_items": ""}
            assert client.post(links.preferences, data=data).status_code == 200
    assert web.status(ADA) == "unsubscribed"
    with web.client() as client:
        assert sign_up(web, client, ADA, "reward model*").status_code == 200
    web.drain()
    run_cli("--env-file", str(env), "send", "--force")
    assert web.status(ADA) == "unsubscribed"
    confirmation = [m for m in inbox.to(ADA) if "/confirm/" in m.get_content()]
    assert [m for m in inbox.to(ADA) if m not in confirmation] == []  # no digest before the confirmation
    [mail] = confirmation
    with web.client() as client:
        page = client.get(link_in(mail))
        assert client.post(link_in(mail), data={"csrf": csrf_of(page.text)}).status_code == 200
    assert web.status(ADA) == "active"
    run_cli("--env-file", str(env), "send", "--force")
    assert len([m for m in inbox.to(ADA) if m not in confirmation]) == 1


@pytest.mark.parametrize("args", [("send", "--subscriber", ADA), ("send", "--subscriber", ADA, "--force"),
                                  ("send", "--force")])
def test_a_suppressed_reader_named_on_the_command_line_still_gets_nothing(wire, tmp_path: Path, run_cli,
                                                                           args) -> None:
    from datetime import date

    from digest.store import Store
    from digest.store.bounces import BounceEvent, Rule

    inbox, port = wire
    env = env_file(tmp_path, port)
    with Store.open(tmp_path / "state.db") as store:
        store.record_bounce(BounceEvent("mail:x", ADA, date(2026, 3, 2), "complaint", "abuse report"), Rule())
    code, out, err = run_cli("--env-file", str(env), *args)
    assert inbox.raw == [] and "suppressed (complaint)" in out + err, out + err


# an address refused after its message ----------------------------------------------------------------------------

class RefusedAfterData(RawInbox):
    """A server that takes RCPT for anyone and refuses bob's message once it has it: his dead mailbox (Microsoft
    365's ``550 5.1.10 RESOLVER.ADR.RecipientNotFound``, servers that check recipients after DATA), or the message
    itself (spam, size: not the address's)."""

    def __init__(self, reply: str) -> None:
        super().__init__()
        self.reply = reply

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if "bob@example.org" in envelope.rcpt_tos:
            return self.reply
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.parametrize("reply, suppressed", [
    ("550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", True),
    ("550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown", True),
    ("550 5.7.1 Message rejected as spam by Content Filtering", False),
    ("552 5.3.4 Message size exceeds fixed limit", False),
], ids=["5.1.10", "5.1.1", "5.7.1-spam", "5.3.4-size"])
def test_a_dead_address_refused_after_its_message_counts_as_a_hard_bounce_and_the_message_refused_does_not(
        tmp_path: Path, reply: str, suppressed: bool) -> None:
    from datetime import timedelta

    from digest.store import Store

    from .test_bounces_rcpt import MONDAY, send_on, settings_for

    inbox = RefusedAfterData(reply)
    controller = start(inbox)
    try:
        settings = settings_for(controller, tmp_path)
        reports = [send_on(settings, MONDAY + timedelta(days=n)) for n in range(6)]
    finally:
        controller.stop()
    assert all(reply[:10] in report.failed["bob@example.org"] for report in reports[:5])
    assert ("bob@example.org" in reports[5].skipped) is suppressed
    with Store.open(settings.state_db) as store:
        found = store.suppression("bob@example.org")
        assert (found is not None and f"refused at DATA: {reply}" in found.reason) is suppressed
        assert store.suppression("ada@example.org") is None


# the mailto of List-Unsubscribe, as a mail app's unsubscribe button uses it --------------------------------------

def test_the_mailto_of_a_sent_digest_as_gmail_uses_it_unsubscribes_before_the_next_send(dovecot, served, inbox,
                                                                                       run_cli) -> None:
    from urllib.parse import parse_qs, urlsplit

    from .test_web_signup import sign_up

    web, env = served
    env.write_text(env.read_text() + f"DIGEST_BOUNCE_ADDRESS=bounces@example.com\nDIGEST_BOUNCE_IMAP_URL={dovecot.url()}\n"
                   f"DIGEST_BOUNCE_CA_FILE={dovecot.ca_file}\n")
    assert run_cli("--env-file", str(env), "send")[0] == 0
    [digest] = inbox.to(ADA)
    mailto = urlsplit(re.search(r"<(mailto:[^>]+)>", str(digest["List-Unsubscribe"])).group(1))
    subject = parse_qs(mailto.query)["subject"][0]
    dovecot.deliver((f"From: Ada Lovelace <{ADA}>\r\nTo: {mailto.path}\r\nSubject: {subject}\r\n"
                     "Date: Mon, 07 Dec 2026 08:00:00 +0000\r\nMessage-ID: <unsub-1@mail.gmail.com>\r\n"
                     "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=\"UTF-8\"\r\n\r\n"
                     "This message was automatically generated by Gmail.\r\n").encode())
    code, out, err = run_cli("--env-file", str(env), "bounces")
    assert code == 0 and f"unsubscribed {ADA}" in out, out + err
    code, out, err = run_cli("--env-file", str(env), "send", "--force")
    assert code == 0 and len(inbox.to(ADA)) == 1 and "1 unsubscribed" in out, out + err
    with web.client() as client:  # back by the sign-up form: a confirmation, no digest
        sign_up(web, client, ADA, "reward model*")
    web.drain()
    run_cli("--env-file", str(env), "send", "--force")
    assert [m["Subject"] for m in inbox.to(ADA)][1:] == ["Confirm your paper digest subscription"]
