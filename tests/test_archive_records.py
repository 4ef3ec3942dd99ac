"""The archive keeps what a digest is rendered from, and "view in browser" renders it again byte for byte.

A real SQLite file in tmp_path; the bundled templates and the sample listing;
the send's own render call on one side, the kept record on the other.
"""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from digest.app import Digest
from digest.archive import Reprinter, keep, render_kept
from digest.model import Listing, Subscriber
from digest.ranking.select import Pick
from digest.store import KeptDigest, Store

from .test_wiring import without_view_link
from .web_server import make_settings

SENT_ON = date(2026, 11, 23)
NOON = datetime(2026, 11, 23, 12, tzinfo=timezone.utc).timestamp()
READER = Subscriber(email="Ada.Lovelace@Example.org", name="Ada “Countess” Lovelace",
                    keywords=("diffusion", "language model*", '"reward model"', "-survey", "agents^2"))


@pytest.fixture
def app(tmp_path: Path):
    with Digest(make_settings(tmp_path, 8026, min_score=0.5), clock=lambda: NOON) as digest:
        yield digest


@pytest.fixture
def store(app: Digest):
    with Store.open(app.settings.state_db) as opened:
        yield opened


def ranked(app: Digest, reader: Subscriber = READER, limit: int = 20) -> tuple[Listing, list[Pick]]:
    listing = app.load_listing("sample", offline=True)
    picks = app.rank_readers(listing, [reader], limit=limit)[0][1]
    assert picks, "the sample listing matches these keywords"
    return listing, picks


def sent_and_kept(app: Digest, listing: Listing, picks: list[Pick], reader: Subscriber = READER,
                  **render: object) -> tuple[str, KeptDigest]:
    """The HTML the send renders, and the record the send keeps of it."""
    html = app.render(reader, picks, listing=listing, sent_on=SENT_ON, **render).html  # type: ignore[arg-type]
    source, day = app.describe(listing)
    kept = keep(reader, picks, message_id="<1@example.com>", sent_on=SENT_ON, source=source, day=day,
                templates=app.renderer.version, **render)  # type: ignore[arg-type]
    return html, kept


def test_a_kept_digest_renders_byte_for_byte_as_sent(app: Digest, store: Store) -> None:
    listing, picks = ranked(app)
    html, kept = sent_and_kept(app, listing, picks, total=len(picks) + 7)
    store.archive_digests([kept])

    again = store.kept_digest("ada.lovelace@example.org", SENT_ON.isoformat())

    assert again is not None and again.picks[0].paper == picks[0].paper
    assert render_kept(app.renderer, app.settings, again) == html
    assert "/feedback/" in html and "Ada.Lovelace@Example.org" in html


@pytest.mark.parametrize("shape", ["catch-up", "one pick", "partial matches", "many picks"])
def test_every_shape_of_digest_renders_byte_for_byte(app: Digest, store: Store, shape: str) -> None:
    reader = replace(READER, keywords=("diffus*", "model", "learning")) if shape != "one pick" else READER
    listing, picks = ranked(app, reader, limit=1 if shape == "one pick" else 50)
    since = SENT_ON - timedelta(days=4) if shape == "catch-up" else None
    if shape == "partial matches":
        picks = [replace(p, matched=tuple(replace(m, partial=True) for m in p.matched)) for p in picks]
    html, kept = sent_and_kept(app, listing, picks, reader, since=since)
    store.archive_digests([kept])

    again = store.kept_digest(reader.email, SENT_ON.isoformat())

    assert again is not None and render_kept(app.renderer, app.settings, again) == html


def test_a_day_with_no_papers_listed_renders_byte_for_byte(app: Digest, store: Store) -> None:
    """DIGEST_SEND_EMPTY on a holiday: "view in browser" says no papers were listed, as the email did."""
    listing = Listing("sample", [])
    html = app.render(READER, [], listing=listing, sent_on=SENT_ON).html
    source, day = app.describe(listing)
    store.archive_digests([keep(READER, [], message_id="<1@example.com>", sent_on=SENT_ON, source=source, day=day,
                                templates=app.renderer.version, nothing_listed=True)])

    again = store.kept_digest(READER.email, SENT_ON.isoformat())

    assert again is not None and render_kept(app.renderer, app.settings, again) == html
    assert "No new papers were listed" in html


