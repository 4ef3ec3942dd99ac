"""Deliveries: the papers seen, the messages the server answered, and who got which paper.

A paper is recorded as sent only after the SMTP server accepted the message.

Two records, kept for different lengths of time:

- ``sent``: the never-twice ledger, one (paper, reader) pair of integer keys per
  delivered paper, in a WITHOUT ROWID table ordered by paper (about 13 bytes a
  delivery). A send asks it only about the day's papers (``sent_among``), so its cost
  follows today's listing, not the history. Kept for good: a paper can come back any
  day (an arXiv replacement, an older paper on Daily Papers).
- ``messages``: one row per message the server answered (reader, time, status,
  Message-ID, error), for "one digest a day", retries and ``digest status``; pruned
  after ``DIGEST_KEEP_DAYS`` (``prune``).

Addresses and paper ids are stored once (``addresses``, ``papers``) and referred to by
integer keys. Lists of ids go to SQLite as one JSON array parameter read with
``json_each``: data, never SQL text, and no limit on how many.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from datetime import datetime
from typing import TypeVar

from ..model import Paper
from .schema import Connection, guarded, utcnow

DAY = 86_400
_T = TypeVar("_T")

# per paper of the :ids array, its position there and the keys of the readers who got it ("3,17,42"): one
# row per paper and the readers as one string, which is cheaper than a row per (reader, paper) pair
_SENT_AMONG = """
    SELECT today.key, (SELECT group_concat(s.reader) FROM sent AS s WHERE s.paper = p.key)
    FROM json_each(:ids) AS today CROSS JOIN papers AS p ON p.id = today.value
"""
_SENT_PAIRS = """
    SELECT p.id, s.reader FROM json_each(:ids) AS today JOIN papers AS p ON p.id = today.value
    JOIN sent AS s ON s.paper = p.key
"""
_SENT_PAIRS_READERS = _SENT_PAIRS + """
    WHERE s.reader IN (SELECT a.id FROM json_each(:emails) AS who JOIN addresses AS a ON a.email = who.value)
"""
_SENT_AMONG_READERS = """
    SELECT today.key, (
        SELECT group_concat(s.reader) FROM sent AS s WHERE s.paper = p.key AND s.reader IN (
            SELECT a.id FROM json_each(:emails) AS who CROSS JOIN addresses AS a ON a.email = who.value))
    FROM json_each(:ids) AS today CROSS JOIN papers AS p ON p.id = today.value
