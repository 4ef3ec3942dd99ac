"""The email shows what a paper is at a glance: a labelled summary, the thumbnail, stars, the venue,
readable titles, and text laid out in its own direction (``dir="auto"``)."""

from __future__ import annotations

import os
import re
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from digest.app import Digest
from digest.ranking.profile import parse_profile
from digest.model import Listing, Subscriber, make_paper
from digest.ranking.index import Index
from digest.ranking.select import Selection, rank
from digest.render import SUMMARY_CHARS
from digest.settings import load_settings

GOLDEN = Path(__file__).parent / "golden"
DAY = date(2026, 8, 13)
NOON = datetime(2026, 8, 13, 12, tzinfo=timezone.utc).timestamp()
READER = Subscriber("ada@example.org", ("exploration", "reward model"), name="Ada")
THUMB = "https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2608.00001.png"


def app(**env: str) -> Digest:
    """The app on DAY's clock (noon UTC): a digest of DAY is this year's on any date the tests run."""
    return Digest(load_settings(None, {"DIGEST_FROM": "Digest <digest@example.com>", **env}), clock=lambda: NOON)


def picks_for(papers):
    return rank(Index(papers), parse_profile(READER.keywords), selection=Selection(max_items=None, min_score=0.5))


def glance_papers() -> list:
    """One paper with everything, one from arXiv with a venue and LaTeX, one in Arabic, one bare."""
    return [
        make_paper("Curious Agents: Exploration with $\\mathcal{O}(n)$ Memory",
                   "We study exploration with intrinsic motivation in small grid worlds and find that count-based "
                   "bonuses are enough.", id="2608.00001", authors=["Ada Lovelace", "Alan Turing"],
                   url="https://huggingface.co/papers/2608.00001", github="https://github.com/example/curious",
                   stars=1234, upvotes=12, summary="Count-based bonuses are enough for exploration in grid worlds.",
                   summary_by="Hugging Face", thumbnail=THUMB),
        make_paper("**Reward Models** at Scale", "Reward models trained on human preferences guide exploration.",
                   id="2608.00002", venue="ICLR 2026", authors=["Grace Hopper"]),
        make_paper("استكشاف نماذج المكافأة", "نماذج المكافأة (reward model) exploration في التعلم المعزز.", id="2608.00003",
                   authors=["ليلى أحمد"]),
        make_paper("Exploration, plainly", "Plain exploration, with no summary, picture or stars.", id="2608.00004"),
    ]


@pytest.mark.parametrize("part", ["text", "html"])
def test_golden_files_with_summaries_thumbnails_stars_and_venues(part: str) -> None:
    papers = glance_papers()
    rendered = app().render(READER, picks_for(papers), day=DAY, listing=Listing("hf", papers))
    golden = GOLDEN / f"digest-glance.{part}"
    actual = getattr(rendered, part)
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(actual)
    assert actual == golden.read_text()


def rendered_for(*papers, **env: str):
    return app(**env).render(READER, picks_for(list(papers)), day=DAY)


def rich(**fields):
    base = dict(id="2608.00001", github="https://github.com/example/curious")
    return make_paper("Curious exploration", "Exploration with count-based bonuses in grid worlds.", **{**base, **fields})


def test_a_summary_is_labelled_with_who_wrote_it_and_replaces_the_abstract_excerpt() -> None:
    rendered = rendered_for(rich(summary="Bonuses suffice for exploration.", summary_by="Hugging Face"))
    assert "Summary by Hugging Face" in rendered.html
    assert "Bonuses suffice for <strong>exploration</strong>." in rendered.html
    assert "count-based bonuses" not in rendered.html  # the excerpt gives way...
    assert 'href="https://arxiv.org/abs/2608.00001"' in rendered.html  # ...and the abstract is a click away
    assert "   Summary by Hugging Face:\n   Bonuses suffice for exploration.\n" in rendered.text


def test_an_llm_summary_is_labelled_with_its_model() -> None:
    rendered = rendered_for(rich(summary="Short.", summary_by="llama3.1:8b"))
    assert "Summary by llama3.1:8b" in rendered.html and "Summary by llama3.1:8b:" in rendered.text


def test_a_long_summary_is_cut_at_a_word_with_an_ellipsis() -> None:
    words = " ".join(f"word{n}" for n in range(100))
    rendered = rendered_for(rich(summary=words, summary_by="Hugging Face"))
    shown = re.search(r'<div dir="auto" style="margin:2px 0 6px;">([^<]*)</div>', rendered.html).group(1)
    assert len(shown) <= SUMMARY_CHARS and shown.endswith("…")
    assert re.fullmatch(r"(word\d+ )*word\d+…", shown)  # whole words only


def test_a_summary_is_escaped_plain_text() -> None:
    rendered = rendered_for(rich(summary="<b onmouseover=alert(1)>exploration</b> & more", summary_by="<i>x</i>"))
    assert "<b onmouseover" not in rendered.html and "&lt;b onmouseover=alert(1)&gt;" in rendered.html
    assert "<i>x</i>" not in rendered.html and "Summary by &lt;i&gt;x&lt;/i&gt;" in rendered.html


