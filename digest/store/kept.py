"""Reading the archive back: a kept digest to re-render, a reader's list of them, a paper they were sent.

``archive`` writes and prunes the records (its docstring describes them); this
module decodes them (``codec``) into what a page is rendered from. A paper is
kept once in ``archive_papers`` and found by its key.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from ..model import Paper
from .blobs import unpack_paper
from .codec import decode_record, decode_tail, header, keys_of, message_numbers
from .schema import Connection


@dataclass(frozen=True, slots=True)
class KeptPick:
    paper: Paper
    score: float  # kept to the ranker's 0.001 (a 32-bit float before)
    rank: int
    matched: tuple[tuple[str, bool], ...] = ()  # (keyword as the ranker matched it, partly)


@dataclass(frozen=True, slots=True)
class KeptDigest:
    """What one sent digest's page is rendered from."""

    email: str  # as the digest showed it
    message_id: str
    sent_on: date  # the day it went out: the "view in browser" day, and the day its links were signed for
    source: str  # the header's source and day
    day: date
    templates: str  # the template version it was rendered with
    picks: tuple[KeptPick, ...] = ()
    total: int = 0  # how many matched before the reader's maximum
    since: date | None = None  # a catch-up digest covers since..day
    name: str = ""
    keywords: tuple[str, ...] = ()
    terms: tuple[str, ...] = ()  # the keyword texts the ranker matches by, in profile order
    authors: tuple[str, ...] = ()  # followed: the "Followed: by ..." lines are worked out again from them
    orgs: tuple[str, ...] = ()
    hints: tuple[dict[str, Any], ...] = ()  # keywords that matched nothing (``KeywordHint.to_json``), as said
    more: tuple[KeptPick, ...] = ()  # what matched beyond the picks, ranked after them (the whole list's tail)
    nothing_listed: bool = False  # the listing had no papers at all (a weekend, under DIGEST_SEND_EMPTY)
    language: str | None = None  # the reader's summary language: a summary in it carries its ``lang``


@dataclass(frozen=True, slots=True)
class KeptEntry:
    """One line of a reader's archive: a kept digest's day and size, nothing decoded beyond its header."""

    sent_on: date
    papers: int  # the picks kept (the email may have shown fewer to stay under the size limit)
    total: int  # how many matched in all (at least ``papers``)


class Kept(Connection):
    def kept_digest(self, email: str, day: str) -> KeptDigest | None:
        """The digest ``email`` was sent on ``day`` (ISO), to re-render; None if not kept (or kept as HTML)."""
        try:
            ordinal = date.fromisoformat(day).toordinal()
        except ValueError:
            return None
        row = self.db.execute(
            "SELECT r.message_id, r.record, e.value, p.value, l.tail FROM archive_records AS r "
            "JOIN addresses AS a ON a.id = r.reader JOIN archive_editions AS e ON e.id = r.edition "
            "JOIN archive_profiles AS p ON p.id = r.profile "
            "LEFT JOIN archive_lists AS l ON l.day = r.day AND l.reader = r.reader WHERE r.day = :d AND a.email = :e",
            {"d": ordinal, "e": email.lower()}).fetchone()
        return self._decode_row(date.fromordinal(ordinal), *row) if row else None

    def kept_digests_of(self, email: str) -> list[KeptDigest]:
        """Every kept digest of one reader, oldest first (their data export)."""
        rows = self.db.execute(
            "SELECT r.day, r.message_id, r.record, e.value, p.value FROM archive_records AS r "
            "JOIN addresses AS a ON a.id = r.reader JOIN archive_editions AS e ON e.id = r.edition "
            "JOIN archive_profiles AS p ON p.id = r.profile WHERE a.email = :e ORDER BY r.day", {"e": email.lower()})
        return [self._decode_row(date.fromordinal(day), *rest) for day, *rest in rows]

    def _decode_row(self, day: date, message_id: str, record: bytes, edition: str, profile: str,
                    tail: bytes | None = None) -> KeptDigest:
        """A kept digest; with ``tail``, the papers beyond its picks too (its whole list)."""
        source, listed, templates, *domain = json.loads(edition)
        who = _who(json.loads(profile))
        record = bytes(record)
        if not message_id:
            message_id = "<{}.{}.{}@{}>".format(*(message_numbers(record) or ()), *domain)
        keys, head, picks = decode_record(record, who["terms"])
        if tail:
            more_keys, more = decode_tail(bytes(tail), who["terms"], picks[-1][1] if picks else 0)
            keys, picks = keys + more_keys, picks + more
        papers = self._papers_by_key(keys)
        kept = tuple(KeptPick(papers[key], score, rank, matched) for key, (score, rank, matched) in zip(keys, picks))
        shown = head[2]
        return KeptDigest(
            email=who["email"], message_id=message_id, sent_on=day, source=source, day=date.fromisoformat(listed),
            templates=templates, total=head[0], since=date.fromordinal(head[1]) if head[1] else None,
            name=who["name"], keywords=tuple(who["keywords"]), terms=tuple(who["terms"]),
            authors=tuple(who.get("authors", ())), orgs=tuple(who.get("orgs", ())),
            hints=tuple(who.get("hints", ())), nothing_listed=bool(who.get("nothing_listed", False)),
            language=who.get("language"),
            picks=kept[:shown], more=kept[shown:])

    def kept_entries(self, email: str, before: date | None = None, limit: int = 30) -> list[KeptEntry]:
        """One reader's kept digests, newest first, at most ``limit`` sent before ``before`` (a page of them)."""
        rows = self.db.execute(
            "SELECT r.day, r.record FROM archive_records AS r JOIN addresses AS a ON a.id = r.reader "
            "WHERE a.email = :e AND r.day < :before ORDER BY r.day DESC LIMIT :n",
            {"e": email.lower(), "before": before.toordinal() if before else date.max.toordinal(), "n": limit})
        entries = []
        for day, record in rows:
            _, (total, _, count) = header(bytes(record))
            entries.append(KeptEntry(date.fromordinal(day), count, max(total, count)))
        return entries

    def _papers_by_key(self, keys: Sequence[int]) -> dict[int, Paper]:
        rows = self.db.execute("SELECT id, paper FROM archive_papers "
                               "WHERE id IN (SELECT CAST(value AS INTEGER) FROM json_each(:k))",
                               {"k": json.dumps(sorted(set(keys)))})
        return {int(key): unpack_paper(blob) for key, blob in rows}

    def archived_paper(self, email: str, paper_id: str) -> tuple[int, Paper] | None:
        """The archive's copy of a paper sent to ``email`` (from their latest digest that had it), and its key."""
        rows = self.db.execute(
            "SELECT r.record FROM archive_records AS r JOIN addresses AS a ON a.id = r.reader "
            "WHERE a.email = :e ORDER BY r.day DESC", {"e": email.lower()})
        keys = list(dict.fromkeys(key for (record,) in rows for key in keys_of(bytes(record))))
        for start in range(0, len(keys), 100):  # the latest digests first: a paper saved today costs one batch
            batch = keys[start:start + 100]
            papers = self._papers_by_key(batch)
            found = next((key for key in batch if key in papers and papers[key].id == paper_id), None)
            if found is not None:
                return found, papers[found]
        return None


def _who(stored: Any) -> dict[str, Any]:
    """A stored profile as a dict: the list of now, or the dict written before."""
    if isinstance(stored, list):
        email, name, keywords, *extra = stored
        stored = {"email": email, "name": name, "keywords": keywords, **(extra[0] if extra else {})}
    stored.setdefault("terms", stored["keywords"])
    return stored
