"""Nothing missed when sends overlap: a reader's catch-up mark is what their digest's plan saw, not a clock.

Two sends (two connections to one store, each with its own clock) run side by side
on either engine (``state_db``: a SQLite file, or a database on the PostgreSQL
server tests/pg_server.py starts): B plans its readers' digests, A then keeps a
paper of its own listing, and B's digest to the reader is accepted minutes later.
The paper must come with the reader's next digest: B's plan never held it.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from digest.model import Listing, Paper, Subscriber
from digest.sending import catchup
from digest.store import Store
from digest.store.journal import Entry, Journal, record_entries

from .pg_server import pg_server, state_db  # noqa: F401  (fixtures)

READER = "reader@example.org"
NOON = datetime(2031, 1, 6, 12, tzinfo=timezone.utc).timestamp()
DAY, MINUTE = 86_400, 60


def paper(pid: str) -> Paper:
    return Paper(id=pid, title=f"Paper {pid}", abstract=f"About {pid}.")


def listing(*ids: str) -> Listing:
    return Listing("file", [paper(pid) for pid in ids])


def plan_on(store: Store, today: Listing, now: float) -> catchup.Plan:
    """The plan a send at ``now`` makes for the reader: today's listing plus what they still need."""
    return catchup.plan(store, today, [Subscriber(READER, ("paper",))], now=now, window_days=14, zone=timezone.utc)


def offered(plan: catchup.Plan) -> set[str]:
    """The papers the plan lets the reader get (today's listing and their catch-up)."""
    return {p.id for p in plan.listing.papers if p.id not in plan[READER]}


def deliver(store: Store, plan: catchup.Plan, picks: list[str], at: float, number: int) -> None:
    """What a send records once the server accepted the reader's digest built from ``plan``."""
    record_entries(store, [Entry(READER, f"<{number}@x>", picks, "sent", at=at, seen_upto=plan.upto)])


def send(store: Store, today: Listing, now: float, number: int) -> catchup.Plan:
    """A whole send on one connection: keep the listing, plan, deliver the listing's papers a minute later."""
    store.remember_listing(today.papers, now=now)
    store.mark_due([READER], now=now)
    plan = plan_on(store, today, now)
    deliver(store, plan, [p.id for p in today.papers], now + MINUTE, number)
    return plan


def test_a_paper_another_send_kept_after_this_sends_plan_comes_the_next_day(state_db: Path) -> None:
    with Store.open(state_db) as b, Store.open(state_db) as a:
        send(b, listing("monday"), NOON - DAY, 1)
        b.remember_listing([paper("b1")], now=NOON)
        planned = plan_on(b, listing("b1"), NOON)  # B decides the reader's digest ...
        a.remember_listing([paper("P")], now=NOON + 30)  # ... A keeps P (A's listing) ...
        deliver(b, planned, ["b1"], NOON + 5 * MINUTE, 2)  # ... and B's digest, without P, is accepted later
        tomorrow = plan_on(b, listing("c1"), NOON + DAY)
        assert "P" not in offered(planned)
        assert offered(tomorrow) == {"P", "c1"}


def test_a_paper_kept_by_a_host_whose_clock_is_behind_comes_the_next_day(state_db: Path) -> None:
    behind = 10 * MINUTE  # A's clock
    with Store.open(state_db) as b, Store.open(state_db) as a:
        send(b, listing("monday"), NOON - DAY, 1)
        planned = send(b, listing("b1"), NOON, 2)  # B's send is over: planned, delivered
        a.remember_listing([paper("P")], now=NOON + 2 * MINUTE - behind)  # then A, whose clock reads earlier
        [(_, arrived)] = a.arrived_since(0, leave_out={"monday", "b1"})
        assert arrived > planned.upto  # the stamps follow the order of the commits, whatever A's clock says
        assert offered(plan_on(b, listing("c1"), NOON + DAY)) == {"P", "c1"}


class Meanwhile:
    """The store a plan reads, with another send's listing committed just after the plan read the newest stamp."""

    def __init__(self, store: Store, other: Store, papers: list[Paper], now: float) -> None:
        self.store, self.other, self.papers, self.now = store, other, papers, now

    def listed_upto(self) -> int:
        newest = self.store.listed_upto()
        self.other.remember_listing(self.papers, now=self.now)
        return newest

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)


def test_a_paper_kept_while_the_plan_reads_is_left_to_the_readers_next_plan(state_db: Path) -> None:
    with Store.open(state_db) as b, Store.open(state_db) as a:
        send(b, listing("monday"), NOON - DAY, 1)
        b.remember_listing([paper("b1")], now=NOON)
        planned = catchup.plan(Meanwhile(b, a, [paper("P")], NOON), listing("b1"), [Subscriber(READER, ("paper",))],
                               now=NOON, window_days=14, zone=timezone.utc)
        deliver(b, planned, ["b1"], NOON + MINUTE, 2)
        assert offered(planned) == {"b1"}, "what the plan offers is what it records as seen"
        assert offered(plan_on(b, listing("c1"), NOON + DAY)) == {"P", "c1"}


