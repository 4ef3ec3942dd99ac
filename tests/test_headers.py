"""Subject and address headers: encoded words within 75 characters, lines within 78, the text back exactly.

RFC 2047 allows an encoded word 75 characters and RFC 5322 a header line 78; a reader's
mail program decodes the header back to the subject and the name as they were written
(control characters and lone surrogates made harmless first: ``clean_header``).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from email import message_from_bytes, policy
from email.header import decode_header, make_header

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.app import Digest
from digest.mime import clean_header, encode_header, format_address
from digest.model import Listing, Subscriber, make_paper
from digest.settings import load_settings
from digest.web.signup import build_mail

DAY = date(2026, 8, 13)
ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
ANY_TEXT = st.text(st.characters(exclude_categories=()))  # every code point, lone surrogates included
# Python's parser reads any run of Unicode spaces in a name's encoded word as one space; RFC 2047 keeps them
NAME_CHARACTERS = st.characters(exclude_categories=("Zs", "Zl", "Zp"), include_characters=" ")
SUBJECTS = [
    "奖励模型在强化学习中的作用：一项关于人类反馈的系统研究与展望",
    "🚀🤖📄" * 20,
    "Paper digest · 12 new: Über-große Sprachmodelle und 数学 " + "x" * 80,
    "Réseaux" + "é" * 120,
    "A subject whose plain words run on well past what one header line of seventy-eight characters holds",
    "x =?utf-8?q?looks_encoded?= y",
]
SUBJECT_IDS = ["chinese", "emoji", "mixed", "long-word", "plain", "encoded-look"]
NAMES = [
    "Александр Сергеевич Пушкин-Гончаров", "田中俊介" * 8, "Bérénice-Amélie Rosemonde Dûbois-Bénard", "🦊" * 30,
]


def lines_of(name: str, value: str) -> list[str]:
    return f"{name}: {value}".split("\r\n")


def assert_within_limits(name: str, value: str) -> None:
    assert value.isascii()
    assert all(len(word) <= 75 for word in ENCODED_WORD.findall(value)), value
    assert all(len(line) <= 78 or " " not in line.strip() for line in lines_of(name, value)), value


def rfc2047_decoded(value: str) -> str:
    return str(make_header(decode_header(value.replace("\r\n", ""))))


def parsed(headers: str) -> dict:
    return message_from_bytes(f"{headers}\r\n\r\nbody\r\n".encode("ascii"), policy=policy.default)


@pytest.mark.parametrize("subject", SUBJECTS, ids=SUBJECT_IDS)
def test_a_subject_is_encoded_words_of_at_most_75_characters_on_lines_of_at_most_78(subject: str) -> None:
    encoded = encode_header(subject)
    assert_within_limits("Subject", encoded)
    assert str(parsed(f"Subject: {encoded}")["Subject"]) == subject == rfc2047_decoded(encoded)


@settings(max_examples=300, deadline=None)
@given(subject=ANY_TEXT)
def test_any_subject_decodes_back_to_its_text(subject: str) -> None:
    encoded = encode_header(subject)
    assert_within_limits("Subject", encoded)
    assert str(parsed(f"Subject: {encoded}")["Subject"]) == clean_header(subject)


@pytest.mark.parametrize("name", NAMES, ids=["cyrillic", "japanese", "plain-words-between", "emoji"])
def test_a_long_display_name_is_encoded_words_of_at_most_75_characters(name: str) -> None:
    value = format_address(name, "reader@example.org")
    assert_within_limits("To", value)
    phrase, address = value.rsplit(" ", 1)
    assert rfc2047_decoded(phrase) == name and address == "<reader@example.org>"
    assert parsed(f"To: {value}")["To"].addresses[0].addr_spec == "reader@example.org"


def test_plain_words_keep_a_names_encoded_words_apart_so_pythons_parser_reads_it_too() -> None:
    name = "Bérénice-Amélie Rosemonde Dûbois-Bénard"  # Python's email package reads a space between two
    value = format_address(name, "rose@example.org")  # adjacent encoded words (CPython gh-128110)
    assert str(parsed(f"To: {value}")["To"].addresses[0]) == f"{name} <rose@example.org>"


@settings(max_examples=300, deadline=None)
@given(name=st.text(NAME_CHARACTERS, max_size=10))  # 10 characters: one encoded word
def test_any_short_display_name_decodes_back_and_never_changes_the_address(name: str) -> None:
    value = format_address(name, "reader@example.org")
    assert_within_limits("To", value)
    [address] = parsed(f"To: {value}")["To"].addresses
    assert (address.display_name, address.addr_spec) == (re.sub(" +", " ", clean_header(name)), "reader@example.org")


def test_the_rendered_message_keeps_its_subject_and_names_within_the_limits() -> None:
    title = "奖励模型在强化学习中的作用：一项关于人类反馈的系统研究 🚀 exploration"
    reader = Subscriber("tanaka@example.org", ("exploration",), name="田中俊介" * 6)
    sender = "Résumé des papiers du jour, édition spéciale <digest@example.com>"
    app = Digest(load_settings(None, {"DIGEST_FROM": sender}))
    [(_, picks)] = app.rank_readers(Listing("test", [make_paper(title, "exploration", id="2608.00001")]), [reader])
    rendered = app.render(reader, picks, day=DAY)
    _, raw = app.build(reader, rendered)

    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    for name in ("Subject", "From", "To"):
        value = re.search(rf"^{name}: (.*?)\r\n(?! )", head, re.M | re.S).group(1)
        assert_within_limits(name, value)
    message = message_from_bytes(raw, policy=policy.default)
    assert "奖励模型" in rendered.subject and str(message["Subject"]) == rendered.subject
    assert message["From"].addresses[0].display_name == "Résumé des papiers du jour, édition spéciale"
    assert rfc2047_decoded(re.search(r"^To: (.*?) <", head, re.M | re.S).group(1)) == "田中俊介" * 6


def confirmation_mail(sender: str, subject: str = "Confirm your paper digest subscription") -> str:
    """The sign-up's confirmation mail's headers, as the outbox queues it."""
    settings = load_settings(None, {"DIGEST_FROM": sender})
    raw = build_mail(settings, "new.reader@example.org", subject, "Open the link.\n", datetime(2026, 8, 13, 7, 0))
    return raw.split(b"\r\n\r\n", 1)[0].decode("ascii")


def quoted(name: str) -> str:
    """``DIGEST_FROM`` naming the sender ``name`` (a quoted string: ``formataddr`` would encode a name beyond ASCII)."""
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}" <digest@example.org>' if name else "digest@example.org"


def header(head: str, name: str) -> str:
    """The header's value as written, folds kept (a fold may come right after the colon)."""
    value = re.search(rf"^{name}:(.*?)\r\n(?![ \t])", head + "\r\n", re.M | re.S).group(1)
    return value.removeprefix(" ")


