"""What goes on the wire: every line end CRLF, dots stuffed, each message encoded once.

A keyword is reader data and ends up in the body ("you follow: ..."). A lone CR or LF
in it must never reach the SMTP server as such: ``x<CR>.<CR><LF>RSET`` would end the
message early on a lenient server and run the rest as commands (SMTP smuggling).
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import digest.mime
from digest.app import Digest
from digest.errors import MailError
from digest.mail import _dot_stuffed
from digest.mime import Bodies, build_message, encode_header, format_address
from digest.model import Listing, Subscriber, make_paper
from digest.render import MAX_MESSAGE_BYTES
from digest.settings import load_settings

from .conftest import FIXTURES
from .smtp_server import Inbox, start

DAY = date(2026, 8, 13)
HOSTILE = ("x\r.\r\nRSET", "y\n.\nQUIT", "lone\rcarriage", "exploration")
BARE = re.compile(rb"\r(?!\n)|(?<!\r)\n")  # a CR or LF that is not part of a CRLF


class RawInbox(Inbox):
    """The aiosmtpd handler that also keeps each message's bytes as the server read them."""

    def __init__(self) -> None:
        super().__init__()
        self.raw: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.raw.append((list(envelope.rcpt_tos), envelope.original_content))
        return await super().handle_DATA(server, session, envelope)


def app(**env: str) -> Digest:
    return Digest(load_settings(None, {"DIGEST_FROM": "Digest <digest@example.com>", **env}))


def test_a_hostile_keyword_arrives_as_one_intact_message_through_a_real_server(tmp_path: Path) -> None:
    inbox = RawInbox()
    controller = start(inbox)
    try:
        settings = load_settings(None, {
            "DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(controller.port), "DIGEST_SMTP_SECURITY": "none",
            "DIGEST_FROM": "Digest <digest@example.com>", "DIGEST_STATE_DB": str(tmp_path / "state.db"),
            "DIGEST_MIN_SCORE": "1", "DIGEST_SMTP_TIMEOUT": "5"})
        readers = [Subscriber("eve@example.org", HOSTILE, name="Eve\r.\r\nRSET"),
                   Subscriber("bob@example.org", ("exploration",))]
        report = Digest(settings).send(readers, source=str(FIXTURES / "papers.jsonl"))
    finally:
        controller.stop()
    assert sorted(report.sent) == ["bob@example.org", "eve@example.org"] and not report.failed
    assert sorted(recipients for recipients, _ in inbox.raw) == [["bob@example.org"], ["eve@example.org"]]
    assert len(inbox.messages) == 2  # no third message, no message cut in two
    for _, raw in inbox.raw:
        assert not BARE.search(raw), "a lone CR or LF reached the server"
    eve = inbox.to("eve@example.org")[0]
    assert [part.get_content_type() for part in eve.iter_parts()] == ["text/plain", "text/html"]
    text = eve.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "follows: x\n.\nRSET, y\n.\nQUIT, lone\ncarriage, exploration." in text  # every byte there, CR read as a line end
    assert " ".join(text.split()).endswith("unsubscribe\" to digest@example.com.")  # the whole message, to its end
    assert "RSET" in eve.get_body(("html",)).get_content() and "\r" not in eve["To"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(st.sampled_from(["\r", "\n", ".", "a", " ", "é", "=", "\t"]), max_size=60),
       html=st.lists(st.sampled_from(["\r", "\n", ".", "<p>", "x", "\r\n.\r\n"]), max_size=30).map("".join),
       subject=st.text(max_size=40), name=st.text(max_size=20))
def test_the_bytes_for_the_wire_have_no_lone_cr_or_lf_and_end_only_at_the_end(text, html, subject, name) -> None:
    headers = [("From", format_address(name, "digest@example.com")), ("Subject", encode_header(subject))]
    message = build_message(headers, Bodies.encode(text, html))
    wire = _dot_stuffed(message)
    assert not BARE.search(wire)
    assert wire.endswith(b"\r\n.\r\n") and wire.find(b"\r\n.\r\n") == len(wire) - 5
    assert not wire.startswith(b".\r\n")
    unstuffed = re.sub(rb"(?m)^\.", b"", wire[: -len(b".\r\n")])  # what the server stores
    assert unstuffed == message if message.endswith(b"\r\n") else unstuffed == message + b"\r\n"


@pytest.mark.parametrize("message", [b"a\r.\r\nRSET\r\n", b"a\n.\nRSET", b"a\r\n.\r\nb", b".\r\n", b"a\r\r\n.\rx"])
def test_the_wire_never_ends_early_even_for_bytes_not_written_here(message: bytes) -> None:
    wire = _dot_stuffed(message)
    assert not BARE.search(wire) and wire.find(b"\r\n.\r\n") == len(wire) - 5


@pytest.mark.parametrize("value", ["a\rb", "a\nb", "a\r\nb", "a\r\n", "x\r.\r\nRSET"])
def test_a_header_with_a_line_break_that_is_not_folding_is_refused(value: str) -> None:
    with pytest.raises(MailError, match="line break that is not folding"):
        build_message([("Subject", value)], Bodies.encode("t", "h"))


def test_folded_headers_are_kept() -> None:
    message = build_message([("Subject", "a\r\n b"), ("X-Long", "c,\r\n\td")], Bodies.encode("t", "h"))
    assert message.startswith(b"Subject: a\r\n b\r\nX-Long: c,\r\n\td\r\n")


