"""What a paper is at a glance, from the listing: HF's summary, the thumbnail, GitHub stars, the venue.

Each is optional, checked by type at the loader (a field that should be text may be a
number or null), and kept by every saved copy (``Paper.to_json`` and back).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.model import make_paper, paper_from_stored
from digest.sources.parse import parse_listing

from .conftest import SHARED

HF_DAY = SHARED / "fixtures" / "hf_api" / "daily_papers_2026-08-13.json"
ABSTRACT = "We train reward models on human preferences and study how they guide exploration."


def hf_item(**paper: object) -> dict:
    fields = {"id": "2608.00001", "title": "Reward Models", "summary": ABSTRACT, **paper}
    item = {"paper": fields, "title": fields["title"]}
    if "thumbnail" in paper:
        item["thumbnail"] = fields.pop("thumbnail")
    return item


def load_hf(*items: dict):
    return parse_listing(json.dumps(list(items)).encode(), "hf.json")


RICH = dict(summary="Reward models, briefly.", summary_by="Hugging Face", venue="ICLR 2026", stars=42,
            thumbnail="https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2608.00001.png")


def test_the_new_fields_survive_json_lines_and_the_stores_copy() -> None:
    paper = make_paper("Reward Models", ABSTRACT, id="2608.00001", **RICH)
    line = json.dumps(paper.to_json())
    assert parse_listing((line + "\n").encode(), "saved.jsonl").papers == [paper]
    assert paper_from_stored(json.loads(line)) == paper


def test_a_jsonl_line_without_an_abstract_reads_summary_as_the_abstract_only() -> None:
    line = json.dumps({"id": "2608.00001", "title": "Reward Models", "summary": ABSTRACT})
    [paper] = parse_listing((line + "\n").encode(), "old.jsonl").papers
    assert paper.abstract == ABSTRACT and paper.summary is None


def test_hf_ai_summary_thumbnail_and_stars_are_kept_and_labelled() -> None:
    listing = load_hf(hf_item(ai_summary="  Reward models\n guide exploration. ", githubStars=42,
                              githubRepo="https://github.com/example/rm",
                              thumbnail="https://cdn-thumbnails.huggingface.co/x.png"))
    [paper] = listing.papers
    assert (paper.summary, paper.summary_by) == ("Reward models guide exploration.", "Hugging Face")
    assert paper.thumbnail == "https://cdn-thumbnails.huggingface.co/x.png" and paper.stars == 42
    assert listing.warnings == []


@pytest.mark.parametrize("fields, warning", [
    ({"ai_summary": 12}, "ai_summary (a JSON number, not text)"),
    ({"ai_summary": {"text": "x"}}, "ai_summary (a JSON object, not text)"),
    ({"thumbnail": 5}, "thumbnail (a JSON number, not text)"),
    ({"githubStars": "lots", "githubRepo": "https://github.com/a/b"}, "githubStars (a JSON string, not a count)"),
])
def test_a_glance_field_of_the_wrong_type_is_dropped_with_a_warning_and_the_paper_kept(fields, warning) -> None:
    listing = load_hf(hf_item(**fields))
    [paper] = listing.papers
    assert (paper.summary, paper.summary_by, paper.thumbnail, paper.stars) == (None, None, None, None)
    assert listing.warnings == [f"item 1: ignored {warning}"]


def test_null_glance_fields_are_simply_absent() -> None:
    listing = load_hf(hf_item(ai_summary=None, thumbnail=None, githubStars=None))
    assert listing.papers[0].summary is None and listing.warnings == []


@pytest.mark.parametrize("url", ["http://example.org/a.png", "javascript:alert(1)", "data:image/png;base64,AAAA",
                                 "https://example.org/a b.png", 'https://example.org/"onerror=x'])
def test_only_https_thumbnails_are_kept(url: str) -> None:
    assert load_hf(hf_item(thumbnail=url)).papers[0].thumbnail is None


def test_stars_without_a_repository_are_not_shown() -> None:
    assert load_hf(hf_item(githubStars=7)).papers[0].stars is None


@pytest.mark.skipif(not HF_DAY.exists(), reason="../shared fixtures are absent")
def test_a_real_hf_day_gives_summaries_thumbnails_and_stars() -> None:
    papers = parse_listing(HF_DAY.read_bytes(), HF_DAY.name).papers
    assert len(papers) == 20
    assert all(p.summary and p.summary_by == "Hugging Face" for p in papers)
    assert all(p.thumbnail and p.thumbnail.startswith("https://cdn-thumbnails.huggingface.co/") for p in papers)
    assert sum(p.stars is not None for p in papers) == 10
    assert all(p.github for p in papers if p.stars is not None)


# --- the venue, from the arXiv comment -------------------------------------------------

ARXIV_API = SHARED / "fixtures" / "arxiv" / "arxiv_api_query_all-testing_max10.xml"


@pytest.mark.parametrize("comment, venue", [
    ("Accepted at ICLR 2026", "ICLR 2026"),
    ("NeurIPS 2025", "NeurIPS 2025"),
    ("CVPR 2026 Findings", "CVPR 2026 Findings"),
    ("Findings of ACL 2025", "ACL 2025 Findings"),
    ("Accepted to EMNLP 2025 (main conference). 9 pages", "EMNLP 2025"),
    ("NeurIPS'25 spotlight", "NeurIPS 2025"),
    ("ICML 2025 Workshop on Efficient Systems", "ICML 2025 Workshop"),
    # the real comments of the recorded arXiv API response
    ("Accepted by the ACM SIGSOFT International Symposium on Software Testing and Analysis (ISSTA 2020)",
     "ISSTA 2020"),
    ("13 pages, 6 figures, In Proceedings of the 31st ACM SIGSOFT International Symposium on Software Testing "
     "and Analysis (ISSTA) 2022", "ISSTA 2022"),
    ("2023 IEEE International Conference on Software Testing, Verification and Validation Workshops (ICSTW), "
     "8 pages, 2 tables, 6 figures", "ICSTW 2023"),
    ("2025 IEEE/ACM International Workshop on Deep Learning for Testing and Testing for Deep Learning (DeepTest)",
     "DeepTest 2025"),
])
def test_a_venue_named_with_its_year_is_read(comment: str, venue: str) -> None:
    from digest.sources.venue import venue_from_comment

    assert venue_from_comment(comment) == venue


@pytest.mark.parametrize("comment", [
    "10 pages, 11 figures; added reference",
    "Web Testing, GUI Testing, front-end, survey, SBST, AI, fuzzing",  # acronyms, but topics
    "Microcontroller, FPGA, Testing, TMR, SOC",
    "3rd International Workshop on Artificial Intelligence in Software Testing (AIST) - International Conference "
    "on Software Testing and Validation (ICST)",  # no year: which edition is not known
    "Code: https://github.com/x/ICLR2026", "We compare with GPT 2024", "IEEE 2023", "COVID-19 cohorts", "", None,
])
def test_a_comment_that_names_no_venue_for_certain_gives_none(comment: str | None) -> None:
    from digest.sources.venue import venue_from_comment

    assert venue_from_comment(comment) is None


ATOM_ENTRY = """<feed xmlns="http://www.w3.org/2005/Atom" xmlns:arxiv="http://arxiv.org/schemas/atom">
<entry><id>http://arxiv.org/abs/2608.00001v1</id><title>Reward Models</title><summary>{abstract}</summary>
<arxiv:comment>{comment}</arxiv:comment><author><name>Ada Lovelace</name></author></entry></feed>"""
RSS_ITEM = """<rss xmlns:arxiv="http://arxiv.org/schemas/atom" version="2.0"><channel><item>
<title>Reward Models</title><link>https://arxiv.org/abs/2608.00001</link>
<description>arXiv:2608.00001v1 Announce Type: new
Comments: {comment}
Abstract: {abstract}</description><guid>oai:arXiv.org:2608.00001v1</guid></item></channel></rss>"""


@pytest.mark.parametrize("template", [ATOM_ENTRY, RSS_ITEM], ids=["atom", "rss"])
def test_arxiv_feeds_give_the_venue_of_their_comment(template: str) -> None:
    data = template.format(abstract=ABSTRACT, comment="12 pages; accepted at ICLR 2026").encode()
    [paper] = parse_listing(data, "arxiv.xml").papers
    assert paper.venue == "ICLR 2026" and paper.abstract == ABSTRACT


@pytest.mark.skipif(not ARXIV_API.exists(), reason="../shared fixtures are absent")
def test_the_recorded_arxiv_response_gives_venues_only_where_a_comment_names_one() -> None:
    papers = parse_listing(ARXIV_API.read_bytes(), ARXIV_API.name).papers
    assert [p.venue for p in papers] == ["ICST 2022", None, "ISSTA 2020", "ISSTA 2022", "ICSTW 2023", None, None,
                                         None, "DeepTest 2025", None]


# --- titles as people read them ----------------------------------------------------------

@pytest.mark.parametrize("raw, shown", [
    (r"Scaling Attention in $\mathcal{O}(n)$ Time", "Scaling Attention in 𝒪(n) Time"),
    (r"$\alpha$-Divergence and $\beta$-VAEs", "α-Divergence and β-VAEs"),
    (r"Schr\"odinger Bridges at Scale", "Schrödinger Bridges at Scale"),
    (r"$O(\log n)$ Regret for \textit{Bandits}", "O(log n) Regret for Bandits"),
    ("**Bold** Claims, *Careful* Checks and `code`", "Bold Claims, Careful Checks and code"),
    # characters special to LaTeX but ordinary in a title stay as they are
    (r"100% of $x^2$ Cases: A & B, C# and ~10x", "100% of x^2 Cases: A & B, C# and ~10x"),
    ("A $5 and $10 Budget", "A $5 and $10 Budget"),  # money, not math
    ("A* Search in 2*3 Grids", "A* Search in 2*3 Grids"),
    (r"Broken $\frac{$ Markup", r"Broken $\frac{$ Markup"),  # pylatexenc cannot: the raw text
    ("Plain Title", "Plain Title"),
    ("` `", "` `"),  # markdown around nothing: what was typed
])
def test_titles_lose_latex_and_markdown(raw: str, shown: str) -> None:
    assert make_paper(raw, ABSTRACT, id="2608.00001").title == shown


def test_a_malformed_title_is_kept_quietly(capfd: pytest.CaptureFixture[str]) -> None:
    title = "\\" + "{" * 600 + "$x$"  # deep nesting: pylatexenc gives up
    assert make_paper(title, ABSTRACT).title == title
    assert capfd.readouterr().err == ""  # no pylatexenc warning reaches the terminal


LATEXISH = st.lists(st.sampled_from([*"ab $\\{}^_%&#~*`'\"-", "\\frac", "\\mathcal", "\\begin", "ا"]),
                    max_size=40).map("".join)


@settings(max_examples=200, deadline=None, database=None)
@given(LATEXISH)
def test_any_title_gives_a_title_and_never_an_error(raw: str) -> None:
    """Whatever an author typed, the paper is kept with some non-blank title (the raw one at worst)."""
    if not raw.strip():
        return
    from digest.titles import readable_title

    shown = readable_title(raw)
    assert shown.strip()
    assert "%s" not in shown or "%s" in raw  # never pylatexenc's unfilled "%s/%s"