@pytest.mark.parametrize("name", NAMES, ids=["cyrillic", "japanese", "plain-words-between", "emoji"])
def test_the_sign_up_confirmation_keeps_a_long_sender_name_in_encoded_words_of_at_most_75_characters(name: str) -> None:
    """The confirmation mail is built apart from the digest (one text part); Python's own header folding wrote
    encoded words of 76 characters there."""
    head = confirmation_mail(quoted(name))
    for field in ("From", "To", "Subject"):
        assert_within_limits(field, header(head, field))
    phrase, address = header(head, "From").rsplit(" ", 1)
    assert rfc2047_decoded(phrase) == name and address == "<digest@example.org>"
    assert parsed(head)["From"].addresses[0].addr_spec == "digest@example.org"


def test_the_sign_up_confirmation_sender_name_reads_back_in_pythons_parser() -> None:
    """Python's folding split "spéciale" across two adjacent encoded words, which its parser reads with a space
    (CPython gh-128110): "édition sp éciale". Plain words keep them apart, as in the digest's own From."""
    name = "Résumé des papiers du jour, édition spéciale"
    assert parsed(confirmation_mail(quoted(name)))["From"].addresses[0].display_name == name


@settings(max_examples=150, deadline=None)
@given(name=st.text(st.characters(exclude_categories=("Zs", "Zl", "Zp"), include_characters=" ",
                                  exclude_characters="<>"), max_size=60))  # DIGEST_FROM refuses < and > in a name
def test_any_sender_name_in_the_confirmation_is_within_the_limits_and_its_address_unchanged(name: str) -> None:
    name = re.sub(" +", " ", clean_header(name))
    head = confirmation_mail(quoted(name))
    value = header(head, "From")
    assert_within_limits("From", value)
    [sender] = parsed(head)["From"].addresses
    assert sender.addr_spec == "digest@example.org"
    if len(name) <= 10 or name.isascii():  # one encoded word (longer: Python's parser adds spaces, gh-128110)
        assert sender.display_name == name
    if not name.isascii():
        assert rfc2047_decoded(value.rsplit(" ", 1)[0]) == name


@pytest.mark.parametrize("name", [
    "Research paper digest of the machine learning group at the University of Somewhere Far Away",
    "Dr. Ada King, Countess of Lovelace (Analytical Engine Society), Department of Mathematics",
], ids=["plain-words", "quoted-specials"])
def test_a_long_plain_name_is_folded_within_78_columns_and_reads_back_as_written(name: str) -> None:
    value = format_address(name, "digest@example.com")
    assert all(len(line) <= 78 for line in lines_of("From", value)), value
    [address] = parsed(f"From: {value}")["From"].addresses
    assert (address.display_name, address.addr_spec) == (name, "digest@example.com")