def test_each_message_is_encoded_once_and_built_from_the_bytes_the_budget_measured(monkeypatch) -> None:
    calls: list[int] = []
    real = digest.mime.qp
    monkeypatch.setattr(digest.mime, "qp", lambda body: calls.append(len(body)) or real(body))
    reader = Subscriber("ada@example.org", ("exploration",), name="Ada")
    paper = make_paper("Exploration at scale", "exploration\rwith a lone CR", id="2608.00001")
    digest_app = app()
    [(_, picks)] = digest_app.rank_readers(Listing("test", [paper]), [reader])
    assert picks
    rendered = digest_app.render(reader, picks, day=DAY)
    encoded = len(calls)
    _, raw = digest_app.build(reader, rendered)
    assert len(calls) == encoded == 2, "build must not encode again"
    assert rendered.bodies.text in raw and rendered.bodies.html in raw
    body = raw.split(b"\r\n\r\n", 1)[1]
    assert len(raw) <= rendered.bodies.size() and len(body) - len(rendered.bodies.text) - len(rendered.bodies.html) < 400


def test_the_clip_guard_measures_the_encoded_bytes_it_sends() -> None:
    from digest.ranking.profile import parse_profile
    from digest.ranking.index import Index
    from digest.ranking.select import Selection, rank

    reader = Subscriber("ada@example.org", ("exploration",), name="Ada")
    abstract = ("exploration\r" + "lorem ipsum dolor sit amet = consectetur " * 60)[:2000]  # = and CR grow when encoded
    papers = [make_paper(f"Exploration paper {i}", abstract, id=f"2608.{10000 + i}") for i in range(100)]
    picks = rank(Index(papers), parse_profile(reader.keywords), selection=Selection(max_items=None, min_score=0.5))
    digest_app = app()
    for budget in (MAX_MESSAGE_BYTES, 40_000):
        rendered = digest_app.renderer.render(reader, picks, day=DAY, unsubscribe="mailto:d@example.com", budget=budget)
        _, raw = digest_app.build(reader, rendered)
        assert 0 < rendered.shown < 100 and rendered.bodies.size() <= budget and len(raw) <= budget
        assert f"and {rendered.overflow} more matches" in rendered.text and rendered.shown + rendered.overflow == 100
    assert rendered.shown < shown_at_the_limit(digest_app, reader, picks)


def shown_at_the_limit(digest_app: Digest, reader: Subscriber, picks: list) -> int:
    return digest_app.renderer.render(reader, picks, day=DAY, unsubscribe="mailto:d@example.com").shown


def test_text_mostly_beyond_latin_goes_as_base64_and_english_stays_quoted_printable() -> None:
    from email import message_from_bytes, policy

    chinese = "奖励模型在强化学习中的作用。" * 40 + "\nA line of English."
    message = build_message([("Subject", "s")], Bodies.encode(chinese, "<p>Reward models for RLHF.</p>"))
    parsed = message_from_bytes(message, policy=policy.default)
    text, html = parsed.get_body(("plain",)), parsed.get_body(("html",))

    assert (text["Content-Transfer-Encoding"], html["Content-Transfer-Encoding"]) == ("base64", "quoted-printable")
    assert text.get_content().replace("\r\n", "\n") == chinese and "Reward models" in html.get_content()
    assert not BARE.search(_dot_stuffed(message))


def test_a_body_line_that_starts_with_from_is_never_one_an_mbox_would_rewrite() -> None:
    from email import message_from_bytes, policy

    text = "From the authors: reward models.\nFrom here on, more."
    message = build_message([("Subject", "s")], Bodies.encode(text, f"<p>x</p>\n{text}"))

    assert not re.search(rb"(?m)^From ", message.split(b"\r\n\r\n", 1)[1])
    decoded = message_from_bytes(message, policy=policy.default).get_body(("plain",)).get_content()
    assert decoded.replace("\r\n", "\n") == text


def test_twenty_papers_with_chinese_summaries_fit_under_the_clip_as_english_ones_do() -> None:
    from digest.ranking.index import Index
    from digest.ranking.profile import parse_profile
    from digest.ranking.select import Selection, rank

    reader = Subscriber("ada@example.org", ("exploration",), name="Ada")
    summary = ("我们研究探索在稀疏奖励环境中的作用，并提出一种基于好奇心的方法，在多个基准上取得了更好的结果。" * 3)[:140]
    papers = [make_paper(f"Exploration paper {i}", "Exploration " + "lorem ipsum " * 20, id=f"2608.{10000 + i}",
                         summary=summary * 2, summary_by="a model") for i in range(40)]
    picks = rank(Index(papers), parse_profile(reader.keywords), selection=Selection(max_items=20, min_score=0.5))
    rendered = app().renderer.render(reader, picks, day=DAY, unsubscribe="mailto:d@example.com",
                                     budget=MAX_MESSAGE_BYTES)
    assert rendered.shown == 20 and rendered.bodies.size() <= MAX_MESSAGE_BYTES


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["From ", "From", "a", "é", "=", " ", "\n", "x" * 70, "Fr", "\t"]), max_size=40)
       .map("".join))
def test_quoted_printable_keeps_76_columns_never_starts_a_line_with_from_and_decodes_back(text: str) -> None:
    import quopri

    encoded = digest.mime.qp(text)
    lines = encoded.split(b"\r\n")
    assert all(len(line) <= 76 and not line.startswith(b"From ") for line in lines)
    assert quopri.decodestring(encoded.replace(b"\r\n", b"\n")).decode() == text.replace("\r", "")
