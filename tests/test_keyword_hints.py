"""No silent empty digest (issue #18): a keyword that matches nothing is named, with what the papers say.

The keywords that must stay unmatched use typos ("reinfrocement", "exploraton"):
spelling variants such as dialog/dialogue may come to match directly, so those
are tested as suggestions only (``suggestions`` does not ask whether the keyword matches).
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path

import httpx
import pytest

from digest.app import Digest
from digest.model import Listing, Paper, Subscriber, make_paper
from digest.ranking.hints import KeywordHint, edit_distance, keyword_hints, suggestions
from digest.ranking.index import Index
from digest.ranking.profile import parse_keyword, parse_profile
from digest.sending.catchup import Plan
from digest.settings import load_settings
from digest.subscribers import load_subscribers

from .test_render import DAY, GOLDEN, READER, app, fixture_papers, picks_for
from .test_wiring import without_view_link
from .pg_server import pg_server, state_db  # noqa: F401  (fixtures)
from .web_server import running

PAPERS = [
    make_paper(id="p1", title="A dialogue system for customer support",
               abstract="We build dialogue systems that answer questions about orders."),
    make_paper(id="p2", title="Reinforcement learning from human feedback",
               abstract="Reinforcement learning with reward models after pretraining."),
    make_paper(id="p3", title="Optimisation of colour models",
               abstract="Behaviour modelling of dialogue agents, with optimization of the optimization step."),
    make_paper(id="p4", title="Exploration in grid worlds", abstract="Count-based exploration bonuses suffice."),
]


def hints_for(keywords: str, papers: list[Paper] = PAPERS, days: int = 14, **kwargs: object) -> list[KeywordHint]:
    return keyword_hints(parse_profile(keywords), Index(papers), days, **kwargs)  # type: ignore[arg-type]


# which keywords, and what is suggested ------------------------------------------------------

@pytest.mark.parametrize(("keyword", "suggested"), [
    ("dialog systems", ("dialogue system",)),  # a longer stem
    ("pre training", ("pretraining",)),  # two words written as one
    ("behavior modeling", ("behaviour modelling",)),  # US and UK spellings
    ("reinfrocement learning", ("reinforcement learning",)),  # a typo
    ("reward modle", ("reward models",)),  # a typo of a word the papers only write in the plural
    ("dialogue system", ()),  # what the papers say already: nothing else to suggest
])
def test_nearby_terms_are_the_papers_own(keyword: str, suggested: tuple[str, ...]) -> None:
    assert suggestions(Index(PAPERS), parse_keyword(keyword)) == suggested


def test_a_misspelt_keyword_is_named_with_what_the_papers_say() -> None:
    assert hints_for("reward model, reinfrocement learning") == [
        KeywordHint("reinfrocement learning", 14, ("reinforcement learning",), partly=True)]


def test_the_line_says_which_keyword_and_what_the_papers_say() -> None:
    hint = KeywordHint("dialog systems", 14, ("dialogue system",))
    assert hint.sentence() == "“dialog systems” matched nothing in 14 days; papers say “dialogue system”"
    assert KeywordHint("exploraton", 1).sentence() == "“exploraton” matched nothing in today's listing"
    assert KeywordHint.from_json(json.loads(json.dumps(hint.to_json()))) == hint


def test_a_keyword_that_matches_gets_no_hint() -> None:
    assert hints_for("reward model, exploration, dialogue system") == []


def test_an_unrelated_keyword_matched_nothing_and_nothing_is_suggested() -> None:
    assert hints_for("zebrafish embryology") == [KeywordHint("zebrafish embryology", 14, ())]


def test_exclusions_are_never_hinted() -> None:
    assert hints_for("exploration, -zebrafish, -reinfrocement learning") == []


def test_the_most_used_neighbour_comes_first() -> None:
    """``optimizaton`` is one letter from "optimization" (in two papers) and two from "optimisation" (one)."""
    papers = [*PAPERS, make_paper(id="p5", title="Optimization at scale", abstract="Fast.")]
    assert suggestions(Index(papers), parse_keyword("optimizaton")) == ("optimization", "optimisation")


def test_short_words_are_not_guessed_at() -> None:
    assert hints_for("rlx") == [KeywordHint("rlx", 14, ())]


def test_a_match_outside_the_readers_window_does_not_count() -> None:
    """A catch-up index holds other readers' older papers: "exploration" is only in p4, older than this reader's mark."""
    assert hints_for("exploration", leave_out={"p4"}) == [KeywordHint("exploration", 14, ())]
    assert hints_for("exploration", leave_out={"p1"}) == []


@pytest.mark.parametrize(("a", "b", "distance"), [("dialog", "dialog", 0), ("color", "colour", 1),
                                                  ("center", "centre", 1), ("kitten", "sitting", 3)])
def test_edit_distance_counts_a_swap_as_one(a: str, b: str, distance: int) -> None:
    assert edit_distance(a, b, 5) == distance


# the window: the days the send ranks for the reader ----------------------------------------

def test_the_window_is_the_readers_catch_up_days() -> None:
    """Kept papers from 9 days ago count (the hint says 10 days); older ones, before the mark, do not."""
    zone = load_settings(None, {}).zone
    now = datetime.combine(date(2026, 8, 20), time(9), tzinfo=zone)
    old, recent = [make_paper(id="k1", title="Exploration bonuses", abstract="Curiosity."),
                   make_paper(id="k2", title="Reward shaping", abstract="Dense rewards.")]
    arrivals = [int((now - timedelta(days=12)).timestamp()), int((now - timedelta(days=9)).timestamp())]
    listing = Listing("file", PAPERS[:2] + [old, recent])
    plan = Plan(listing, {}, {"ada@example.org": arrivals[1]}, arrivals, ["k1", "k2"], zone)
    digest = Digest(load_settings(None, {}), clock=lambda: now.timestamp())
    reader = Subscriber("ada@example.org", ("reward shaping", "exploration bonus"))
    assert digest.keyword_hints(Index(listing.papers), reader, plan) == (KeywordHint("exploration bonus", 10, ()),)


# the email ---------------------------------------------------------------------------------

HOSTILE = '<img src=x onerror="alert`1`">'


def test_the_email_carries_the_line_escaped_with_a_link_to_the_preferences() -> None:
    linked = app(DIGEST_PUBLIC_URL="https://digest.example.org", DIGEST_SECRET_KEY="Zq7VhX2mN9pL4tR8wK3cF6yB1dG5sJ0a")
    hints = [KeywordHint(HOSTILE, 14, ("dialogue <b>system</b>",))]
    rendered = linked.render(READER, picks_for(fixture_papers()), day=DAY, sent_on=DAY, hints=hints)
    assert "<img src=x" not in rendered.html and "<b>system" not in rendered.html
    assert "Note: “&lt;img src=x onerror=&#34;alert`1`&#34;&gt;” matched nothing in 14 days" in rendered.html
    assert rendered.links is not None
    assert f'<a href="{rendered.links.preferences}" style="color:#0b57d0;">Change your keywords</a>' in rendered.html
    assert f"Note: “{HOSTILE}” matched nothing in 14 days; papers say “dialogue <b>system</b>”." in " ".join(rendered.text.split())  # wrapped at 76
    assert f"Change your keywords: {rendered.links.preferences}" in rendered.text


def test_an_email_names_at_most_five_keywords_that_matched_nothing_and_counts_the_rest() -> None:
    hints = [KeywordHint(f"topic number {n}", 1, ()) for n in range(400)]

    rendered = app().render(READER, picks_for(fixture_papers()), day=DAY, sent_on=DAY, hints=hints)

    notes = [line for line in rendered.text.splitlines() if line.startswith("Note: ")]
    assert notes[:4] == [f"Note: “topic number {n}” matched nothing in today's listing." for n in range(4)]
    assert notes[4:] == ["Note: Of your keywords, 396 more matched nothing."]
    assert rendered.html.count("Note: ") == 5 and len(rendered.html.encode()) < 40_000


def test_the_count_of_the_rest_tells_keywords_that_matched_only_partly_from_those_that_matched_nothing() -> None:
    hints = [KeywordHint(f"topic number {n}", 1, (), partly=n % 3 == 0) for n in range(12)]

    rendered = app().render(READER, picks_for(fixture_papers()), day=DAY, sent_on=DAY, hints=hints)

    words = " ".join(rendered.text.split())  # the text part wraps the note at 76 columns
    assert "Note: Of your keywords, 6 more matched nothing and 2 more matched only partly." in words


def test_when_every_keyword_left_matched_only_partly_the_count_says_only_that() -> None:
    hints = [KeywordHint(f"topic number {n}", 1, (), partly=True) for n in range(7)]

    rendered = app().render(READER, picks_for(fixture_papers()), day=DAY, sent_on=DAY, hints=hints)

    assert "Note: Of your keywords, 3 more matched only partly." in rendered.text


@pytest.mark.parametrize("part", ["text", "html"])
def test_a_reader_whose_keywords_all_match_gets_the_email_of_before(part: str) -> None:
    papers = fixture_papers()
    digest = app()
    hints = digest.keyword_hints(Index(papers), READER, {})
    assert hints == ()
    rendered = digest.render(READER, picks_for(papers), day=DAY, listing=Listing("hf", papers), hints=hints)
    assert getattr(rendered, part) == (GOLDEN / f"digest.{part}").read_text()


# digest rank -------------------------------------------------------------------------------

def test_digest_rank_says_it_on_stderr_and_keeps_stdout_for_the_picks(tmp_path: Path) -> None:
    listing = tmp_path / "papers.jsonl"
    listing.write_text("".join(json.dumps(p.to_json()) + "\n" for p in PAPERS))
    done = subprocess.run(
        [sys.executable, "-m", "digest", "rank", "--source", str(listing), "--json",
         "--keywords", "reward model, reinfrocement learning, -zebrafish"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={"PYTHONPATH": str(Path(__file__).resolve().parents[1]), "PATH": "/usr/bin:/bin",
             "DIGEST_STATE_DB": str(tmp_path / "state.db")})
    assert done.returncode == 0, done.stderr
    assert ("digest: hint: “reinfrocement learning” matched only partly in today's listing; "
            "papers say “reinforcement learning”") in done.stderr.splitlines()
    assert "zebrafish" not in done.stderr and "hint" not in done.stdout
    assert all(json.loads(line)["id"] for line in done.stdout.splitlines())


# the send and the preferences page ---------------------------------------------------------

ROSTER = """
[[subscribers]]
email = "ada@example.org"
keywords = ["reward model", "reinfrocement learning"]