def test_a_paper_whose_text_changed_later_shows_the_text_that_was_sent(app: Digest, store: Store) -> None:
    listing, picks = ranked(app)
    html, kept = sent_and_kept(app, listing, picks)
    store.archive_digests([kept])
    changed = replace(picks[0], paper=replace(picks[0].paper, abstract="Rewritten the next day."))
    later = dataclasses.replace(keep(READER, [changed, *picks[1:]], message_id="<2@example.com>",
                                     sent_on=SENT_ON + timedelta(days=1), source=kept.source, day=kept.day,
                                     templates=kept.templates))
    store.archive_digests([later])

    again = store.kept_digest(READER.email, SENT_ON.isoformat())

    assert again is not None and render_kept(app.renderer, app.settings, again) == html
    assert store.db.execute("SELECT count(*) FROM archive_papers").fetchone()[0] == len(picks) + 1


def test_the_reprinter_serves_the_page_with_the_current_templates(app: Digest, store: Store) -> None:
    listing, picks = ranked(app)
    html, kept = sent_and_kept(app, listing, picks)
    page = without_view_link(html)
    assert Reprinter(app.settings).page(kept) == page  # the page itself, less its link to itself
    assert Reprinter(app.settings).page(replace(kept, templates="older")) == page  # today's look, same papers


def test_a_record_takes_about_ten_bytes_a_pick(app: Digest, store: Store) -> None:
    listing, picks = ranked(app, replace(READER, keywords=("model", "learning", "data")), limit=20)
    assert len(picks) >= 10
    _, kept = sent_and_kept(app, listing, picks)
    store.archive_digests([kept])

    record = store.db.execute("SELECT record FROM archive_records").fetchone()[0]

    assert len(record) <= 4 + 12 * len(picks)  # key, rank, 32-bit score, matches; then 200 bytes for 20 picks


def test_a_second_digest_the_same_day_replaces_the_first(app: Digest, store: Store) -> None:
    listing, picks = ranked(app)
    _, first = sent_and_kept(app, listing, picks)
    store.archive_digests([first])
    store.archive_digests([replace(first, message_id="<again@example.com>", picks=first.picks[:1])])

    again = store.kept_digest(READER.email, SENT_ON.isoformat())

    assert again is not None and again.message_id == "<again@example.com>" and len(again.picks) == 1


def test_export_lists_kept_digests_and_remove_wipes_them(app: Digest, store: Store) -> None:
    listing, picks = ranked(app)
    _, kept = sent_and_kept(app, listing, picks)
    store.archive_digests([kept])
    store.archive("ada.lovelace@example.org", "<old@x>", SENT_ON - timedelta(days=1), "<p>old</p>")

    exported = store.export_reader(READER.email)["archive"]

    assert [item["day"] for item in exported] == [(SENT_ON - timedelta(days=1)).isoformat(), SENT_ON.isoformat()]
    assert exported[1]["papers"][0] == {"id": picks[0].paper.id, "title": picks[0].paper.title}
    assert store.remove_reader(READER.email)
    assert store.kept_digest(READER.email, SENT_ON.isoformat()) is None
    assert store.db.execute("SELECT count(*) FROM archive_profiles").fetchone()[0] == 0


def test_a_day_that_is_not_a_date_finds_nothing(store: Store) -> None:
    assert store.kept_digest("ada@example.org", "yesterday") is None


def test_a_summary_in_the_readers_language_keeps_its_lang_on_the_page(app: Digest, store: Store) -> None:
    reader = replace(READER, language="German")
    listing, picks = ranked(app, reader)
    picks = [replace(picks[0], paper=replace(picks[0].paper, summary="Eine kurze Zusammenfassung.",
                                             summary_by="llama3.1:8b")), *picks[1:]]
    html, kept = sent_and_kept(app, listing, picks, reader)
    store.archive_digests([kept])

    again = store.kept_digest(reader.email, SENT_ON.isoformat())

    assert 'lang="de"' in html and again is not None
    assert render_kept(app.renderer, app.settings, again) == html
