"""Each message is encoded once: the size budget measures the bytes that are sent."""

from __future__ import annotations

from datetime import date

import digest.mime
from digest.app import Digest
from digest.model import Listing, Subscriber, make_paper
from digest.render import MAX_MESSAGE_BYTES
from digest.settings import load_settings

DAY = date(2026, 8, 13)


def app(**env: str) -> Digest:
    return Digest(load_settings(None, {"DIGEST_FROM": "Digest <digest@example.com>", **env}))


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
    from digest.keywords import parse_profile
    from digest.rank import Index, Selection, rank

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