def test_a_listing_kept_by_a_host_whose_clock_is_behind_is_stamped_after_the_newest(state_db: Path) -> None:
    with Store.open(state_db) as b, Store.open(state_db) as a:
        assert b.remember_listing([paper("b1")], now=NOON) == int(NOON) == b.listed_upto()
        assert a.remember_listing([paper("P")], now=NOON - 10 * MINUTE) == int(NOON) + 1 == b.listed_upto()
        assert a.remember_listing([paper("b1")], now=NOON + MINUTE) == int(NOON) + MINUTE  # listed again: ...
        assert [(p.id, at) for p, at in a.arrived_since(0)] == [("b1", int(NOON)), ("P", int(NOON) + 1)]  # ... first


def test_a_stamp_far_ahead_of_the_clock_is_a_clock_gone_wrong_and_not_followed(state_db: Path) -> None:
    with Store.open(state_db) as store:
        store.remember_listing([paper("future")], now=NOON + DAY)  # a host whose clock ran a day ahead
        assert store.remember_listing([paper("t1")], now=NOON) == int(NOON)
        assert store.remember_listing([paper("t2")], now=NOON + 30 * MINUTE) == int(NOON) + 30 * MINUTE


def test_a_new_reader_two_sends_find_due_catches_up_from_the_listing_of_the_first(state_db: Path) -> None:
    with Store.open(state_db) as b, Store.open(state_db) as a:
        a.mark_due([READER], now=a.remember_listing([paper("P")], now=NOON))  # A: its listing, the reader due
        b.mark_due([READER], now=b.remember_listing([paper("b1")], now=NOON + MINUTE))  # B: the first mark stays
        assert offered(plan_on(b, listing("b1"), NOON + MINUTE)) == {"P", "b1"}  # B has the reader (claims)


def test_a_paper_the_readers_plan_held_but_did_not_pick_is_not_offered_again(state_db: Path) -> None:
    with Store.open(state_db) as store:
        send(store, listing("monday"), NOON - DAY, 1)
        store.remember_listing([paper("t1"), paper("t2")], now=NOON)
        planned = plan_on(store, listing("t1", "t2"), NOON)
        deliver(store, planned, ["t1"], NOON + MINUTE, 2)  # t2 ranked too low
        assert offered(plan_on(store, listing("w1"), NOON + DAY)) == {"w1"}


def test_a_missed_days_papers_come_once_and_the_mark_moves_past_them(state_db: Path) -> None:
    with Store.open(state_db) as store:
        send(store, listing("monday"), NOON - DAY, 1)
        store.remember_listing([paper("t1")], now=NOON)  # Tuesday: the reader's server refused the digest
        wednesday = send(store, listing("w1"), NOON + DAY, 2)
        assert offered(wednesday) == {"t1", "w1"}
        assert offered(plan_on(store, listing("h1"), NOON + 2 * DAY)) == {"h1"}


def test_a_digest_from_an_older_plan_does_not_move_the_mark_back(state_db: Path) -> None:
    with Store.open(state_db) as store:
        store.remember_listing([paper("t1")], now=NOON)
        older = plan_on(store, listing("t1"), NOON)
        store.remember_listing([paper("t2")], now=NOON + MINUTE)
        newer = plan_on(store, listing("t2"), NOON + MINUTE)
        deliver(store, newer, ["t2"], NOON + 2 * MINUTE, 1)
        deliver(store, older, ["t1"], NOON + 3 * MINUTE, 2)  # a slow send's digest, accepted last
        assert store.catchup_marks([READER])[READER].seen_upto == newer.upto


def test_a_journal_line_written_before_the_mark_was_kept_still_replays(state_db: Path, tmp_path: Path) -> None:
    old_line = {"email": READER, "message_id": "<1@x>", "paper_ids": ["t1"], "status": "sent", "error": "",
                "at": NOON}
    journal = Journal(tmp_path / "state.db.journal")
    journal.path.write_text(json.dumps(old_line) + "\n")
    with Store.open(state_db) as store:
        assert journal.replay(store) == 1
        mark = store.catchup_marks([READER])[READER]
        assert (mark.last_digest, mark.seen_upto) == (int(NOON), None)  # the catch-up runs from the digest's time
        assert store.sent_ids(READER) == {"t1"}


def test_a_journal_line_keeps_what_the_digests_plan_saw(state_db: Path, tmp_path: Path) -> None:
    journal = Journal(tmp_path / "state.db.journal")
    journal.append([Entry(READER, "<1@x>", ["t1"], "sent", at=NOON, seen_upto=int(NOON) - 5)])
    with Store.open(state_db) as store:
        journal.replay(store)
        assert store.catchup_marks([READER])[READER].seen_upto == int(NOON) - 5
