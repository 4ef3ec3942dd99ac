"""Addresses are validated once at the edge; headers are built from (name, address) pairs.

Each built message is parsed back with the email package: the To header must
name exactly one address, the reader's, whatever the reader's name says.
"""

from __future__ import annotations

from datetime import date
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from digest.addresses import Mailbox, parse_mailbox
from digest.app import Digest
from digest.errors import ConfigError
from digest.model import Subscriber
from digest.settings import load_settings
from digest.subscribers import load_subscribers, subscribers_from_settings

from .conftest import FIXTURES
from .smtp_server import Inbox, start

DAY = date(2026, 8, 13)


def built(reader: Subscriber, sender: str = "Digest <digest@example.com>") -> EmailMessage:
    digest = Digest(load_settings(None, {"DIGEST_FROM": sender}))
    _, raw = digest.build(reader, digest.render(reader, [], day=DAY))
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii(), "headers must be 7-bit: non-ASCII names are RFC 2047-encoded"
    return message_from_bytes(raw, policy=policy.default)


def only_address(message: EmailMessage, header: str) -> tuple[str, str]:
    addresses = message[header].addresses
    assert len(addresses) == 1, f"{header}: {message[header]!r}"
    return addresses[0].display_name, addresses[0].addr_spec


@pytest.mark.parametrize("name", [
    "Eve Bcc: victim@example.net",
    "<attacker@example.net>",
    "attacker@example.net",
    "José Núñez, PhD",
    'Eve "the tester", <x@example.net>; y@example.net',
    "=?utf-8?b?PGF0dGFja2VyQGV4YW1wbGUubmV0Pg==?=",
    "Eve\r\nBcc: victim@example.net",
])
def test_a_readers_name_never_changes_where_the_digest_goes(name: str) -> None:
    message = built(Subscriber("eve@example.org", ("exploration",), name=name))
    shown, address = only_address(message, "To")
    assert address == "eve@example.org"
    assert shown == " ".join(name.replace("\r\n", " ").split())  # the name is shown as written
    assert message["Bcc"] is None and message["Cc"] is None


def test_a_name_with_a_comma_keeps_its_address_and_its_accents() -> None:
    message = built(Subscriber("jose@example.org", ("exploration",), name="José Núñez, PhD"))
    assert only_address(message, "To") == ("José Núñez, PhD", "jose@example.org")


def test_the_sender_name_may_be_non_ascii() -> None:
    message = built(Subscriber("ada@example.org", ("exploration",)), sender="Résumé des papiers <digest@example.com>")
    assert only_address(message, "From") == ("Résumé des papiers", "digest@example.com")


@pytest.mark.parametrize("value, problem", [
    ("victim@example.com <you@example.org>", "looks like a second address"),
    ("ada@example.org, bob@example.org", "one address, not a list"),
    ("Ada <ada@example.org", "Name <address>"),
    ("ada@localhost", "not an email address"),
    ("Eve\nBcc: victim@example.net <eve@example.org>", "line breaks"),
])
def test_a_doubtful_digest_to_is_refused_naming_the_setting(value: str, problem: str) -> None:
    with pytest.raises(ConfigError, match="DIGEST_TO") as info:
        load_settings(None, {"DIGEST_TO": value})
    assert problem in str(info.value)


@pytest.mark.parametrize("value, expected", [
    ("you@example.org", Mailbox("you@example.org")),
    ("Ada <ada@example.org>", Mailbox("ada@example.org", "Ada")),
    ('"José Núñez, PhD" <jose@example.org>', Mailbox("jose@example.org", "José Núñez, PhD")),
    ('"Eve \\"E\\" Smith" <eve@example.org>', Mailbox("eve@example.org", 'Eve "E" Smith')),
    ("<you@Example.ORG>", Mailbox("you@example.org")),
    ("ada@bücher.example", Mailbox("ada@xn--bcher-kva.example")),
])
def test_digest_to_and_from_accept_a_name_and_keep_one_validated_address(value: str, expected: Mailbox) -> None:
    settings = load_settings(None, {"DIGEST_TO": value, "DIGEST_FROM": value, "DIGEST_KEYWORDS": "exploration"})
    assert parse_mailbox(settings.to) == expected and parse_mailbox(settings.from_addr) == expected
    reader = subscribers_from_settings(settings)[0]
    assert (reader.email, reader.name) == (expected.address, expected.name)


@pytest.mark.parametrize("line, problem", [
    ('email = "Ada <ada@example.org>"', "without <...>"),
    ('email = "ada@example.org, bob@example.org"', "not a list"),
    ('email = "ada@example"', "not an email address"),
    ('name = "Ada"', "no email address"),
])
def test_a_bad_subscriber_email_names_the_subscriber(tmp_path: Path, line: str, problem: str) -> None:
    path = tmp_path / "subscribers.toml"
    path.write_text(f'[[subscribers]]\nemail = "ok@example.org"\nkeywords = ["x"]\n\n[[subscribers]]\n{line}\n'
                    'keywords = ["x"]\n')
    with pytest.raises(ConfigError, match="subscriber 2") as info:
        load_subscribers(path)
    assert problem in str(info.value)


class EnvelopeInbox(Inbox):
    """Also keeps each message's envelope recipients, as the server saw them."""

    def __init__(self) -> None:
        super().__init__()
        self.envelopes: list[list[str]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.envelopes.append(list(envelope.rcpt_tos))
        return await super().handle_DATA(server, session, envelope)


def test_the_envelope_recipient_is_the_validated_address(tmp_path: Path) -> None:
    inbox = EnvelopeInbox()
    controller = start(inbox)
    try:
        settings = load_settings(None, {
            "DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(controller.port), "DIGEST_SMTP_SECURITY": "none",
            "DIGEST_FROM": "Digest <digest@example.com>", "DIGEST_STATE_DB": str(tmp_path / "state.db"),
            "DIGEST_TO": '"José Núñez, PhD" <jose@example.org>', "DIGEST_KEYWORDS": "reward model",
            "DIGEST_MIN_SCORE": "1",
        })
        report = Digest(settings).send(subscribers_from_settings(settings), source=str(FIXTURES / "papers.jsonl"))
    finally:
        controller.stop()
    assert report.sent == ["jose@example.org"]
    assert inbox.envelopes == [["jose@example.org"]]
    assert only_address(inbox.messages[0], "To") == ("José Núñez, PhD", "jose@example.org")


def test_the_cli_reports_a_bad_address_in_one_line(run_cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_TO", "victim@example.com <you@example.org>")
    code, out, err = run_cli("rank", "--source", "sample", "--keywords", "exploration")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "DIGEST_TO" in err and "Traceback" not in err


def test_building_without_a_sender_names_the_setting() -> None:
    digest = Digest(load_settings(None, {}))
    reader = Subscriber("ada@example.org", ("exploration",))
    with pytest.raises(ConfigError, match="DIGEST_FROM is not set"):
        digest.build(reader, digest.render(reader, [], day=DAY))
