"""The archive of sent digests ("view in browser"): a few hundred bytes a digest, not its HTML.

This module writes, prunes and forgets them; ``kept`` reads them back.

A digest is kept as what its page is rendered from, and re-rendered when the
reader opens it (``digest.archive``): the picks in order (each paper by a key,
its rank, score and matched keywords), how many matched, the first day a catch-up
covered, the Message-ID's numbers; and apart, the papers that matched beyond the
reader's maximum (the "and N more" of the email, for the reader's whole ranked
list, their ranks following the picks'). Each paper costs a few bits (``codec``:
its key, its score's drop to the ranker's 0.001, which of the digest's few sets of
matched keywords). What many digests share is stored once and referenced by an
integer:

- ``archive_papers``: each paper's whole JSON (compressed), once per distinct
  content (a paper whose abstract changed later is a second row: an old digest
  re-renders with the text it was sent with);
- ``archive_profiles``: the reader's address as written, name, keywords and the
  keyword texts the ranker matched, where they differ (one row per reader until
  they change them), as a JSON list (a JSON object before: still read);
- ``archive_editions``: the listing's source and day, the template version and
  the Message-IDs' domain.
- ``archive_lists``: a digest's whole list beyond its picks, when the maximum cut
  it, beside its record (a rowid table: a list of a few KB stays inside the
  b-tree's pages, where in ``archive_records`` it would take an overflow page).

Profiles and editions are found again by a 16-byte hash of their text, not by
an index on it (which would store each profile twice).

``archive_records`` has one row per reader and day, keyed ``(day, reader)``
without a rowid: opening a page is one key lookup, pruning a range delete, and
no other index. A shared row carries ``last``, the latest day a record used it,
and is pruned with the records older than that.

Rows written before (``archive``: the HTML, zlib-compressed or plain) are still
read, and pruned by the same ``keep_days`` until none is left.

Pruned pages go back to the disk when the database is in incremental
auto-vacuum mode (new databases are; ``digest store compact`` switches an old
one, once): each prune then ends with ``PRAGMA incremental_vacuum``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Protocol

from ..model import Paper
from . import blobs
from .codec import encode_record, encode_tail
from .kept import KeptDigest
from .schema import Connection, utcnow


class _KeptRecords(Protocol):
    """What Archive uses of the Kept mixin, which Store combines with it."""

    def kept_digests_of(self, email: str) -> list[KeptDigest]: ...


class Archive(Connection, _KeptRecords):
    def archive_digests(self, digests: Iterable[KeptDigest], keep_days: int = 90) -> None:
        """Keep sent digests for "view in browser", in one transaction; prune what is older than ``keep_days``.

        A reader's second digest on the same day replaces the first (the page shows the latest).
        """
        items = list(digests)
        if not items:
            return
        memo = _memo(self)
        papers = _PaperKeys(memo.papers)
        with self.transaction():
            rows = [self._record_row(papers, kept) for kept in items]
            self.db.executemany(
                "INSERT OR REPLACE INTO archive_records (day, reader, edition, profile, message_id, record) "
                "VALUES (?, ?, ?, ?, ?, ?)", [row for row, _ in rows])
            self._keep_lists(rows)
        memo.papers.update(papers.new)
        self.prune_archive(max(kept.sent_on for kept in items) - timedelta(days=keep_days))

    def _keep_lists(self, rows: Sequence[tuple[tuple[Any, ...], bytes]]) -> None:
        """The whole lists' tails beside their records (a digest replaced by one without a tail loses its)."""
        self.db.executemany("INSERT OR REPLACE INTO archive_lists (day, reader, tail) VALUES (?, ?, ?)",
                            [(row[0], row[1], tail) for row, tail in rows if tail])
        self.db.executemany("DELETE FROM archive_lists WHERE day = ? AND reader = ?",
                            [(row[0], row[1]) for row, tail in rows if not tail])

    def _record_row(self, papers: "_PaperKeys", kept: KeptDigest) -> tuple[tuple[Any, ...], bytes]:
        """One record and its whole list's tail (inside the transaction); a paper already stored today costs
        no query."""
        day = kept.sent_on.toordinal()
        keys = [papers.key_of(self, pick.paper, day) for pick in (*kept.picks, *kept.more)]
        terms = list(dict.fromkeys([*kept.terms, *(k for p in (*kept.picks, *kept.more) for k, _ in p.matched)]))
        numbers, domain = _split_message_id(kept.message_id)
        edition = json.dumps([kept.source, kept.day.isoformat(), kept.templates, *([domain] if domain else [])],
                             ensure_ascii=False)
        index = {term: number for number, term in enumerate(terms)}
        tail = encode_tail(kept.more, keys[len(kept.picks):], index) if kept.more else b""
        record = encode_record(kept.total, kept.since.toordinal() if kept.since else 0, kept.picks,
                               keys[:len(kept.picks)], index, numbers)
        return (day, self._address(kept.email), self._shared("archive_editions", edition, day),
                self._shared("archive_profiles", _profile(kept, terms), day), "" if numbers else kept.message_id,
                record), tail

    def _address(self, email: str) -> int:
        self.db.execute("INSERT OR IGNORE INTO addresses (email) VALUES (:e)", {"e": email.lower()})
        return int(self.db.execute("SELECT id FROM addresses WHERE email = :e", {"e": email.lower()}).fetchone()[0])

    def _shared(self, table: str, value: str, day: int) -> int:
        """The key of a shared profile or edition, its ``last`` day brought up to ``day``."""
        row = self.db.execute(
            f"INSERT INTO {table} (hash, value, last) VALUES (:h, :v, :d) "
            "ON CONFLICT (hash) DO UPDATE SET last = max(last, excluded.last) RETURNING id",
            {"h": hashlib.sha256(value.encode()).digest()[:16], "v": value, "d": day}).fetchone()
        return int(row[0])

    def prune_archive(self, oldest: date) -> int:
        """Forget the digests sent before ``oldest`` and what only they used; give the pages back to the disk."""
        cut = oldest.toordinal()
        memo = _memo(self)
        if memo.pruned_before == cut:
            return 0
        with self.transaction():
            removed = self.db.execute("DELETE FROM archive_records WHERE day < :d", {"d": cut}).rowcount
            self.db.execute("DELETE FROM archive_lists WHERE day < :d", {"d": cut})
            self.db.execute("DELETE FROM archive_papers WHERE last < :d "
                            "AND id NOT IN (SELECT paper FROM reading_list)", {"d": cut})  # saved papers stay
            for table in ("archive_profiles", "archive_editions"):
                self.db.execute(f"DELETE FROM {table} WHERE last < :d", {"d": cut})
            removed += self.db.execute("DELETE FROM archive WHERE day < :d", {"d": oldest.isoformat()}).rowcount
        memo.pruned_before = cut
        memo.papers = {pid: known for pid, known in memo.papers.items() if known[2] >= cut}
        self._give_back()
        return removed

    def _give_back(self) -> None:
        """Free pages back to the disk (auto_vacuum incremental; a no-op otherwise).

        ``executescript``: the pragma frees one page per step, and ``execute`` steps once.
        """
        self.db.script("PRAGMA incremental_vacuum")

    def archive_paper(self, paper: Paper, day: date) -> int:
        """Keep one paper in ``archive_papers`` (once per distinct content, used on ``day``); its key."""
        return _PaperKeys({}).key_of(self, paper, day.toordinal())

    def forget_archive(self, email: str) -> int:
        """Wipe one reader's kept digests and profiles (inside the caller's transaction)."""
        row = self.db.execute("SELECT id FROM addresses WHERE email = :e", {"e": email.lower()}).fetchone()
        removed = self.db.execute("DELETE FROM archive WHERE email = :e", {"e": email.lower()}).rowcount
        if row is None:
            return removed
        profiles = [r[0] for r in self.db.execute("SELECT DISTINCT profile FROM archive_records WHERE reader = :r",
                                                   {"r": row[0]})]
        removed += self.db.execute("DELETE FROM archive_records WHERE reader = :r", {"r": row[0]}).rowcount
        self.db.execute("DELETE FROM archive_lists WHERE reader = :r", {"r": row[0]})
        self.db.executemany("DELETE FROM archive_profiles WHERE id = ?", [(p,) for p in profiles])
        return removed

    def compact(self) -> tuple[int, int]:
        """Rewrite the file without its free pages, in incremental auto-vacuum mode from now on.

        (bytes before, bytes after). VACUUM needs the database to itself for as long
        as it copies it: ``digest store compact`` holds the send lock meanwhile.
        """
        before = self.db.size_bytes()
        self.db.compact()  # on PostgreSQL: VACUUM FULL
        return before, self.db.size_bytes()

    # the HTML rows written before records --------------------------------------------------

    def archive(self, email: str, message_id: str, day: date, html: str, keep_days: int = 90) -> None:
        """Keep a digest's HTML as it is (the archive's old form; a send keeps records)."""
        self.archive_many([(email, message_id, day, html)], keep_days=keep_days)

    def archive_many(self, digests: Iterable[tuple[str, str, date, str]], keep_days: int = 90) -> None:
        """(email, Message-ID, day, HTML) of sent digests, zlib-compressed, in one transaction; then prune."""
        now = utcnow()
        items = list(digests)
        if not items:
            return
        rows = [{"e": email.lower(), "m": message_id, "d": day.isoformat(), "h": blobs.pack_html(html), "now": now}
                for email, message_id, day, html in items]
        with self.transaction():
            self.db.executemany(
                "INSERT OR REPLACE INTO archive (email, message_id, day, html, created) VALUES (:e, :m, :d, :h, :now)",
                rows)
        self.prune_archive(max(day for _, _, day, _ in items) - timedelta(days=keep_days))

    def archived(self, email: str, day: str) -> str | None:
        """The HTML kept for ``email`` on ``day`` by the archive's old form (None: none)."""
        row = self.db.execute("SELECT html FROM archive WHERE email = :e AND day = :d ORDER BY created DESC LIMIT 1",
                              {"e": email.lower(), "d": day}).fetchone()
        return blobs.unpack_html(row[0]) if row else None

    def archive_of(self, email: str) -> list[dict[str, object]]:
        """One reader's kept digests for their data export: the HTML rows as they are, records as their papers."""
        html: list[dict[str, object]] = [
            {"message_id": mid, "day": day, "html": blobs.unpack_html(page)} for mid, day, page in self.db.execute(
                "SELECT message_id, day, html FROM archive WHERE email = :e ORDER BY day", {"e": email.lower()})]
        records: list[dict[str, object]] = [
            {"message_id": kept.message_id, "day": kept.sent_on.isoformat(),
             "papers": [{"id": p.paper.id, "title": p.paper.title} for p in kept.picks]}
            for kept in self.kept_digests_of(email)]
        return sorted(html + records, key=lambda item: str(item["day"]))


