"""The email: golden files, escaping, header safety, the Gmail size limit."""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import replace
from datetime import date, datetime, timezone
from email import message_from_bytes, policy
from html import escape
from pathlib import Path

import pytest

from digest.app import Digest
from digest.ranking.hints import KeywordHint
from digest.ranking.profile import parse_profile
from digest.model import Listing, Subscriber, make_paper
from digest.ranking.index import Index
from digest.ranking.select import Selection, count_matches, rank
from digest.render import Renderer, describe_listing
from digest.settings import load_settings
from digest.sources import FetchContext, FileSource
from digest.sources.parse import parse_listing

from .conftest import FIXTURES

GOLDEN = Path(__file__).parent / "golden"
DAY = date(2026, 8, 13)
NOON = datetime(2026, 8, 13, 12, tzinfo=timezone.utc).timestamp()
READER = Subscriber("ada@example.org", ("exploration", "reward model"), name="Ada")


def app(**env: str) -> Digest:
    """The app on DAY's clock (noon UTC): a digest of DAY is this year's on any date the tests run."""
    return Digest(load_settings(None, {"DIGEST_FROM": "Digest <digest@example.com>", **env}), clock=lambda: NOON)


def picks_for(papers, reader=READER):
    return rank(Index(papers), parse_profile(reader.keywords), selection=Selection(max_items=None, min_score=0.5))


def fixture_papers():
    return FileSource(FIXTURES / "hf_api.json").fetch(FetchContext(today=DAY)).papers