"""
_ADDRESSES_OF = "SELECT a.id, a.email FROM json_each(:readers) AS r CROSS JOIN addresses AS a ON a.id = CAST(r.value AS INTEGER)"


class Deliveries(Connection):
    def record_seen(self, papers: Iterable[Paper]) -> None:
        now = utcnow()
        with self.transaction():
            self.db.executemany(
                "INSERT INTO papers (id, title, first_seen) VALUES (:id, :title, :now) "
                "ON CONFLICT (id) DO UPDATE SET title = excluded.title WHERE papers.title = ''",
                [{"id": p.id, "title": p.title, "now": now} for p in papers],
            )

    def sent_among(self, paper_ids: Iterable[str], emails: Iterable[str] | None = None) -> "SentIds":
        """Which of these papers each reader already got (readers by lower-case address).

        The never-twice check of a send, a preview or ``digest rank``: pass the day's
        paper ids, and the readers when only a few are wanted. Each id costs one index
        lookup, whatever the size of the history; the answer holds, per reader, the
        positions of their papers among these ids (2 bytes each), so its memory
        follows today's work (``benchmarks/sentmemory.py``: 100,000 readers with 40
        pairs each, +55 MB at the peak).
        """
        ids = sorted(set(paper_ids))
        params = {"ids": json.dumps(ids)}
        query = _SENT_AMONG
        if emails is not None:
            params["emails"] = json.dumps(sorted({email.lower() for email in emails}))
            query = _SENT_AMONG_READERS
        typecode = "H" if len(ids) <= 0xFFFF else "I"
        if self.db.dialect == "sqlite":  # SQLite: rows streamed from the raw cursor, never all in a list
            with guarded(self.path):
                by_key = _positions_by_reader(self.db.raw.execute(query, params), typecode)
        else:  # PostgreSQL: the same answer through the dialect layer (one row per pair)
            by_key = _positions_by_reader(self._sent_pairs(ids, params), typecode)
        addresses = dict(self.db.execute(_ADDRESSES_OF, {"readers": json.dumps(list(by_key))}))
        packed: dict[str, bytes] = {}
        while by_key:  # one reader's array at a time becomes bytes: never both copies at once
            key, positions = by_key.popitem()
            packed[addresses[key]] = positions.tobytes()
        return SentIds(ids, packed, typecode)

    def _sent_pairs(self, ids: list[str], params: dict[str, str]) -> Iterator[tuple[int, str]]:
        """(position among ``ids``, reader key) of each pair already sent, in portable SQL."""
        position = {paper_id: n for n, paper_id in enumerate(ids)}
        query = _SENT_PAIRS_READERS if "emails" in params else _SENT_PAIRS
        for paper_id, reader in self.db.execute(query, params):
            yield position[paper_id], str(reader)

    def sent_ids(self, email: str) -> set[str]:
        """One reader's whole history: reads the ledger from end to end (tests, diagnostics)."""
        rows = self.db.execute(
            "SELECT p.id FROM addresses AS a JOIN sent AS s ON s.reader = a.id JOIN papers AS p ON p.key = s.paper "
            "WHERE a.email = :email", {"email": email.lower()},
        )
        return {r[0] for r in rows}

    def all_sent_ids(self) -> dict[str, set[str]]:
        """Every reader's whole history, in memory: for tests (``readers export`` reads one reader at a
        time, a send uses ``sent_among``)."""
        return _grouped(self.db.execute(
            "SELECT a.email, p.id FROM sent AS s JOIN addresses AS a ON a.id = s.reader JOIN papers AS p ON p.key = s.paper"
        ))

    def record_sent(self, email: str, message_id: str, paper_ids: Iterable[str]) -> None:
        """Called only after the server accepted the message: one transaction."""
        self.record_deliveries([(email, message_id, list(paper_ids), None)])

    def record_failed(self, email: str, message_id: str, error: str, papers: int) -> None:
        self.record_deliveries([(email, message_id, ["?"] * papers, error)])

    def record_deliveries(self, deliveries: Iterable[tuple[str, str, list[str], str | None]],
                          at: datetime | None = None, seen_upto: int | None = None) -> None:
        """(email, Message-ID, paper ids, error or None) of messages the server has answered.

        One transaction for the lot: a batch commits as soon as the replies are in. A
        Message-ID recorded again replaces its earlier status. ``at``: when the server
        answered (default now; an import or a benchmark writes the past). ``seen_upto``: the
        newest arrival stamp the plan that built these digests saw (``catchup.Plan.upto``),
        from which the readers' next digests catch up (None: not known, their mark stays).
        """
        rows = [(email.lower(), message_id, list(paper_ids), error) for email, message_id, paper_ids, error in deliveries]
        if not rows:
            return
        now = int(at.timestamp() if at is not None else self.clock())
        with self.transaction():
            readers = self._keys("addresses", "email", "id", {row[0] for row in rows})
            papers = self._keys("papers", "id", "key", {pid for row in rows if row[3] is None for pid in row[2]},
                                self._paper_keys)
            self.db.executemany(
                "INSERT OR REPLACE INTO messages (message_id, reader, created, status, error, papers) "
                "VALUES (:mid, :reader, :now, :status, :error, :n)",
                [{"mid": mid, "reader": readers[email], "now": now, "status": "failed" if error else "sent",
                  "error": error, "n": len(pids)} for email, mid, pids, error in rows],
            )
            pairs = {(papers[pid], readers[email]) for email, _, pids, error in rows if error is None for pid in pids}
            self.db.executemany("INSERT OR IGNORE INTO sent (paper, reader) VALUES (?, ?)", sorted(pairs))
            self.db.executemany(  # from when the reader's next digest catches up (digest.store.listed)
                "INSERT INTO reader_marks (reader, last_digest, seen_upto) VALUES (?, ?, ?) ON CONFLICT (reader) "
                "DO UPDATE SET last_digest = max(coalesce(last_digest, 0), excluded.last_digest), "
                "seen_upto = coalesce(max(seen_upto, excluded.seen_upto), seen_upto, excluded.seen_upto)",
                sorted({(readers[email], now, seen_upto) for email, _, _, error in rows if error is None}))
        if len(self._paper_keys) < 100_000:  # committed: these keys are now for good
            self._paper_keys.update(papers)

    @property
    def _paper_keys(self) -> dict[str, int]:
        """Paper keys committed before: a send records today's few hundred papers thousands of times."""
        return self.__dict__.setdefault("_committed_paper_keys", {})

    def _keys(self, table: str, column: str, key: str, values: set[str],
              known: dict[str, int] | None = None) -> dict[str, int]:
        """The integer key of each value, adding the values not stored yet (inside a transaction)."""
        found = {value: known[value] for value in values if value in known} if known else {}
        missing = sorted(values - found.keys())
        if not missing:
            return found
        self.db.executemany(f"INSERT OR IGNORE INTO {table} ({column}) VALUES (?)", [(v,) for v in missing])
        if len(missing) <= 16:  # a message or two: plain lookups beat encoding a JSON list
            select = f"SELECT {key} FROM {table} WHERE {column} = ?"
            return found | {value: self.db.execute(select, (value,)).fetchone()[0] for value in missing}
        rows = self.db.execute(
            f"SELECT v.value, t.{key} FROM json_each(:values) AS v CROSS JOIN {table} AS t ON t.{column} = v.value",
            {"values": json.dumps(missing)},
        )
        return found | dict(rows)

    def message_status(self, email: str) -> list[tuple[str, str]]:
        rows = self.db.execute(
            "SELECT m.message_id, m.status FROM addresses AS a JOIN messages AS m ON m.reader = a.id "
            "WHERE a.email = :email ORDER BY m.created, m.id", {"email": email.lower()},
        )
        return [(r[0], r[1]) for r in rows]

    def readers_sent_since(self, since: datetime) -> set[str]:
        """Readers whose digest the server accepted at or after ``since``."""
        rows = self.db.execute(
            "SELECT DISTINCT a.email FROM messages AS m JOIN addresses AS a ON a.id = m.reader "
            "WHERE m.created >= :since AND m.status = 'sent'",
            {"since": int(since.timestamp())},
        )
        return {row[0] for row in rows}

    def readers_sent_among(self, emails: Iterable[str], since: datetime) -> set[str]:
        """Which of ``emails`` (lower case) had a digest accepted at or after ``since``: a few readers
        asked again just before they are sent (another send may have had them meanwhile)."""
        rows = self.db.execute(
            "SELECT DISTINCT a.email FROM json_each(:emails) AS j JOIN addresses AS a ON a.email = j.value "
            "JOIN messages AS m ON m.reader = a.id WHERE m.created >= :since AND m.status = 'sent'",
            {"emails": json.dumps(list(emails)), "since": int(since.timestamp())},
        )
        return {row[0] for row in rows}

    def deliveries_of(self, email: str) -> dict[str, list[dict[str, object]]]:
        """For a reader's data export: their kept messages and every paper they were sent."""
        e = {"email": email.lower()}
        messages = self.db.execute(
            "SELECT m.message_id, datetime(m.created, 'unixepoch'), m.status, m.error, m.papers "
            "FROM addresses AS a JOIN messages AS m ON m.reader = a.id WHERE a.email = :email ORDER BY m.created, m.id", e)
        sent = self.db.execute(
            "SELECT p.id FROM addresses AS a JOIN sent AS s ON s.reader = a.id JOIN papers AS p ON p.key = s.paper "
            "WHERE a.email = :email ORDER BY p.key", e)
        return {
            "messages": [dict(zip(("message_id", "created", "status", "error", "papers"), row)) for row in messages],
            "sent": [{"paper_id": row[0]} for row in sent],
        }

    def forget_deliveries(self, email: str) -> int:
        """Wipe a reader's messages, never-twice record and address (inside the caller's transaction)."""
        row = self.db.execute("SELECT id FROM addresses WHERE email = :email", {"email": email.lower()}).fetchone()
        if row is None:
            return 0
        removed = 0
        for sql in ("DELETE FROM sent WHERE reader = :id", "DELETE FROM messages WHERE reader = :id",
                    "DELETE FROM reader_marks WHERE reader = :id",
                    "DELETE FROM addresses WHERE id = :id"):
            removed += self.db.execute(sql, {"id": row[0]}).rowcount
        return removed

    def prune(self, keep_days: int, now: float | None = None, today: datetime | None = None) -> int:
        """Forget messages older than ``keep_days`` (never the never-twice ledger); how many went.

        ``now``: default the store's clock (a send's). ``today``: when the current day began where the list
        lives; nothing of it goes, whatever ``keep_days``: they say who already got today's digest, and a
        day of 25 hours (autumn's clock change) is longer than ``keep_days=1``.
        """
        cutoff = int(now if now is not None else self.clock()) - keep_days * DAY
        cutoff = min(cutoff, int(today.timestamp())) if today is not None else cutoff
        with self.transaction():
            cursor = self.db.execute("DELETE FROM messages WHERE created < :cutoff", {"cutoff": cutoff})
        return cursor.rowcount

    def counts(self) -> dict[str, int]:
        """For ``digest status``: papers seen, and messages and readers in the kept messages."""
        one = lambda sql: int(self.db.execute(sql).fetchone()[0])  # noqa: E731
        return {
            "papers": one("SELECT count(*) FROM papers"),
            "messages": one("SELECT count(*) FROM messages WHERE status = 'sent'"),
            "readers": one("SELECT count(DISTINCT reader) FROM messages WHERE status = 'sent'"),
        }


