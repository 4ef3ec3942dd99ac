"""Nothing missed when sends overlap: the arrival stamps of kept papers follow the order of the commits.

Two sends (two connections to one store, each with its own clock) run side by side
on either engine (``state_db``: a SQLite file, or a database on the PostgreSQL
server tests/pg_server.py starts).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from digest.model import Paper
from digest.store import Store

from .pg_server import pg_server, state_db  # noqa: F401  (fixtures)

NOON = datetime(2031, 1, 6, 12, tzinfo=timezone.utc).timestamp()
DAY, MINUTE = 86_400, 60


def paper(pid: str) -> Paper:
    return Paper(id=pid, title=f"Paper {pid}", abstract=f"About {pid}.")


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
