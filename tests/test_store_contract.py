"""The store's promises, on both engines: a SQLite file and a real PostgreSQL server.

Every test runs twice (``state_db``: a fresh SQLite file in tmp_path, or a fresh
database on the server tests/pg_server.py starts) through the store's public API
only, so the same statements, written once for SQLite, are held to the same
answers on PostgreSQL.
"""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from digest.errors import StoreError
from digest.model import Paper
from digest.store import MIGRATIONS, KeptDigest, KeptPick, Store
from digest.store.bounces import BounceEvent, Rule
from digest.store.listed import Mark

from .pg_server import pg_server, state_db  # noqa: F401  (fixtures)

NOON = datetime(2031, 1, 6, 12, tzinfo=timezone.utc)


def paper(pid: str, title: str = "", abstract: str = "") -> Paper:
    return Paper(id=pid, title=title or f"Paper {pid}", abstract=abstract or f"About {pid}.")


def test_a_new_store_is_migrated_to_the_latest_schema(state_db: Path) -> None:
    with Store.open(state_db) as store:
        assert store._version() == len(MIGRATIONS)
    with Store.open(state_db) as again:  # opening again migrates nothing
        assert again._version() == len(MIGRATIONS)


def test_the_never_twice_ledger_answers_for_todays_papers_only(state_db: Path) -> None:
    with Store.open(state_db) as store:
        store.record_deliveries([("Ada@Example.org", "<1@x>", ["p1", "p2"], None),
                                 ("bob@example.org", "<2@x>", ["p1"], None),
                                 ("eve@example.org", "<3@x>", ["p3"], "550 no such user")], at=NOON)
        assert dict(store.sent_among(["p1", "p2", "p9"])) == {"ada@example.org": {"p1", "p2"},
                                                                "bob@example.org": {"p1"}}
        assert dict(store.sent_among(["p1"], ["ADA@example.org"])) == {"ada@example.org": {"p1"}}
        assert store.sent_ids("eve@example.org") == set()  # a refused message delivered nothing
        assert store.all_sent_ids() == {"ada@example.org": {"p1", "p2"}, "bob@example.org": {"p1"}}


def test_a_message_recorded_again_replaces_its_status(state_db: Path) -> None:
    with Store.open(state_db) as store:
        store.record_failed("ada@example.org", "<1@x>", "451 try later", 2)
        store.record_sent("ada@example.org", "<1@x>", ["p1", "p2"])
        assert store.message_status("ada@example.org") == [("<1@x>", "sent")]
        assert store.counts() == {"papers": 2, "messages": 1, "readers": 1}


def test_pruning_forgets_old_messages_but_never_who_got_which_paper(state_db: Path) -> None:
    with Store.open(state_db) as store:
        store.record_deliveries([("ada@example.org", "<1@x>", ["p1"], None)], at=NOON - timedelta(days=40))
        store.record_deliveries([("ada@example.org", "<2@x>", ["p2"], None)], at=NOON)
        assert store.prune(30, now=NOON.timestamp()) == 1
        assert store.message_status("ada@example.org") == [("<2@x>", "sent")]
        assert store.sent_ids("ada@example.org") == {"p1", "p2"}
        assert store.readers_sent_since(NOON - timedelta(days=1)) == {"ada@example.org"}


def test_a_readers_export_lists_messages_with_their_time_in_utc(state_db: Path) -> None:
    with Store.open(state_db) as store:
        store.record_deliveries([("ada@example.org", "<1@x>", ["p1"], None)], at=NOON)
        exported = store.deliveries_of("ada@example.org")
        assert exported["messages"] == [{"message_id": "<1@x>", "created": "2031-01-06 12:00:00", "status": "sent",
                                         "error": None, "papers": 1}]
        assert exported["sent"] == [{"paper_id": "p1"}]


def test_runs_record_their_counts_and_a_finished_slot_is_done(state_db: Path) -> None:
    with Store.open(state_db) as store:
        first = store.start_run("2031-01-06", slot="2031-01-06 08:00 UTC")
        second = store.start_run("2031-01-06")
        assert second == first + 1
        assert not store.slot_done("2031-01-06 08:00 UTC")
        store.finish_run(first, 3, 1, 0, note="ok")
        assert store.slot_done("2031-01-06 08:00 UTC")
        runs = store.last_runs()
        assert [(run.id, run.sent, run.nothing_new, run.kind) for run in runs] == [
            (second, 0, 0, "one-off"), (first, 3, 1, "scheduled")]