class SentIds(Mapping[str, "SentPapers"]):
    """Reader (lower case) -> the papers among today's they already got, read-only.

    Kept compact, because a big list with a few days of lookback holds millions of
    pairs: today's ids once, and per reader the positions of their papers among them
    packed in a bytes object (an ``array`` of 2-byte numbers, 4 past 65,535 ids).
    A set of ids per reader took 283 bytes a pair at the peak, this 14, the reader's
    address included (``benchmarks/sentmemory.py``). Each lookup hands out a
    ``SentPapers`` view: a read-only set.
    """

    def __init__(self, ids: Sequence[str], packed: dict[str, bytes], typecode: str = "H") -> None:
        """``ids``: today's paper ids; ``packed``: per reader, the positions in ``ids`` as array bytes."""
        self._ids = tuple(ids)
        self._position = {paper_id: number for number, paper_id in enumerate(self._ids)}
        self._packed, self._typecode = packed, typecode

    def __getitem__(self, email: str) -> "SentPapers":
        return SentPapers(self._ids, self._position, array(self._typecode, self._packed[email]))

    def __iter__(self) -> Iterator[str]:
        return iter(self._packed)

    def __len__(self) -> int:
        return len(self._packed)

    def __contains__(self, email: object) -> bool:
        return email in self._packed

    def __repr__(self) -> str:
        return f"SentIds({ {email: sorted(papers) for email, papers in self.items()}!r})"