def test_the_thumbnail_has_alt_text_and_a_fixed_size() -> None:
    html = rendered_for(rich(thumbnail=THUMB)).html
    [img] = re.findall(r"<img [^>]*>", html)
    assert f'src="{THUMB}"' in img and 'alt="Thumbnail of Curious exploration"' in img
    assert re.search(r'width="\d+" height="\d+"', img)  # the box is reserved before the picture arrives


def test_without_a_thumbnail_or_with_thumbnails_off_nothing_loads() -> None:
    for html in (rendered_for(rich()).html, rendered_for(rich(thumbnail=THUMB), DIGEST_THUMBNAILS="false").html):
        assert "<img" not in html and " src=" not in html


def test_the_only_thing_the_email_loads_is_the_listings_https_thumbnail() -> None:
    html = rendered_for(rich(thumbnail=THUMB)).html
    assert re.findall(r' src="([^"]*)"', html) == [THUMB]
    assert "url(" not in html and "<link" not in html and "@import" not in html


@pytest.mark.parametrize("stars, shown", [(0, "★ 0"), (505, "★ 505"), (1234, "★ 1.2k"), (12_345, "★ 12k")])
def test_stars_sit_beside_the_code_link(stars: int, shown: str) -> None:
    rendered = rendered_for(rich(stars=stars))
    assert f'>Code</a> {shown}' in rendered.html
    assert f"Code: https://github.com/example/curious ({shown})" in rendered.text


def test_stars_without_a_code_link_are_not_shown() -> None:
    rendered = rendered_for(rich(stars=5, github=None))
    assert "★" not in rendered.html + rendered.text


def test_the_venue_leads_the_papers_details() -> None:
    rendered = rendered_for(rich(venue="ICLR 2026", upvotes=3))
    assert "· ICLR 2026 · ▲ 3 upvotes" in rendered.html and "   ICLR 2026 · ▲ 3 upvotes\n" in rendered.text


def test_a_single_upvote_is_one_upvote() -> None:
    rendered = rendered_for(rich(upvotes=1))
    assert "▲ 1 upvote\n" in rendered.text and "▲ 1 upvote<" in rendered.html and "1 upvotes" not in rendered.html


def test_every_text_block_of_a_paper_lays_itself_out_in_its_own_direction() -> None:
    html = rendered_for(*glance_papers()).html
    for text in ("استكشاف نماذج المكافأة", "ليلى أحمد", "Count-based bonuses", "Ada Lovelace"):
        block = re.search(r"<div [^>]*>(?:(?!<div).)*" + re.escape(text), html, re.S)
        assert block and 'dir="auto"' in block.group().split(">", 1)[0], text


def test_titles_reach_the_email_and_subject_as_readable_text() -> None:
    rendered = rendered_for(*glance_papers())
    assert "Curious Agents: Exploration with 𝒪(n) Memory" in rendered.html
    assert "Reward Models at Scale" in rendered.text and "**" not in rendered.html + rendered.text
    assert "\\mathcal" not in rendered.subject + rendered.html + rendered.text


@pytest.mark.parametrize("field", ["abstract", "summary"])
def test_inline_maths_in_an_abstract_or_summary_reads_as_text_like_a_titles(field: str) -> None:
    """arXiv abstracts are full of ``$\\alpha$``: the excerpt shows ``α``, as the title does, in both parts;
    money (``$5 and $10``) and a backslash outside maths stay as written."""
    text = ("We study exploration with $\\alpha$-divergences and $\\epsilon$-greedy baselines; regret is "
            "$\\tilde{O}(\\sqrt{T})$ and $\\mathbb{E}[r]$ grows, at $5 and $10 a run (C:\\data).")
    paper = (make_paper("Exploration bounds", text, id="2608.00050") if field == "abstract" else
             make_paper("Exploration bounds", "Exploration.", id="2608.00050", summary=text, summary_by="a model"))
    rendered = rendered_for(paper)
    for part in (rendered.html, " ".join(rendered.text.split())):
        assert "with α-divergences and ϵ-greedy baselines; regret is Õ(√(T)) and 𝔼[r] grows" in part, part
        assert "at $5 and $10 a run (C:\\data)." in part
        assert "$\\alpha$" not in part and "\\tilde" not in part


# --- 20 picks with everything still fit under Gmail's clip size -----------------------------

from .conftest import SHARED  # noqa: E402

HF_DAY = SHARED / "fixtures" / "hf_api" / "daily_papers_2026-08-13.json"
LINKED = {"DIGEST_PUBLIC_URL": "https://digest.example.org", "DIGEST_SECRET_KEY": "Zq7VhX2mN9pL4tR8wK3cF6yB1dG5sJ0a"}