MESSAGE_ID = re.compile(r"<(0|[1-9][0-9]{0,19})\.(0|[1-9][0-9]{0,19})\.(0|[1-9][0-9]{0,39})@([^<>@\s\"]+)>")  # make_msgid


def _split_message_id(message_id: str) -> tuple[tuple[int, int, int] | None, str]:
    """``make_msgid``'s three numbers and its domain, to keep as varints and once per edition; else (None, "")."""
    found = MESSAGE_ID.fullmatch(message_id)
    if not found:
        return None, ""
    return (int(found[1]), int(found[2]), int(found[3])), found[4]


def _profile(kept: KeptDigest, terms: list[str]) -> str:
    """The reader as the digest showed them, as JSON: ``[email, name, keywords]`` and, when there are any,
    ``{terms, authors, orgs, hints, nothing_listed, language}``. The email keeps a profile the reader's own: removing them
    removes it."""
    extra: dict[str, Any] = {}
    if terms != list(kept.keywords):
        extra["terms"] = terms  # the ranker's spelling of a keyword differs ("reward model" for '"reward model"')
    for field, values in (("authors", kept.authors), ("orgs", kept.orgs), ("hints", kept.hints)):
        if values:  # only then: a profile without them is shared by all of the reader's digests
            extra[field] = list(values)
    if kept.nothing_listed:
        extra["nothing_listed"] = True
    if kept.language:
        extra["language"] = kept.language
    who = [kept.email, kept.name, list(kept.keywords), *([extra] if extra else [])]
    return json.dumps(who, ensure_ascii=False, separators=(",", ":"))