@pytest.mark.parametrize("part", ["text", "html"])
def test_golden_files(part: str) -> None:
    papers = fixture_papers()
    rendered = app().render(READER, picks_for(papers), day=DAY, listing=Listing("hf", papers))
    golden = GOLDEN / f"digest.{part}"
    actual = getattr(rendered, part)
    if os.environ.get("UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(actual)
    assert actual == golden.read_text()


def test_the_html_declares_both_colour_schemes_in_meta_tags_as_apple_mail_reads_them() -> None:
    """The CSS ``color-scheme`` alone is not enough for Apple Mail and Outlook for Mac, which read the meta tags."""
    head = app().render(READER, picks_for(fixture_papers()), day=DAY).html.split("</head>")[0]
    assert '<meta name="color-scheme" content="light dark"' in head
    assert '<meta name="supported-color-schemes" content="light dark"' in head


def test_the_html_carries_no_indentation_which_would_count_against_gmails_clip_size() -> None:
    html = app().render(READER, picks_for(fixture_papers()), day=DAY).html
    assert not [line for line in html.splitlines() if line[:1] in (" ", "\t")]


def test_content_per_paper() -> None:
    rendered = app().render(READER, picks_for(fixture_papers()), day=DAY)
    assert 'href="https://huggingface.co/papers/2608.00001"' in rendered.html
    assert "Ada Lovelace, Alan Turing" in rendered.html
    assert "<strong>exploration</strong>" in rendered.html
    assert "Matched: exploration" in rendered.text
    assert "github.com/example/tiny" in rendered.html
    assert "unsubscribe" in rendered.html.lower()
    assert "13 Aug" in rendered.subject


def test_titles_and_abstracts_are_escaped() -> None:
    evil = make_paper("<script>alert(1)</script> exploration", "exploration <img src=x onerror=alert(2)>", id="2608.9",
                      url="javascript:alert(3)")
    rendered = app().render(READER, picks_for([evil]), day=DAY)
    assert "<script>alert(1)" not in rendered.html and "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html
    assert "<img src=x" not in rendered.html
    assert "javascript:" not in rendered.html
    assert "<script>alert(1)</script>" in rendered.text  # plain text stays text


def test_a_title_read_from_html_is_still_escaped() -> None:
    """A journal's markup becomes words; what is left in angle brackets, or was written as an entity, is text."""
    paper = make_paper("<i>p</i>53 exploration &lt;script&gt;alert(1)&lt;/script&gt; <script>alert(2)</script>",
                       "exploration", id="2608.9")
    rendered = app().render(READER, picks_for([paper]), day=DAY)
    assert paper.title == "p53 exploration <script>alert(1)</script> <script>alert(2)</script>"
    assert "<script>" not in rendered.html and "<i>" not in rendered.html
    assert "p53 exploration &lt;script&gt;alert(1)&lt;/script&gt; &lt;script&gt;alert(2)" in rendered.html


def test_an_abstract_read_from_a_journals_html_is_still_escaped() -> None:
    """The markup of a journal's description is gone; what it wrote as an entity is text, escaped again."""
    feed = ("<rss version='2.0'><channel><item><title>Exploration</title><link>https://journal.example.org/a/1</link>"
            "<description>&lt;p&gt;exploration &lt;script&gt;alert(1)&lt;/script&gt; &amp;lt;script&amp;gt;alert(2)"
            "&amp;lt;/script&amp;gt; &lt;img src=x onerror=alert(3)&gt;&lt;/p&gt;</description></item></channel></rss>")
    [paper] = parse_listing(feed.encode(), "journal.xml").papers
    rendered = app().render(READER, picks_for([paper]), day=DAY)
    assert paper.abstract == "exploration <script>alert(2)</script>"
    assert "<script>" not in rendered.html and "<img" not in rendered.html and "alert(1)" not in rendered.html
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in rendered.html


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


def test_a_day_with_no_papers_listed_says_so_rather_than_that_none_matched() -> None:
    """DIGEST_SEND_EMPTY on a weekend or holiday: the listing had no papers, so the reader's keywords are not
    to blame. The note said "None of the papers in this listing matched", as if some had been listed."""
    rendered = app(DIGEST_SEND_EMPTY="true").render(READER, [], day=DAY, listing=Listing("hf", []))
    assert rendered.subject == "13 Aug: no new papers were listed"
    for part in (" ".join(rendered.text.split()), rendered.html):
        assert "No new papers were listed" in part and "so there was nothing to match your keywords" in part
        assert "None of the papers" not in part and "matched your keywords" not in part


def preheader(html: str) -> str:
    return re.search(r'<div class="preheader"[^>]*>([^<]*)</div>', html).group(1)  # type: ignore[union-attr]


def test_the_preheader_of_a_day_with_no_papers_listed_adds_to_the_subject_rather_than_repeating_it() -> None:
    """The inbox shows the subject, then the preheader: "No new papers were listed" twice said nothing more."""
    rendered = app(DIGEST_SEND_EMPTY="true").render(READER, [], day=DAY, listing=Listing("hf", []))
    shown = preheader(rendered.html)
    assert shown.casefold() not in rendered.subject.casefold() and "No new papers were listed" not in shown
    assert shown.startswith("Hugging Face Daily Papers listed no papers for Thursday 13 Aug")  # whose listing, when
    assert "nothing to match your keywords" in shown


def test_the_preheader_of_a_day_whose_papers_did_not_match_adds_to_the_subject_rather_than_repeating_it() -> None:
    """Papers were listed and none matched: the inbox said "Nothing new matched your keywords" in the subject and
    again in the preheader; it now says whose listing and when, or which keyword matched nothing and what the
    papers say instead."""
    plain = app().render(READER, [], day=DAY, listing=Listing("hf", papers=[make_paper("Unrelated", "Words.")]))
    shown = preheader(plain.html)
    assert shown.casefold() not in plain.subject.casefold() and "Nothing new matched" not in shown
    assert shown == "Hugging Face Daily Papers for Thursday 13 Aug: none of its papers matched your keywords"
    hint = KeywordHint("dialog systems", days=14, suggestions=("dialogue system",))
    hinted = app().render(READER, [], day=DAY, listing=Listing("hf", papers=[make_paper("Unrelated", "Words.")]),
                          hints=(hint,))
    assert preheader(hinted.html) == escape(hint.sentence(), quote=False)


def dated(year: int, month: int, day: int) -> Digest:
    """The app on the clock of noon UTC that day."""
    noon = datetime(year, month, day, 12, tzinfo=timezone.utc).timestamp()
    return Digest(load_settings(None, {"DIGEST_FROM": "Digest <digest@example.com>"}), clock=lambda: noon)


@pytest.mark.parametrize(("today", "shown"), [((2026, 12, 7), "4 Mar 2025"), ((2025, 12, 7), "4 Mar"),
                                              ((2025, 3, 4), "4 Mar")])
def test_an_old_listings_subject_and_heading_say_its_year(today: tuple[int, int, int], shown: str) -> None:
    """A backfill of hf:2025-03-04 sent in 2026 said "4 Mar", as if it were this year's 4 March."""
    papers = [replace(p, published=date(2025, 3, 3)) for p in fixture_papers()]
    rendered = dated(*today).render(READER, picks_for(papers), listing=Listing("hf:2025-03-04", papers))
    assert rendered.subject.startswith(f"{shown}: ")
    assert f"Hugging Face Daily Papers, {shown}</h1>" in rendered.html


def test_an_old_catch_up_says_its_year_once() -> None:
    rendered = dated(2026, 12, 7).render(READER, picks_for(fixture_papers()), listing=Listing("hf:2025-03-13", []),
                                         since=date(2025, 3, 9))
    assert rendered.subject.startswith("9–13 Mar 2025: ") and "Papers from 9–13 Mar 2025, since" in rendered.html


def test_a_listing_whose_papers_all_missed_still_says_nothing_new_matched() -> None:
    rendered = app().render(READER, [], day=DAY, listing=Listing("hf", fixture_papers()))
    assert rendered.subject == "13 Aug: nothing new matched your keywords"
    assert "None of the papers in this listing matched" in " ".join(rendered.text.split())


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


# --- links (a title always goes somewhere real) --------------------------------------

def test_a_paper_without_id_or_url_links_to_a_search_for_its_exact_title() -> None:
    saved = make_paper("Exploration & Curiosity: 100% Offline?", "exploration in grid worlds")
    assert saved.url is None and saved.id.startswith("title:")
    rendered = app().render(READER, picks_for([saved]), day=DAY)
    search = "https://arxiv.org/search/?query=Exploration+%26+Curiosity%3A+100%25+Offline%3F&searchtype=title"
    assert f'href="{search.replace("&", "&amp;")}"' in rendered.html
    assert search in rendered.text
    assert 'href="#"' not in rendered.html and "\n   #\n" not in rendered.text
    assert "/pdf/" not in rendered.html  # no arXiv id, no PDF link


def test_an_arxiv_id_gives_the_abstract_and_the_pdf() -> None:
    paper = make_paper("Exploration at scale", "exploration", id="2608.01234")
    rendered = app().render(READER, picks_for([paper]), day=DAY)
    assert 'href="https://arxiv.org/abs/2608.01234"' in rendered.html
    assert 'href="https://arxiv.org/pdf/2608.01234"' in rendered.html
    assert "PDF: https://arxiv.org/pdf/2608.01234" in rendered.text


# --- the header says which listing, and which day --------------------------------------

@pytest.mark.parametrize("source, expected", [
    ("hf", ("Hugging Face Daily Papers", date(2026, 8, 12))),  # the papers' latest day
    ("hf:2026-03-12", ("Hugging Face Daily Papers", date(2026, 3, 12))),  # the day the source names
    ("arxiv:cs.LG+cs.AI", ("arXiv cs.LG, cs.AI", date(2026, 8, 12))),
    ("hf, arxiv:cs.LG", ("Hugging Face Daily Papers + arXiv cs.LG", date(2026, 8, 12))),
    ("/home/ada/saved/daily-papers.txt", ("daily-papers.txt", date(2026, 8, 12))),
    ("https://example.org/listing.json", ("example.org", date(2026, 8, 12))),
])
def test_a_listing_is_described_by_its_source_and_day(source: str, expected: tuple[str, date]) -> None:
    assert describe_listing(Listing(source, fixture_papers()), today=DAY) == expected  # papers of 2026-08-12


def test_a_listing_without_dates_is_todays() -> None:
    undated = [make_paper("Exploration", "exploration", id="2608.1")]
    assert describe_listing(Listing("sample", undated), today=DAY) == ("Sample papers", DAY)


def test_the_header_and_subject_name_the_listing_and_its_day() -> None:
    papers = fixture_papers()
    rendered = app().render(READER, picks_for(papers), listing=Listing("hf:2026-03-12", papers))
    assert ">Hugging Face Daily Papers, 12 Mar<" in rendered.html
    assert rendered.text.startswith("Hugging Face Daily Papers, Thursday 12 Mar 2026\n3 papers matched your keywords")
    assert rendered.subject.startswith("12 Mar: 3 papers · ")
    assert " new " not in rendered.subject + rendered.text + rendered.html


# --- the subject --------------------------------------------------------------------

def test_a_long_subject_is_cut_at_a_word_with_an_ellipsis() -> None:
    title = "Exploration via Calibrated Preference Learning for Multi-Turn Reinforcement Learning Agents"
    rendered = app().render(READER, picks_for([make_paper(title, "exploration", id="2608.00042")]), day=DAY)
    assert len(rendered.subject) <= 78 and rendered.subject.endswith("…")
    cut = rendered.subject.removesuffix("…")
    assert (cut.rsplit(" ", 1)[-1] + " ") in (title + " ")  # the last word shown is a whole word


@pytest.mark.parametrize("text, expected", [
    ("short", "short"),
    ("Calibrated Preference Learning for Reward Models", "Calibrated Preference…"),
    ("Calibrated Preference Learning", "Calibrated Preference Learning"),
    ("Calibrated: Preference", "Calibrated…"),
    ("Supercalifragilisticexpialidocious", "Supercalifragilisti…"),
])
def test_cut_words(text: str, expected: str) -> None:
    from digest.text import cut_words

    assert cut_words(text, 30 if "Learning" in text else 20) == expected


@pytest.mark.parametrize("text, expected", [
    ("3 papers · 基于大语言模型的多智能体强化学习方法研究", "3 papers · 基于大语言模…"),
    ("3 papers · 大規模言語モデルによる強化学習の研究", "3 papers · 大規模言語モ…"),
    ("3 papers · 대규모 언어 모델 강화학습 연구", "3 papers · 대규모 언어…"),  # Korean spaces its words
])
def test_text_written_without_spaces_is_cut_at_a_character(text: str, expected: str) -> None:
    from digest.text import cut_words

    assert cut_words(text, 18) == expected


def test_a_long_title_in_chinese_stays_in_the_subject_cut_at_a_character() -> None:
    title = "基于大语言模型的多智能体强化学习方法研究：从理论分析到大规模实验评估与应用的系统性综述和展望以及未来方向" * 2
    paper = make_paper(title, "Exploration for agents; exploration bonuses drive the exploration.", id="2608.00042")
    rendered = app().render(READER, picks_for([paper]), day=DAY)
    assert len(rendered.subject) <= 78 and rendered.subject.endswith("…")
    assert title[:20] in rendered.subject


# --- the footer speaks plainly ---------------------------------------------------------

def test_the_footer_shows_keywords_as_readers_understand_them() -> None:
    reader = Subscriber("ada@example.org", ("reward model*", "RLHF^2", '"world model"', "-survey", "-review^3"))
    rendered = app().render(reader, picks_for(fixture_papers(), reader), day=DAY)
    expected = "follows: reward model…, RLHF, “world model”; not: survey, review."
    assert expected in " ".join(rendered.text.split()) and expected in rendered.html  # the text part wraps at 76
    for syntax in ("-survey", "model*", "^2", "^3"):
        assert syntax not in rendered.text and syntax not in rendered.html


def test_a_long_keyword_list_does_not_fill_the_footer_or_push_papers_out() -> None:
    """An operator's list of 400 keywords (and 100 followed authors): the footer names the first few of each and
    counts the rest (the preferences page lists them all). It repeated every one, some 15 KB in each part, which
    Gmail's size budget took from the papers: twenty papers that fit whole lost three."""
    from .test_render_glance import twenty_rich_papers

    topics = tuple(f"topic{n} words{n}" for n in range(400))
    reader = Subscriber("ada@example.org", ("exploration", "reward model", *topics, "-survey",
                                            *(f"-skip{n}" for n in range(30))),
                        authors=tuple(f"Author{n} Surname{n}" for n in range(100)))
    picks = rank(Index(twenty_rich_papers()), parse_profile(reader.keywords),
                 selection=Selection(max_items=20, min_score=0.5))
    rendered = app(**LINKS).render(reader, picks, day=DAY)
    for part in (" ".join(rendered.text.split()), rendered.html):
        assert "follows: exploration, reward model, topic0 words0, topic1 words1," in part
        assert "topic20 words20" not in part and "and 392 more; not: survey, skip0," in part
        assert "skip20" not in part and "and 21 more; and the papers of Author0 Surname0, " in part
        assert "Author20" not in part and "and 90 more." in part
    assert rendered.shown == 20


LINKS = {"DIGEST_PUBLIC_URL": "https://digest.example.org", "DIGEST_SECRET_KEY": "Zq7VhX2mN9pL4tR8wK3cF6yB1dG5sJ0a"}


@pytest.mark.parametrize("env, words", [
    ({}, 'To stop getting this digest, send an email with the subject "unsubscribe" to digest@example.com.'),
    ({"DIGEST_UNSUBSCRIBE_URL": "https://example.com/u?id=1"},
     "To stop getting this digest, open this link: https://example.com/u?id=1"),  # no "." a linkifier would take
])
def test_the_text_part_says_how_to_unsubscribe_in_words(env: dict[str, str], words: str) -> None:
    rendered = app(**env).render(READER, picks_for(fixture_papers()), day=DAY)
    assert " ".join(rendered.text.split()).endswith(words)  # wrapped at 76, a link never broken


# --- "20 of 30" ---------------------------------------------------------------------

def many_papers(count: int) -> list:
    return [make_paper(f"Exploration study {n}", f"exploration number {n}", id=f"2608.{20000 + n}")
            for n in range(count)]


def test_a_cut_list_says_how_many_matched_in_all() -> None:
    papers = many_papers(30)
    index, profile = Index(papers), parse_profile(READER.keywords)
    picks = rank(index, profile, selection=Selection(max_items=20, min_score=0.5))
    total = count_matches(index, profile, min_score=0.5)
    assert (len(picks), total) == (20, 30)
    rendered = app().render(READER, picks, day=DAY, total=total)
    assert "20 of 30 papers" in rendered.subject
    assert "The best 20 of 30 papers that matched your keywords" in rendered.text
    assert "and 10 more matches, not shown: your digest shows at most 20 papers." in rendered.text
    assert "And 10 more matches, not shown: your digest shows at most 20 papers." in rendered.html
    assert (rendered.shown, rendered.overflow) == (20, 10)


def test_a_full_list_says_nothing_of_more() -> None:
    rendered = app().render(READER, picks_for(many_papers(5)), day=DAY, total=5)
    assert "5 papers matched your keywords" in rendered.text and "more match" not in rendered.text


@pytest.mark.parametrize("max_items", [None, 3, 50])
def test_count_matches_is_what_rank_gives_without_a_limit(max_items: int | None) -> None:
    papers = [*many_papers(12), make_paper("A survey of exploration", "exploration survey", id="2608.29999"),
              make_paper("Exploration study 3", "exploration number 3 again", id="2608.29998")]  # a duplicate title
    profile, sent = parse_profile(["exploration", "-survey"]), {"2608.20001", "2608.20002"}
    index = Index(papers)
    unlimited = rank(index, profile, sent=sent, selection=Selection(max_items=None, min_score=0.5))
    assert count_matches(index, profile, sent=sent, min_score=0.5) == len(unlimited) == 10


# --- nothing remote, nothing that looks like a trick -------------------------------------

def test_the_html_loads_nothing_from_the_network() -> None:
    html = app().render(READER, picks_for(fixture_papers()), day=DAY).html
    assert "fonts.googleapis" not in html and "@import" not in html and "<link" not in html
    assert " src=" not in html and "url(" not in html


def test_the_preheader_is_hidden_without_a_low_contrast_colour() -> None:
    html = app().render(READER, picks_for(fixture_papers()), day=DAY).html
    preheader = re.search(r'<div class="preheader"[^>]*? style="([^"]*)"[^>]*>([^<]*)</div>', html)
    assert preheader, "no preheader"
    style, text = preheader.groups()
    assert "display:none" in style and "mso-hide:all" in style and "color" not in style
    assert text.startswith("3 papers matched your keywords: Reward Models for RLHF")


@pytest.mark.parametrize("authors, count, shown", [
    (["Ada Lovelace", "Alan Turing"], None, "Ada Lovelace, Alan Turing"),
    (["A", "B", "C", "D"], None, "A, B, C et al."),
    (["Grace Hopper"], 7, "Grace Hopper et al."),
    ([], 10, "10 authors"),
    # names written "Last, First" (a journal's feed, a BibTeX export): commas alone would not say who is who
    (["Liskov, Barbara", "Hopper, Grace", "Turing, Alan", "Lovelace, Ada"], None,
     "Liskov, Barbara; Hopper, Grace; Turing, Alan et al."),
    (["Liskov, B.", "Grace Hopper"], None, "Liskov, B.; Grace Hopper"),
])
def test_authors_line(authors: list[str], count: int | None, shown: str) -> None:
    paper = make_paper("Exploration", "exploration", id="2608.3", authors=authors, authors_count=count)
    rendered = app().render(READER, picks_for([paper]), day=DAY)
    assert f"\n   {shown}\n" in rendered.text


def test_the_text_part_wraps_matches_and_the_footer_at_78_but_never_a_title_or_a_link() -> None:
    """A title stays one line: wrapped, its second line would read as the authors' line below it."""
    title = "Reward Models That Know What They Don't Know: Calibrated Preference Learning for RLHF at Scale"
    paper = make_paper(title, "Reward models and exploration for RLHF. " * 3, id="2608.00077")
    reader = Subscriber("ada@example.org", ("exploration", "reward model", "RLHF", "preference learning",
                                            "calibrated preference", "language model alignment"), name="Ada")
    text = app().render(reader, picks_for([paper], reader), day=DAY).text

    long = [line for line in text.splitlines() if len(line) > 78 and "://" not in line]
    assert long == [f"1. {title}"]


LINKED_ABSTRACT = ("We study exploration in sparse-reward settings with learned reward models. Code and data: "
                   "https://github.com/example-lab/curiosity-driven-exploration-benchmark.")


@pytest.mark.parametrize("field", ["abstract", "summary"])
def test_the_text_part_never_breaks_a_link_in_an_abstract_or_summary(field: str) -> None:
    """A mail app links a URL up to the line break: one cut at its hyphens or inside it leads nowhere."""
    long_link = "https://example.org/" + "x" * 90
    text = f"{LINKED_ABSTRACT} Mirror: {long_link} (same data)."
    paper = (make_paper("Exploration benchmarks", text, id="2608.00042") if field == "abstract" else
             make_paper("Exploration benchmarks", "Exploration.", id="2608.00042", summary=text, summary_by="a model"))
    lines = app().render(READER, picks_for([paper]), day=DAY).text.splitlines()
    assert "   https://github.com/example-lab/curiosity-driven-exploration-benchmark." in lines
    assert f"   {long_link}" in lines or any(line.endswith(f" {long_link}") for line in lines)
    prose = [line for line in lines if line.startswith("   We study") or "sparse" in line or "(same data)" in line]
    assert prose and all(len(line) <= 75 for line in prose)


def test_the_text_part_still_wraps_an_abstract_written_without_spaces() -> None:
    paper = make_paper("探索 exploration", "探索 exploration " + "中文摘要" * 60, id="2608.00043")
    lines = app().render(READER, picks_for([paper]), day=DAY).text.splitlines()
    body = [line for line in lines if "中文摘要" in line]
    assert len(body) > 2 and all(len(line) <= 75 for line in body)


def test_a_long_keyword_note_wraps_in_the_text_part() -> None:
    hint = KeywordHint("graph neural network explainability", 14, ("graph neural networks", "explainable GNNs"))
    paper = make_paper("Exploration", "Exploration.", id="2608.00044")
    text = app().render(READER, picks_for([paper]), day=DAY, hints=[hint]).text
    assert f"Note: {hint.sentence()}." in " ".join(text.split())
    assert all(len(line) <= 76 for line in text.splitlines() if "://" not in line and not line.startswith("1. "))


def test_a_preview_for_keywords_alone_says_you_follow_them() -> None:
    """``digest preview --keywords`` without DIGEST_TO renders for a reader with no address."""
    rendered = app().render(Subscriber("", ("exploration",)), [], day=DAY, total=0)
    for part in (rendered.text, rendered.html):
        assert "You get this because you follow: exploration." in " ".join(part.split()), part


def columns(line: str) -> int:
    """A line's width in a monospaced font: a Chinese or Japanese character takes two columns."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in line)


@pytest.mark.parametrize("field", ["abstract", "summary"])
def test_the_text_part_wraps_chinese_by_its_width_on_screen(field: str) -> None:
    """A summary in the reader's language (Chinese) is wrapped at 75 columns as English is, not at 75
    characters (150 columns, which a terminal mail client breaks again, mid-indent)."""
    text = "本文研究 exploration 在稀疏奖励环境中的作用，" + "我们提出一种基于学习的奖励模型方法，" * 12
    paper = (make_paper("探索 exploration", text, id="2608.00045") if field == "abstract" else
             make_paper("探索 exploration", "Exploration.", id="2608.00045", summary=text, summary_by="qwen"))
    lines = app().render(READER, picks_for([paper]), day=DAY).text.splitlines()
    body = [line for line in lines if any(ch in line for ch in "本奖方")]
    assert len(body) >= 4 and all(columns(line) <= 75 for line in body), [columns(line) for line in body]
    assert "".join(line.strip() for line in body).startswith("本文研究 exploration 在稀疏奖励环境中的作用，我们")


def test_an_abstract_written_without_spaces_is_cut_at_a_character_not_at_its_last_space() -> None:
    """Cut back to the last space, a Chinese abstract after "探索 exploration " kept those two words alone."""
    abstract = "探索 exploration 在强化学习中的作用。" + "我们提出一种基于学习的奖励模型方法。" * 40
    paper = make_paper("探索 exploration", abstract, id="2608.00046")
    rendered = app().render(READER, picks_for([paper]), day=DAY)
    shown = "".join(line.strip() for line in rendered.text.splitlines() if "奖励" in line)
    assert len(shown) > 300 and shown.endswith("…")
    assert "我们提出一种基于学习的奖励模型方法。我们提出" in rendered.html


def test_a_long_authors_line_wraps_in_the_text_part() -> None:
    authors = ["Maximilian Alexander Mustermann-Schmidt", "Christopher Montgomery-Hamilton",
               "Alexandra Featherstonehaugh-Cholmondeley", "D. Author"]
    paper = make_paper("Exploration", "exploration", id="2608.00047", authors=authors)
    lines = app().render(READER, picks_for([paper]), day=DAY).text.splitlines()
    start = lines.index("1. Exploration") + 1
    assert lines[start].startswith("   Maximilian") and lines[start + 1].startswith("   ")
    assert " ".join(" ".join(lines[start:start + 2]).split()) == ", ".join(authors[:3]) + " et al."
    assert all(len(line) <= 75 for line in lines[start:start + 2])