class SentPapers(AbstractSet[str]):
    """The papers one reader already got among today's: a read-only set of paper ids.

    ``in`` answers from a small set of positions made on first use (a view lives for
    one reader's ranking), ``len`` and iteration read the packed positions; it
    compares equal to a ``set`` of the same ids, and ``&``, ``|``, ``-`` give frozensets.
    """

    __slots__ = ("_ids", "_position", "_positions", "_members")

    def __init__(self, ids: tuple[str, ...], position: dict[str, int], positions: array) -> None:
        self._ids, self._position, self._positions = ids, position, positions
        self._members: frozenset[int] | None = None

    def __contains__(self, paper_id: object) -> bool:
        number = self._position.get(paper_id)  # type: ignore[call-overload]
        if number is None:
            return False
        if self._members is None:
            self._members = frozenset(self._positions)
        return number in self._members

    def __iter__(self) -> Iterator[str]:
        return map(self._ids.__getitem__, self._positions)

    def __len__(self) -> int:
        return len(self._positions)

    @classmethod
    def _from_iterable(cls, items: Iterable[_T]) -> AbstractSet[_T]:  # what &, |, - give: a plain frozenset
        return frozenset(items)

    def __repr__(self) -> str:
        return f"SentPapers({sorted(self)!r})"


def _positions_by_reader(rows: Iterable[tuple[int, str | None]], typecode: str) -> dict[int, array]:
    """(position, "reader,reader,...") rows turned round: per reader key, the positions in an array."""
    out: dict[int, array] = {}
    get = out.get
    for position, readers in rows:
        for reader in map(int, readers.split(",")) if readers else ():
            positions = get(reader)
            if positions is None:
                out[reader] = positions = array(typecode)
            positions.append(position)
    return out


def _grouped(rows: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for email, paper_id in rows:
        out.setdefault(email, set()).add(paper_id)
    return out