def test_a_run_a_stop_signal_cut_short_leaves_its_slot_open_until_a_run_serves_the_rest(state_db: Path) -> None:
    from digest.store.runs import Tally

    slot = "2031-01-06 08:00 UTC"
    with Store.open(state_db) as store:
        store.finish_run(store.start_run("2031-01-06", slot=slot), 0, 0, 0, tally=Tally(sent=2, left_over=3))
        assert not store.slot_done(slot), "three readers wait for the slot's catch-up"
        store.finish_run(store.start_run("2031-01-06", slot=slot), 0, 0, 0, tally=Tally(sent=3, already=2))
        assert store.slot_done(slot)


def test_a_run_whose_server_deferred_readers_leaves_its_slot_open_for_their_retry(state_db: Path) -> None:
    from digest.store.runs import Tally

    slot = "2031-01-06 08:00 UTC"
    with Store.open(state_db) as store:
        deferring = store.start_run("2031-01-06", slot=slot)
        store.finish_run(deferring, 0, 0, 0, tally=Tally(sent=4, deferred=1))
        assert not store.slot_done(slot), "the deferred reader waits for the retry"
        assert [(run.id, run.deferred) for run in store.runs_on("2031-01-06")] == [(deferring, 1)]
        store.finish_run(store.start_run("2031-01-06", slot=slot), 0, 0, 0, tally=Tally(sent=1, already=4))
        assert store.slot_done(slot)
        assert store.runs_on("2031-01-07") == []


@pytest.mark.parametrize("left", [{"failed": 1}, {"uncertain": 1}], ids=["refused (5xx)", "reply lost"])
def test_a_run_that_left_readers_for_a_retry_keeps_its_slot_open_and_says_how_many(
        state_db: Path, left: dict[str, int]) -> None:
    from digest.store.runs import Tally

    slot = "2031-01-06 08:00 UTC"
    with Store.open(state_db) as store:
        store.finish_run(store.start_run("2031-01-06", slot=slot), 0, 0, 0, tally=Tally(sent=4, **left))
        assert not store.slot_done(slot), "the reader left waits for the retry"
        [run] = store.runs_on("2031-01-06")
        assert (run.failed, run.uncertain) == (left.get("failed", 0), left.get("uncertain", 0))


def test_a_run_keeps_the_sources_it_read(state_db: Path) -> None:
    with Store.open(state_db) as store:
        store.finish_run(store.start_run("2031-01-05"), 1, 0, 0)  # as a caller that names none (a release before)
        store.finish_run(store.start_run("2031-01-06", sources=["hf", "/srv/saved.json", "hf"]), 1, 0, 0)
        newer, older = store.served_runs()
        assert newer.read_sources() == {"hf", "/srv/saved.json"} and newer.unreadable() is None
        assert newer.sources == '["/srv/saved.json", "hf"]' and older.read_sources() is None
        assert newer.sources_failed() == older.sources_failed() == frozenset()


def test_a_run_keeps_the_sources_that_failed_while_others_loaded(state_db: Path) -> None:
    with Store.open(state_db) as store:
        store.finish_run(store.start_run("2031-01-06", sources=["arxiv:cs.LG"], failed_sources=["hf", "hf"]), 1, 0, 0)
        (run,) = store.served_runs()
        assert run.read_sources() == {"arxiv:cs.LG"} and run.sources_failed() == {"hf"}
        assert run.failed_sources == '["hf"]' and run.unreadable() is None


def test_what_a_killed_run_recorded_is_counted_from_the_messages(state_db: Path) -> None:
    with Store.open(state_db) as store:
        run_id = store.start_run("2031-01-06")
        store.record_deliveries([("ada@example.org", "<1@x>", ["p1"], None),
                                 ("bob@example.org", "<2@x>", ["p1"], "550 gone")])
        run = next(r for r in store.last_runs() if r.id == run_id)
        assert store.recorded_during(run) == (1, 1)
        assert store.refused_during(run) == [("bob@example.org", "550 gone")]


def test_reader_status_preferences_and_their_log(state_db: Path) -> None:
    with Store.open(state_db) as store:
        assert store.set_status("Ada@example.org", "paused") is None
        store.save_preferences("ada@example.org", keywords=["diffusion"], max_items=5, frequency="mon",
                               status="active")
        state = store.reader_state("ada@example.org")
        assert state is not None and (state.status, state.keywords, state.max_items, state.frequency) == (
            "active", ("diffusion",), 5, "mon")
        assert [change for _, change in store.reader_changes("ada@example.org")] == [
            "status active -> paused (operator)", "preferences saved; status paused -> active (web)"]