[[subscribers]]
email = "cara@example.org"
keywords = ["exploraton"]
"""


def test_the_send_says_it_in_the_email_and_the_page_keeps_it_for_a_reader_who_got_none(tmp_path: Path,
                                                                                         server, inbox) -> None:
    """Ada gets her digest with the line; Cara's only keyword matches nothing: no email, but her page says it."""
    listing = tmp_path / "papers.jsonl"
    listing.write_text("".join(json.dumps(p.to_json()) + "\n" for p in PAPERS))
    with running(tmp_path, smtp_host="127.0.0.1", smtp_port=server.port, smtp_security="none",
                 min_score=1.0) as web:
        web.settings.subscribers.write_text(ROSTER)  # type: ignore[union-attr]
        readers = load_subscribers(web.settings.subscribers)  # type: ignore[arg-type]
        report = Digest(web.settings).send(readers, source=str(listing))
        assert report.sent == ["ada@example.org"] and report.nothing_new == ["cara@example.org"]
        text = inbox.to("ada@example.org")[0].get_body(("plain",)).get_content()
        assert "Note: “reinfrocement learning” matched only partly in today's listing; " \
               "papers say “reinforcement learning”." in " ".join(text.split())  # wrapped at 76
        page = httpx.get(web.links("cara@example.org").preferences, timeout=10)
        assert page.status_code == 200
        assert "<li>“exploraton” matched nothing in today&#39;s listing; papers say “exploration”.</li>" in page.text
        html = inbox.to("ada@example.org")[0].get_body(("html",)).get_content()
        view = httpx.get(web.links("ada@example.org").view, timeout=10).text
        assert "Note: “reinfrocement learning”" in view
        assert view.replace("\r\n", "\n") == without_view_link(html.replace("\r\n", "\n"))  # the archive keeps the line


