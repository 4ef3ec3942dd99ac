"""Catch-up: the papers each listing brought, and from when each reader's next digest covers.

A source like arXiv RSS lists only today's announcements: a reader who was not
served today (weekly, deferred by their server, paused) would never see them.
So every listing's papers are kept here as they arrive (``listed``: the whole
paper, compressed, with its arrival stamp), for ``DIGEST_CATCHUP_DAYS``, and
each reader has a mark (``reader_marks``).

The arrival stamps follow the order in which listings are committed, whatever
the clocks of the sends that keep them: a send stamps its new papers with its
clock, or one second past the newest stamp kept, whichever is later, inside a
write transaction (SQLite's and PostgreSQL's take turns: ``schema``,
``postgres``). So every paper not yet committed when a plan reads the newest
stamp (``listed_upto``) gets a larger one, even from a host whose clock is
behind. A newest stamp more than ``LEAD`` ahead of the send's clock is not
followed: that is a clock gone wrong (the window, the days a digest covers and
the pruning read the stamps as times), and the order is kept only among clocks
less than that apart.

A reader's mark is what the plan that built their last accepted digest saw:

- ``seen_upto``: that plan's newest stamp (written with the delivery, in the
  same transaction; the largest, when digests from several plans are
  accepted). Their next digest offers the kept papers stamped after it: a paper
  another send kept while this one planned and delivered (the two run side by
  side on PostgreSQL, or on two hosts) comes the next day, though the digest was
  accepted later by the clock;
- ``last_digest``: when the server last accepted a digest for them (the day of
  their last digest, a weekly reader's due-ness); a reader whose last digest
  was recorded before ``seen_upto`` was kept catches up from then;
- ``first_due``: when a send first found them due: the arrival stamp of that
  send's listing (a reader who never got a digest still catches up from then,
  and a listing another send keeps meanwhile is stamped later).

A reader's candidates are the day's listing plus the kept papers from their
mark (``since``) up to the newest stamp the plan read, at most the catch-up
window back; what they already got is dropped by the never-twice ledger as
always, and a paper their plan held but that was not picked is not offered
again.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..model import Paper, paper_from_stored
from .schema import Connection

DAY = 86_400
# a newest stamp this far ahead of a send's clock is a clock gone wrong, not a host a little ahead: following
# it would carry every later stamp (the catch-up window, the days a digest says it covers, the pruning) there
LEAD = 3_600


@dataclass(frozen=True)
class Mark:
    """Where a reader's catch-up starts (Unix seconds, or arrival stamps; None: not known)."""

    last_digest: int | None = None  # when the server last accepted a digest for them
    first_due: int | None = None  # when a send first found them due (its listing's arrival stamp)
    seen_upto: int | None = None  # the newest arrival stamp the plan of their last accepted digest saw

    def since(self) -> int | None:
        """The first arrival stamp their next digest covers (None: today's listing only)."""
        if self.seen_upto is not None:
            return self.seen_upto + 1
        return self.last_digest + 1 if self.last_digest is not None else self.first_due


class Listed(Connection):
    def remember_listing(self, papers: Iterable[Paper], now: float | None = None, keep_days: int = 14) -> int:
        """Keep the listing's papers (a paper listed again keeps its first arrival, takes the new text).

        The new papers' arrival stamp: ``now``, or one past the newest stamp kept if that is later (a
        host whose clock is behind, up to ``LEAD``), so stamps grow in the order listings are committed.
        Returns it.
        """
        packed = [(p.id, _pack(p)) for p in papers]
        clock = int(now if now is not None else time.time())
        with self.transaction():  # a write transaction: the others wait, and their stamps are all below
            newest = self.listed_upto()
            at = clock if newest >= clock + LEAD else max(clock, newest + 1)
            self.db.executemany(
                "INSERT INTO listed (id, arrived, paper) VALUES (:id, :at, :paper) "
                "ON CONFLICT (id) DO UPDATE SET paper = excluded.paper",
                [{"id": pid, "at": at, "paper": blob} for pid, blob in packed])
            self.db.execute("DELETE FROM listed WHERE arrived < :oldest", {"oldest": at - (keep_days + 1) * DAY})
        return at

    def listed_upto(self) -> int:
        """The newest arrival stamp committed (0: nothing kept): a plan reads it before the papers."""
        newest = self.db.execute("SELECT max(arrived) FROM listed").fetchone()[0]
        return int(newest) if newest is not None else 0

    def arrived_since(self, since: float, leave_out: Iterable[str] = (),
                      upto: int | None = None) -> list[tuple[Paper, int]]:
        """(paper, arrival stamp) of the kept papers stamped from ``since`` (to ``upto``), oldest first."""
        skip = set(leave_out)
        query = "SELECT id, arrived, paper FROM listed WHERE arrived >= :since"
        params = {"since": int(since)}
        if upto is not None:
            query += " AND arrived <= :upto"
            params["upto"] = int(upto)
        rows = self.db.execute(query + " ORDER BY arrived, id", params)
        return [(_unpack(blob), int(arrived)) for pid, arrived, blob in rows if pid not in skip]

    def listed_paper(self, paper_id: str) -> Paper | None:
        """A kept listing's copy of one paper (None: not listed within the catch-up window)."""
        row = self.db.execute("SELECT paper FROM listed WHERE id = :id", {"id": paper_id}).fetchone()
        return _unpack(row[0]) if row else None

    def mark_due(self, emails: Iterable[str], now: float | None = None) -> None:
        """Readers a send found due: the first time sets when their catch-up starts (``now``: a send passes
        its listing's arrival stamp)."""
        wanted = {email.lower() for email in emails}
        if not wanted:
            return
        at = int(now if now is not None else time.time())
        with self.transaction():
            keys = self._reader_keys(wanted)
            self.db.executemany("INSERT INTO reader_marks (reader, first_due) VALUES (?, ?) "
                                "ON CONFLICT (reader) DO UPDATE SET first_due = coalesce(first_due, excluded.first_due)",
                                [(key, at) for key in keys.values()])

    def catchup_marks(self, emails: Sequence[str] | None = None) -> dict[str, Mark]:
        """Reader (lower case) -> their catch-up mark; absent: never seen."""
        query = ("SELECT a.email, m.last_digest, m.first_due, m.seen_upto FROM reader_marks AS m "
                 "JOIN addresses AS a ON a.id = m.reader")
        if emails is None:
            rows = self.db.execute(query)
        else:
            rows = self.db.execute(query + " WHERE a.email IN (SELECT value FROM json_each(:emails))",
                                   {"emails": json.dumps(sorted({e.lower() for e in emails}))})
        return {row[0]: Mark(*row[1:]) for row in rows}

    def _reader_keys(self, emails: set[str]) -> dict[str, int]:
        self.db.executemany("INSERT OR IGNORE INTO addresses (email) VALUES (?)", [(e,) for e in sorted(emails)])
        rows = self.db.execute("SELECT email, id FROM addresses WHERE email IN (SELECT value FROM json_each(:e))",
                               {"e": json.dumps(sorted(emails))})
        return {row[0]: int(row[1]) for row in rows}


def _pack(paper: Paper) -> bytes:
    return zlib.compress(json.dumps(paper.to_json()).encode("ascii"))


def _unpack(blob: bytes) -> Paper:
    return paper_from_stored(json.loads(zlib.decompress(blob).decode("ascii")))