def twenty_rich_papers() -> list:
    summary = ("A learned reward model scores exploration bonuses for agents in sparse-reward worlds; the bonuses "
               "transfer across procedurally generated levels, beat curiosity baselines on hard tasks and need no "
               "tuning, which the authors show over twelve benchmarks and three model sizes with ablations.")
    return [make_paper(f"Exploration with Reward Models, Part {n}: Scaling Count-Based Curiosity to Long-Horizon "
                       "Multi-Agent Worlds with Sparse Feedback", "Exploration with reward models. " * 40,
                       id=f"2608.{11000 + n}", authors=[f"Author {k}" for k in range(12)],
                       url=f"https://huggingface.co/papers/2608.{11000 + n}", upvotes=100 + n,
                       organization="A Very Long Research Laboratory Name", venue="NeurIPS 2026 Workshop",
                       github=f"https://github.com/example-organisation/exploration-with-reward-models-{n}",
                       stars=12_345, summary=summary, summary_by="Hugging Face",
                       thumbnail=f"https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2608.{11000 + n}.png")
            for n in range(20)]


def built(papers, **env: str):
    digest = app(**env)
    picks = rank(Index(papers), parse_profile(READER.keywords), selection=Selection(max_items=20, min_score=0.5))
    rendered = digest.render(READER, picks, day=DAY)
    return rendered, digest.build(READER, rendered)[1]


@pytest.mark.parametrize("env", [{}, LINKED], ids=["plain", "with-reader-links"])
def test_twenty_picks_with_summaries_thumbnails_stars_and_venues_fit_whole(env: dict[str, str]) -> None:
    rendered, raw = built(twenty_rich_papers(), **env)
    assert rendered.shown == 20 and rendered.overflow == 0  # nothing had to be dropped to fit
    assert rendered.html.count("<img ") == 20 and rendered.html.count("Summary by Hugging Face") == 20
    assert len(raw) < 102_000, len(raw)


@pytest.mark.skipif(not HF_DAY.exists(), reason="../shared fixtures are absent")
def test_a_real_hf_day_of_twenty_papers_fits_whole() -> None:
    from digest.sources.parse import parse_listing

    papers = parse_listing(HF_DAY.read_bytes(), HF_DAY.name).papers
    reader = Subscriber("ada@example.org", ("agent*", "model*", "learn*", "language", "data*", "reason*", "video*",
                                            "benchmark*", "generat*", "train*"))  # between them, all 20 papers
    digest = app(**LINKED)
    picks = rank(Index(papers), parse_profile(reader.keywords), selection=Selection(max_items=20, min_score=0.1))
    rendered = digest.render(reader, picks, day=DAY)
    assert rendered.shown == len(picks) == 20
    assert len(digest.build(reader, rendered)[1]) < 102_000


@pytest.mark.parametrize("url", ["http://example.org/a.png", "javascript:alert(1)", 'https://x.org/"onerror="alert(1)'])
def test_a_thumbnail_that_is_not_https_never_reaches_the_email_even_from_a_stored_copy(url: str) -> None:
    from dataclasses import replace

    paper = replace(rich(), thumbnail=url)  # as paper_from_stored would give it back, unchecked
    html = rendered_for(paper).html
    assert "<img" not in html and "javascript:" not in html and "example.org/a.png" not in html


def summary_element(html: str) -> str:
    """The opening tag of the summary's element, just after its "Summary by" label."""
    return re.search(r"Summary by [^<]*</div>\s*(<div[^>]*>)", html).group(1)  # type: ignore[union-attr]


@pytest.mark.parametrize(("language", "tag"), [("German", "de"), ("pt-BR", "pt-BR"), ("PT-br", "pt-BR"),
                                                ("Brazilian Portuguese", "pt-BR"), ("français", "fr"),
                                                ("Simplified Chinese", "zh-Hans"), ("ja", "ja")])
def test_a_summary_in_the_readers_language_says_which_for_screen_readers(language: str, tag: str) -> None:
    reader = Subscriber("ada@example.org", READER.keywords, language=language)
    paper = rich(summary="Zählbasierte Boni genügen.", summary_by="llama3.1:8b")
    rendered = app().render(reader, picks_for([paper]), day=DAY)
    assert f'lang="{tag}"' in summary_element(rendered.html)
    assert re.search(r'<html[^>]* lang="en"', rendered.html)  # the email's own words stay English


def test_a_language_with_no_known_tag_is_marked_unknown_rather_than_english() -> None:
    reader = Subscriber("ada@example.org", READER.keywords, language="Old Norse Runic")
    rendered = app().render(reader, picks_for([rich(summary="Short.", summary_by="llama3.1:8b")]), day=DAY)
    assert 'lang=""' in summary_element(rendered.html)


@pytest.mark.parametrize(("language", "by"), [(None, "llama3.1:8b"), ("English", "llama3.1:8b"),
                                               ("German", "Hugging Face")])
def test_an_english_summary_needs_no_lang_of_its_own(language: str | None, by: str) -> None:
    """The email is English; so are Hugging Face's summaries, whatever the reader's language."""
    reader = Subscriber("ada@example.org", READER.keywords, language=language)
    rendered = app().render(reader, picks_for([rich(summary="Short.", summary_by=by)]), day=DAY)
    assert "lang=" not in summary_element(rendered.html)
