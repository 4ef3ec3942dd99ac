"""The archive keeps each digest's whole ranked list (the email's "and N more") and lists a reader's digests.

On both engines (``state_db``: a SQLite file in tmp_path, or a database on the
PostgreSQL server tests/pg_server.py starts), through the store's public API;
plus what a send keeps, ranked from the sample listing.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from digest.app import Digest
from digest.model import Paper, Subscriber
from digest.sending.produce import picks_and_total
from digest.store import KeptDigest, KeptEntry, KeptPick, Store

from .pg_server import pg_server, state_db  # noqa: F401  (fixtures)
from .web_server import make_settings

SENT_ON = date(2026, 11, 23)
NOON = datetime(2026, 11, 23, 12, tzinfo=timezone.utc).timestamp()


def paper(number: int) -> Paper:
    return Paper(id=f"2611.{10000 + number}", title=f"Paper {number} on diffusion", abstract=f"About {number}.")


def kept(sent_on: date, picks: int, beyond: int, email: str = "ada@example.org", total: int | None = None) -> KeptDigest:
    """A digest of ``picks`` papers that matched ``beyond`` more, scores falling with the rank."""
    ranked = [KeptPick(paper(n), 10.0 - n / 4, n, (("diffusion", n % 2 == 0),)) for n in range(1, picks + beyond + 1)]
    return KeptDigest(email=email, message_id=f"<{sent_on}@x>", sent_on=sent_on, source="arXiv cs.LG", day=sent_on,
                      templates="t1", picks=tuple(ranked[:picks]), more=tuple(ranked[picks:]),
                      total=picks + beyond if total is None else total, keywords=("diffusion",), terms=("diffusion",))


def test_the_papers_beyond_the_picks_come_back_in_rank_order_with_scores_and_reasons(state_db: Path) -> None:
    digest = kept(SENT_ON, picks=3, beyond=5)
    with Store.open(state_db) as store:
        store.archive_digests([digest])
        again = store.kept_digest("ADA@example.org", SENT_ON.isoformat())

    assert again is not None and again.total == 8
    assert again.picks == digest.picks and again.more == digest.more  # papers, 32-bit scores, ranks 4..8, matches


def test_the_list_is_kept_beside_the_record_which_stays_as_it_was(tmp_path: Path) -> None:
    """The record of before, byte for byte (the view page and the feed read only it), the list apart."""
    with Store.open(tmp_path / "state.db") as store:
        store.archive_digests([kept(SENT_ON, picks=3, beyond=0, total=7),
                               kept(SENT_ON, picks=3, beyond=4, email="b@x.org")])
        short, long = [r[0] for r in store.db.execute("SELECT record FROM archive_records ORDER BY reader")]
        lists = store.db.execute("SELECT count(*) FROM archive_lists").fetchone()[0]
        again = store.kept_digest("ada@example.org", SENT_ON.isoformat())
    assert short == long and lists == 1
    assert again is not None and again.more == ()


def test_a_second_digest_the_same_day_replaces_the_list_too(state_db: Path) -> None:
    with Store.open(state_db) as store:
        store.archive_digests([kept(SENT_ON, picks=2, beyond=4)])
        store.archive_digests([kept(SENT_ON, picks=2, beyond=1)])
        once = store.kept_digest("ada@example.org", SENT_ON.isoformat())
        store.archive_digests([kept(SENT_ON, picks=3, beyond=0)])
        twice = store.kept_digest("ada@example.org", SENT_ON.isoformat())
    assert once is not None and [p.rank for p in once.more] == [3]
    assert twice is not None and twice.more == () and len(twice.picks) == 3


def test_removing_a_reader_removes_their_lists(state_db: Path) -> None:
    with Store.open(state_db) as store:
        store.archive_digests([kept(SENT_ON, picks=2, beyond=4), kept(SENT_ON, 2, 4, email="bob@example.org")])
        with store.transaction():
            store.forget_archive("ada@example.org")
        assert store.db.execute("SELECT count(*) FROM archive_lists").fetchone()[0] == 1
        bob = store.kept_digest("bob@example.org", SENT_ON.isoformat())
    assert bob is not None and len(bob.more) == 4


def test_each_paper_beyond_the_picks_costs_a_few_bytes_of_its_list(tmp_path: Path) -> None:
    with Store.open(tmp_path / "state.db") as store:
        store.archive_digests([kept(SENT_ON, picks=20, beyond=100)])
        (size,) = store.db.execute("SELECT length(tail) FROM archive_lists").fetchone()
    assert size <= 4 + 6 * 100  # a count and a base key, then per paper a key above the base, the score's
    # drop from the one before in thousandths (here 0.25: 2 bytes), one match (2 bytes)


def test_a_papers_text_is_stored_once_however_many_lists_hold_it(tmp_path: Path) -> None:
    with Store.open(tmp_path / "state.db") as store:
        store.archive_digests([kept(SENT_ON, 3, 5), kept(SENT_ON, 3, 5, email="b@x.org"),
                               kept(SENT_ON, 8, 0, email="c@x.org")])
        assert store.db.execute("SELECT count(*) FROM archive_papers").fetchone()[0] == 8


def test_pruning_forgets_the_papers_only_old_lists_held(tmp_path: Path) -> None:
    with Store.open(tmp_path / "state.db") as store:
        store.archive_digests([kept(SENT_ON, 2, 6)], keep_days=90)
        store.archive_digests([kept(SENT_ON + timedelta(days=100), 2, 0)], keep_days=90)
        assert store.db.execute("SELECT count(*) FROM archive_papers").fetchone()[0] == 2
        assert store.db.execute("SELECT count(*) FROM archive_lists").fetchone()[0] == 0


def test_a_readers_digests_are_listed_newest_first_a_page_at_a_time(state_db: Path) -> None:
    days = [SENT_ON + timedelta(days=n) for n in range(5)]
    with Store.open(state_db) as store:
        store.archive_digests([kept(day, picks=2, beyond=n) for n, day in enumerate(days)])
        store.archive_digests([kept(days[0], picks=1, beyond=0, email="bob@example.org")])
        first = store.kept_entries("Ada@Example.org", limit=3)
        second = store.kept_entries("ada@example.org", before=first[-1].sent_on, limit=3)
        nobody = store.kept_entries("eve@example.org")

    assert first == [KeptEntry(days[4], 2, 6), KeptEntry(days[3], 2, 5), KeptEntry(days[2], 2, 4)]
    assert second == [KeptEntry(days[1], 2, 3), KeptEntry(days[0], 2, 2)]  # bob's digest is not ada's
    assert nobody == []


def test_a_digest_that_fit_counts_its_picks_as_its_total(state_db: Path) -> None:
    with Store.open(state_db) as store:
        store.archive_digests([kept(SENT_ON, picks=4, beyond=0, total=0)])  # a send keeps total 0 when nothing was cut
        assert store.kept_entries("ada@example.org") == [KeptEntry(SENT_ON, 4, 4)]


# what a send keeps -----------------------------------------------------------------------------------

@pytest.fixture
def app(tmp_path: Path):
    with Digest(make_settings(tmp_path, 8026, min_score=0.5), clock=lambda: NOON) as digest:
        yield digest


def test_a_cut_digest_carries_every_paper_that_qualified_ranked_after_its_picks(app: Digest) -> None:
    listing = app.load_listing("sample", offline=True)
    reader = Subscriber(email="ada@example.org", keywords=("model*",))  # one keyword: no shares to reorder the head
    index = app.make_index(listing.papers)
    unlimited, _, _ = picks_and_total(app, index, replace(reader, max_items=None), set())
    picks, total, more = picks_and_total(app, index, replace(reader, max_items=2), set())

    assert len(unlimited) > 4 and total == len(unlimited)
    assert [p.paper.id for p in picks + more] == [p.paper.id for p in unlimited]  # one ranked list, cut in two
    assert [p.rank for p in picks + more] == list(range(1, total + 1))
    assert all(p.matched for p in more)  # each with why it matched


def test_a_digest_that_fits_carries_nothing_more(app: Digest) -> None:
    listing = app.load_listing("sample", offline=True)
    index = app.make_index(listing.papers)
    picks, total, more = picks_and_total(app, index, Subscriber(email="a@x.org", keywords=("diffusion",)), set())
    assert picks and total is None and more == []


def test_a_digest_kept_before_whole_lists_still_says_how_many_matched(state_db: Path) -> None:
    """Its record ends with the picks (no papers beyond them): the page can say how many it cannot show."""
    with Store.open(state_db) as store:
        store.archive_digests([replace(kept(SENT_ON, picks=2, beyond=3), more=())])
        again = store.kept_digest("ada@example.org", SENT_ON.isoformat())
        entries = store.kept_entries("ada@example.org")
    assert again is not None and len(again.picks) == 2 and again.more == () and again.total == 5
    assert entries == [KeptEntry(SENT_ON, 2, 5)]


def test_without_the_archive_a_cut_digest_counts_its_list_and_keeps_none(tmp_path: Path) -> None:
    """No DIGEST_PUBLIC_URL: nothing could show the whole list, so the send only counts it."""
    reader = Subscriber(email="ada@example.org", keywords=("model*", "diffusion"), max_items=2)
    with Digest(make_settings(tmp_path, 8026, min_score=0.5, public_url=""), clock=lambda: NOON) as plain, \
            Digest(make_settings(tmp_path, 8026, min_score=0.5), clock=lambda: NOON) as archiving:
        listing = plain.load_listing("sample", offline=True)
        counted = picks_and_total(plain, plain.make_index(listing.papers), reader, set())
        listed = picks_and_total(archiving, archiving.make_index(listing.papers), reader, set())

    assert not plain.archives and archiving.archives
    assert [p.paper.id for p in counted[0]] == [p.paper.id for p in listed[0]]
    assert counted[1] == listed[1] == len(listed[0]) + len(listed[2]) > 2
    assert counted[2] == []