@dataclass
class _Memo:
    """What one connection learnt while archiving: papers already stored today, the last prune."""

    papers: dict[str, tuple[Paper, int, int]]  # paper id -> (the paper, its key, the latest day it was marked used)
    pruned_before: int = 0


def _memo(store: Any) -> _Memo:
    memo = store.__dict__.get("_archive_memo")
    if memo is None:
        memo = store.__dict__["_archive_memo"] = _Memo({})
    return memo


class _PaperKeys:
    """Paper id -> (paper, key, day) for one transaction; ``new`` enters the memo only once it commits."""

    def __init__(self, committed: dict[str, tuple[Paper, int, int]]) -> None:
        self.known = dict(committed)
        self.new: dict[str, tuple[Paper, int, int]] = {}

    def key_of(self, store: Archive, paper: Paper, day: int) -> int:
        known = self.known.get(paper.id)
        if known is not None and known[2] >= day and (known[0] is paper or known[0] == paper):
            return known[1]
        blob = blobs.pack_paper(paper)
        row = store.db.execute(
            "INSERT INTO archive_papers (hash, paper, last) VALUES (:h, :p, :d) "
            "ON CONFLICT (hash) DO UPDATE SET last = max(last, excluded.last) RETURNING id",
            {"h": hashlib.sha256(blob).digest()[:16], "p": blob, "d": day}).fetchone()
        self.known[paper.id] = self.new[paper.id] = (paper, int(row[0]), day)
        return int(row[0])
