"""The email: golden files, escaping, header safety, the Gmail size limit."""

from __future__ import annotations

import os
from datetime import date
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from digest.app import Digest
from digest.keywords import parse_profile
from digest.model import Subscriber, make_paper
from digest.rank import Index, Selection, rank
from digest.render import Renderer
from digest.settings import load_settings
from digest.sources import FetchContext, FileSource

from .conftest import FIXTURES

GOLDEN = Path(__file__).parent / "golden"
DAY = date(2026, 8, 13)
READER = Subscriber("ada@example.org", ("exploration", "reward model"), name="Ada")


def app(**env: str) -> Digest:
    return Digest(load_settings(None, {"DIGEST_FROM": "Digest <digest@example.com>", **env}))


def picks_for(papers, reader=READER):
    return rank(Index(papers), parse_profile(reader.keywords), selection=Selection(max_items=None, min_score=0.5))


def fixture_papers():
    return FileSource(FIXTURES / "hf_api.json").fetch(FetchContext(today=DAY)).papers


@pytest.mark.parametrize("part", ["text", "html"])
def test_golden_files(part: str) -> None:
    rendered = app().render(READER, picks_for(fixture_papers()), day=DAY)
    golden = GOLDEN / f"digest.{part}"
    actual = getattr(rendered, part)
    if os.environ.get("UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(actual)
    assert actual == golden.read_text()


def test_content_per_paper() -> None:
    rendered = app().render(READER, picks_for(fixture_papers()), day=DAY)
    assert 'href="https://huggingface.co/papers/2608.00001"' in rendered.html
    assert "Ada Lovelace, Alan Turing" in rendered.html
    assert "<strong>exploration</strong>" in rendered.html
    assert "Matched: exploration" in rendered.text
    assert "github.com/example/tiny" in rendered.html
    assert "unsubscribe" in rendered.html.lower()
    assert "Thu 13 Aug 2026" in rendered.subject


def test_titles_and_abstracts_are_escaped() -> None:
    evil = make_paper("<script>alert(1)</script> exploration", "exploration <img src=x onerror=alert(2)>", id="2608.9",
                      url="javascript:alert(3)")
    rendered = app().render(READER, picks_for([evil]), day=DAY)
    assert "<script>alert(1)" not in rendered.html and "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html
    assert "<img src=x" not in rendered.html
    assert "javascript:" not in rendered.html
    assert "<script>alert(1)</script>" in rendered.text  # plain text stays text


def test_no_cr_lf_from_a_title_reaches_a_header() -> None:
    evil = make_paper("x", "exploration", id="2608.9")
    evil = type(evil)(**{**{f: getattr(evil, f) for f in evil.__slots__}, "title": "Exploration\r\nBcc: victim@example.org"})
    digest = app()
    rendered = digest.render(READER, picks_for([evil]), day=DAY)
    _, raw = digest.build(READER, rendered)
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc:" not in head
    message = message_from_bytes(raw, policy=policy.default)
    assert message["Bcc"] is None and "Bcc: victim" in message["Subject"]


def test_a_hundred_long_picks_stay_under_gmails_clip_limit() -> None:
    abstract = ("exploration " + "lorem ipsum dolor sit amet consectetur " * 60)[:2000]
    papers = [make_paper(f"Exploration paper {i}: a long and realistic title about curiosity-driven agents", abstract, id=f"2608.{10000 + i}") for i in range(100)]
    digest = app()
    picks = picks_for(papers)
    assert len(picks) == 100
    rendered = digest.render(READER, picks, day=DAY)
    _, raw = digest.build(READER, rendered)
    assert len(raw) < 102_000
    assert rendered.overflow > 0 and f"and {rendered.overflow} more matches" in rendered.text
    assert rendered.shown + rendered.overflow == 100


def test_empty_digest_renders_a_nothing_new_note() -> None:
    rendered = app().render(READER, [], day=DAY)
    assert "nothing new" in rendered.subject and "Nothing new matched" in rendered.text


def test_custom_templates_dir_and_broken_template(tmp_path: Path) -> None:
    from digest.errors import TemplateError
    from digest.render import bundled_templates

    for name in ("digest.mjml.j2", "digest.txt.j2", "subject.txt.j2"):
        (tmp_path / name).write_text((bundled_templates() / name).read_text())
    (tmp_path / "subject.txt.j2").write_text("Custom {{ count }}")
    rendered = Renderer(tmp_path).render(READER, [], day=DAY, unsubscribe="")
    assert rendered.subject == "Custom 0"
    (tmp_path / "digest.txt.j2").write_text("{% for %}")
    with pytest.raises(TemplateError, match="digest.txt.j2"):
        Renderer(tmp_path)
