"""Recording in batches: a real store in tmp_path, answers handed in as the sender thread would."""

from __future__ import annotations

import sqlite3
import time
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from digest.mail import Delivery
from digest.sending.deliver import Outgoing
from digest.sending.record import Recorder
from digest.sending.report import SendReport
from digest.store import Store
from digest.store.journal import Journal

DAY = date(2026, 11, 23)


def answer(number: int, status: str = "sent", html: str = "",
           seen_upto: int | None = None) -> tuple[Outgoing, Delivery]:
    item = Outgoing(f"r{number}@example.org", f"<{number}@example.org>", b"...", ["2611.00001"], day=DAY, html=html,
                    seen_upto=seen_upto)
    return item, Delivery(status, "" if status == "sent" else "550 no such user")


@pytest.fixture
def store(tmp_path: Path):
    with Store.open(tmp_path / "state.db") as store:
        yield store


def recorder(store: Store, tmp_path: Path, **kwargs) -> Recorder:
    return Recorder(store, Journal.beside(tmp_path / "state.db"), SendReport(), **kwargs)


def test_the_first_answer_is_recorded_at_once_and_batches_double_after_each_commit(store, tmp_path) -> None:
    rec = recorder(store, tmp_path, batch=4, linger=60)

    recorded_after = []
    for number in range(12):
        rec.record([answer(number)])
        recorded_after.append(len(store.all_sent_ids()))

    assert recorded_after == [1, 1, 3, 3, 3, 3, 7, 7, 7, 7, 11, 11]
    rec.flush()
    assert len(store.all_sent_ids()) == 12 and len(rec.report.sent) == 12


def test_an_answer_waits_no_longer_than_the_linger_for_its_batch(store, tmp_path) -> None:
    rec = recorder(store, tmp_path, batch=50, linger=0.05)
    rec.record([answer(0)])
    rec.record([answer(1)])
    assert "r1@example.org" not in store.all_sent_ids()

    time.sleep(0.06)
    rec.record([])

    assert "r1@example.org" in store.all_sent_ids() and rec.pending == []


def test_a_store_that_fails_at_a_batch_commit_puts_the_whole_batch_in_the_journal(store, tmp_path) -> None:
    rec = recorder(store, tmp_path, batch=50, linger=60)
    rec.record([answer(0)])
    store.db.execute("CREATE TRIGGER full BEFORE INSERT ON messages BEGIN SELECT RAISE(ABORT, 'disk full'); END")

    rec.record([answer(1)])
    assert rec.broken is None, "not written yet: the second batch takes two"
    rec.record([answer(2, "failed")])

    assert rec.broken is not None and rec.journaled == 2
    assert [(e.email, e.status) for e in Journal.beside(tmp_path / "state.db").pending()] == [
        ("r1@example.org", "sent"), ("r2@example.org", "failed")]
    rec.record([answer(3)])  # once broken, every answer goes straight to the journal
    assert rec.journaled == 3 and rec.pending == []


def test_a_journaled_delivery_replayed_the_next_morning_stays_last_nights_digest_and_keeps_what_its_plan_saw(
        store, tmp_path) -> None:
    evening = datetime(2026, 11, 23, 23, 50, tzinfo=timezone.utc)
    morning = datetime(2026, 11, 24, 8, 0, tzinfo=timezone.utc)
    store.clock = evening.timestamp  # the send that could not record: last night
    rec = recorder(store, tmp_path, batch=1)
    store.db.execute("CREATE TRIGGER full BEFORE INSERT ON messages BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    rec.record([answer(1, seen_upto=int(evening.timestamp()) - 600)])
    assert rec.journaled == 1
    store.db.execute("DROP TRIGGER full")

    store.clock = morning.timestamp  # the next morning's send replays the journal first
    assert Journal.beside(tmp_path / "state.db").replay(store) == 1

    assert store.sent_ids("r1@example.org") == {"2611.00001"}
    assert store.readers_sent_since(morning.replace(hour=0)) == set(), "last night's digest is not today's"
    mark = store.catchup_marks()["r1@example.org"]
    assert (mark.last_digest, mark.seen_upto) == (int(evening.timestamp()), int(evening.timestamp()) - 600)


def test_a_batch_archives_its_sent_digests_compressed_and_reads_them_back(store, tmp_path) -> None:
    html = "<table><tr><td>A paper you may like</td></tr></table>" * 400
    rec = recorder(store, tmp_path, batch=1)

    rec.record([answer(0, html=html), answer(1, "failed", html=html)])
    rec.flush()

    assert store.archived("r0@example.org", DAY.isoformat()) == html
    assert store.archived("r1@example.org", DAY.isoformat()) is None, "only accepted digests are archived"
    stored = store.db.execute("SELECT html FROM archive").fetchone()[0]
    assert isinstance(stored, bytes) and len(stored) < len(html) / 10


def test_a_copy_archived_as_plain_text_before_compression_still_reads(store, tmp_path) -> None:
    raw = sqlite3.connect(tmp_path / "state.db")
    raw.execute("INSERT INTO archive (email, message_id, day, html, created) "
                "VALUES ('ada@example.org', '<m@x>', '2026-11-20', '<p>old</p>', '2026-11-20T06:00:00+00:00')")
    raw.commit()
    raw.close()

    assert store.archived("ada@example.org", "2026-11-20") == "<p>old</p>"
    assert store.export_reader("ada@example.org")["archive"] == [
        {"message_id": "<m@x>", "day": "2026-11-20", "html": "<p>old</p>"}]


def test_a_batch_archives_the_records_of_its_sent_digests_not_their_html(store, tmp_path) -> None:
    from dataclasses import replace

    from digest.model import Paper
    from digest.store import KeptDigest, KeptPick

    kept = KeptDigest(email="r0@example.org", message_id="<0@example.org>", sent_on=DAY, source="arXiv cs.LG",
                      day=DAY, templates="t1", total=1, keywords=("agents",), terms=("agents",),
                      picks=(KeptPick(Paper(id="2611.00001", title="Agents", abstract="About agents."), 2.5, 1,
                                      (("agents", False),)),))
    sent, refused = answer(0), answer(1, "failed")
    rec = recorder(store, tmp_path, batch=1)

    rec.record([(replace(sent[0], kept=kept), sent[1]),
                (replace(refused[0], kept=replace(kept, email="r1@example.org")), refused[1])])
    rec.flush()

    assert store.kept_digest("r0@example.org", DAY.isoformat()) == kept
    assert store.kept_digest("r1@example.org", DAY.isoformat()) is None, "only accepted digests are archived"
    assert store.db.execute("SELECT count(*) FROM archive").fetchone()[0] == 0


@pytest.mark.parametrize("transient", [True, False], ids=["server out of reach", "disk full"])
def test_the_stop_a_failed_store_causes_keeps_whether_a_retry_may_work(store, tmp_path, monkeypatch, transient):
    """The daemon retries a run stopped by a PostgreSQL server out of reach, not one stopped by a full disk."""
    from digest.errors import StoreError

    def unreachable(*args, **kwargs):
        raise StoreError("the state database postgresql://digest:***@db/digest cannot be reached", transient=transient)

    monkeypatch.setattr(store, "record_deliveries", unreachable)
    rec = recorder(store, tmp_path)
    rec.record([answer(0)])

    with pytest.raises(StoreError, match="cannot be reached.*stopped sending") as stopped:
        rec.raise_if_broken()
    assert stopped.value.transient is transient and rec.journaled == 1