def test_a_keyword_the_reader_has_since_changed_is_not_mentioned(tmp_path: Path) -> None:
    with running(tmp_path) as web:
        with web.store() as store:
            store.save_keyword_hints({"bob@example.org": [KeywordHint("difusion", 1, ("diffusion",)).to_json()]},
                                     0.0)
        assert "difusion" not in httpx.get(web.links("bob@example.org").preferences, timeout=10).text
        with web.store() as store:
            store.save_preferences("bob@example.org", keywords=["difusion"], max_items=None, frequency="run",
                                   status="active")
        assert "“difusion” matched nothing" in httpx.get(web.links("bob@example.org").preferences, timeout=10).text
        with web.store() as store:
            store.save_keyword_hints({"bob@example.org": []}, 0.0)  # the next run found none
            assert store.keyword_hints_of("bob@example.org") is None


def test_the_store_keeps_each_readers_hints_of_the_last_run_on_both_engines(state_db: Path) -> None:
    from digest.store import Store

    hint = KeywordHint("exploraton", 3, ("exploration",)).to_json()
    with Store.open(state_db) as store:
        store.save_keyword_hints({"Ada@Example.org": [hint], "bob@example.org": [hint]}, 100.0)
        store.save_keyword_hints({"bob@example.org": [], "cara@example.org": []}, 200.0)  # bob's keyword matches now
        assert store.keyword_hints_of("ada@example.org") == (100.0, [hint])
        assert store.keyword_hints_of("bob@example.org") is None and store.keyword_hints_of("cara@example.org") is None
        assert store.remove_reader("ada@example.org") and store.keyword_hints_of("ada@example.org") is None