def test_a_signup_waits_for_its_confirmation(state_db: Path) -> None:
    with Store.open(state_db) as store:
        assert store.request_signup("new@example.org", "rid-1", ["agents"])
        assert store.reader_status("new@example.org") == "pending"
        assert store.reader_by_rid("rid-1") == "new@example.org"
        assert store.confirm_signup("new@example.org")
        assert store.reader_status("new@example.org") == "active"
        assert not store.request_signup("new@example.org", "rid-2", ["other"])  # an active reader keeps their row


def test_the_rate_limit_counts_each_hit_once_even_from_many_threads(state_db: Path) -> None:
    results: list[bool] = []

    def hit() -> None:
        with Store.open(state_db) as own:  # one connection per thread, as the web app has
            results.extend(own.hit("signup:x", "2031-01-06T10", limit=10) for _ in range(5))

    Store.open(state_db).close()
    threads = [threading.Thread(target=hit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 10 + [True] * 10


def test_a_later_vote_replaces_the_earlier_and_takes_the_kept_text(state_db: Path) -> None:
    with Store.open(state_db) as store:
        store.remember_papers([paper("p1", "Kept title", "Kept abstract")])
        store.record_vote("ada@example.org", Paper(id="p1", title="", abstract=""), 1)
        store.record_vote("ada@example.org", Paper(id="p1", title="", abstract=""), -1)
        assert [(v.paper_id, v.title, v.abstract, v.vote) for v in store.votes("ada@example.org")] == [
            ("p1", "Kept title", "Kept abstract", -1)]
        assert [p.title for p in store.known_papers(["p1", "p9"])] == ["Kept title"]
        assert store.paper_title("p1") == "Kept title"


def test_removing_a_reader_wipes_everything_about_them(state_db: Path) -> None:
    with Store.open(state_db) as store:
        store.set_status("ada@example.org", "paused")
        store.record_vote("ada@example.org", paper("p1"), 1)
        store.record_deliveries([("ada@example.org", "<1@x>", ["p1"], None)])
        store.archive_digests([kept_digest("ada@example.org", date(2031, 1, 6))])
        assert "ada@example.org" in store.known_emails()
        assert store.remove_reader("ada@example.org")
        assert store.known_emails() == []
        assert store.export_reader("ada@example.org")["votes"] == []


def kept_digest(email: str, day: date, ids: tuple[str, ...] = ("p1", "p2")) -> KeptDigest:
    picks = tuple(KeptPick(paper(pid), 1.5, rank, (("diffusion", False),)) for rank, pid in enumerate(ids, 1))
    return KeptDigest(email=email, message_id=f"<{day}@x>", sent_on=day, source="sample", day=day, templates="t1",
                      picks=picks, total=len(ids), name="Ada", keywords=("diffusion",), terms=("diffusion",))


def test_a_kept_digest_comes_back_as_kept_and_is_pruned_with_its_papers(state_db: Path) -> None:
    with Store.open(state_db) as store:
        first = kept_digest("ada@example.org", date(2031, 1, 1))
        store.archive_digests([first])
        assert store.kept_digest("ada@example.org", "2031-01-01") == first
        store.archive_digests([kept_digest("ada@example.org", date(2031, 3, 1), ("p3",))], keep_days=30)
        assert store.kept_digest("ada@example.org", "2031-01-01") is None
        assert [k.sent_on for k in store.kept_digests_of("ada@example.org")] == [date(2031, 3, 1)]


def test_embeddings_are_kept_per_model_and_replaced(state_db: Path) -> None:
    with Store.open(state_db) as store:
        store.save_embeddings("m1", {"p1": b"\x00\x01", "p2": b"\x02"})
        store.save_embeddings("m1", {"p1": b"\xff"})
        assert store.embeddings("m1", ["p1", "p2", "p3"]) == {"p1": b"\xff", "p2": b"\x02"}
        assert store.embeddings("m2", ["p1"]) == {}


def test_listings_and_catchup_marks(state_db: Path) -> None:
    with Store.open(state_db) as store:
        store.remember_listing([paper("p1")], now=NOON.timestamp())
        store.remember_listing([paper("p1", "New title"), paper("p2")], now=NOON.timestamp() + 60)
        arrived = store.arrived_since(NOON.timestamp())
        assert [(p.id, p.title, at) for p, at in arrived] == [("p1", "New title", int(NOON.timestamp())),
                                                            ("p2", "Paper p2", int(NOON.timestamp()) + 60)]
        store.mark_due(["ada@example.org"], now=100)
        store.mark_due(["ada@example.org"], now=200)  # the first time stays
        store.record_deliveries([("ada@example.org", "<1@x>", ["p1"], None)], at=NOON)
        store.record_deliveries([("ada@example.org", "<2@x>", ["p2"], None)], at=NOON, seen_upto=7)
        assert store.catchup_marks(["ADA@example.org"]) == {"ada@example.org": Mark(int(NOON.timestamp()), 100, 7)}


def test_uncertain_deliveries_stay_open_until_a_later_digest_is_accepted(state_db: Path) -> None:
    with Store.open(state_db) as store:
        store.record_uncertain([("ada@example.org", "<1@x>", ["p1"], "reply lost")])
        store.record_uncertain([("ada@example.org", "<1@x>", ["p1"], "reply lost")])  # once per Message-ID
        assert [(e, what) for e, _, what in store.open_uncertain()] == [("ada@example.org", "reply lost")]
        store.resolve_uncertain(["ada@example.org"])
        assert store.open_uncertain() == []


def test_a_lost_reply_is_recorded_on_the_sends_clock_as_a_delivery_is(state_db: Path) -> None:
    with Store.open(state_db) as store:
        store.clock = NOON.timestamp  # the send's clock, not the wall clock: its "today" is NOON's day
        store.record_uncertain([("ada@example.org", "<1@x>", ["p1"], "reply lost")])
        store.record_sent("bob@example.org", "<2@x>", ["p1"])
        morning, tomorrow = NOON.replace(hour=0), NOON.replace(hour=0) + timedelta(days=1)
        assert store.uncertain_since(morning) == {"ada@example.org": 1}, "today's lost reply counts today"
        assert store.readers_sent_since(morning) == {"bob@example.org"}
        assert store.uncertain_since(tomorrow) == {} and store.readers_sent_since(tomorrow) == set()
        assert [when for _, when, _ in store.open_uncertain()] == [NOON.isoformat(timespec="seconds")]


def test_bounces_count_once_a_day_and_suppress_at_the_threshold(state_db: Path) -> None:
    rule = Rule(threshold=2.0, stale_days=7)
    with Store.open(state_db) as store:
        day = date(2031, 1, 6)
        assert store.record_bounce(BounceEvent("k1", "ada@example.org", day, "hard", "550"), rule) == "counted"
        assert store.record_bounce(BounceEvent("k1", "ada@example.org", day, "hard", "550"), rule) == "duplicate"
        assert store.record_bounce(BounceEvent("k2", "ada@example.org", day, "hard", "550"), rule) == "recorded"
        nxt = BounceEvent("k3", "ada@example.org", day + timedelta(days=1), "hard", "550")
        assert store.record_bounce(nxt, rule) == "suppressed"
        assert set(store.suppressions()) == {"ada@example.org"}
        assert store.lift_suppression("ada@example.org") is not None
        assert store.suppressions() == {}


def test_two_stores_on_one_database_agree_on_the_keys(state_db: Path) -> None:
    with Store.open(state_db) as one, Store.open(state_db) as two:
        one.record_deliveries([("ada@example.org", "<1@x>", ["p1"], None)])
        two.record_deliveries([("ada@example.org", "<2@x>", ["p1", "p2"], None)])
        one.record_deliveries([("bob@example.org", "<3@x>", ["p2"], None)])
        assert one.all_sent_ids() == two.all_sent_ids() == {"ada@example.org": {"p1", "p2"},
                                                             "bob@example.org": {"p2"}}


def test_compacting_reports_the_size_before_and_after(state_db: Path) -> None:
    with Store.open(state_db) as store:
        store.archive_digests([kept_digest("ada@example.org", date(2031, 1, 1))])
        before, after = store.compact()
        assert before > 0 and after > 0


def test_a_failed_transaction_leaves_nothing_behind_and_the_store_usable(state_db: Path) -> None:
    with Store.open(state_db) as store:
        with pytest.raises(RuntimeError):
            with store.transaction():
                store.db.execute("INSERT INTO suppressions (email, reason, at) VALUES (:e, 'x', 'now')",
                                 {"e": "ada@example.org"})
                raise RuntimeError("a bug mid-transaction")
        assert store.suppressions() == {}
        store.record_sent("ada@example.org", "<1@x>", ["p1"])
        assert store.sent_ids("ada@example.org") == {"p1"}
