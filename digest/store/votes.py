"""Votes: each reader's +1 or -1 on papers, and the paper texts the store remembers for them.

A vote from an email link names only the paper's id; the title and abstract come
from the texts kept from recent listings (``remember_papers``), for as long as the
archive's links can vote. The ranker reads the votes back as the reader's liked
and disliked papers (``digest.examples``); reading lists find a paper's text here too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from ..model import Paper
from .schema import Connection, utcnow


@dataclass(frozen=True, slots=True)
class Vote:
    paper_id: str
    title: str
    abstract: str
    vote: int
    at: str


class Votes(Connection):
    def record_vote(self, email: str, paper: Paper, vote: int) -> None:
        """+1 or -1 on a paper; a later vote on the same paper replaces the earlier one."""
        self.record_votes(email, [paper], vote)

    def record_votes(self, email: str, papers: Iterable[Paper], vote: int) -> None:
        """The same vote on several papers, in one transaction.

        A paper given without its text (a vote from an email link names only the id)
        takes the title and abstract the store keeps from recent listings
        (``remember_papers``), so the vote keeps working after the listing is gone.
        """
        if vote not in (1, -1):
            raise ValueError("a vote is +1 or -1")
        now = utcnow()
        with self.transaction():
            self.db.executemany(
                "INSERT OR REPLACE INTO votes (email, paper_id, title, abstract, vote, at) VALUES (:e, :id, "
                "coalesce(nullif(:title, ''), (SELECT title FROM paper_texts WHERE id = :id), "
                "(SELECT title FROM papers WHERE id = :id), ''), "
                "coalesce(nullif(:abstract, ''), (SELECT abstract FROM paper_texts WHERE id = :id), ''), :vote, :at)",
                [{"e": email.lower(), "id": p.id, "title": p.title, "abstract": p.abstract, "vote": vote, "at": now}
                 for p in papers],
            )

    def remove_vote(self, email: str, paper_id: str) -> bool:
        """Forget one vote of a reader (the ranking no longer counts it); False if there was none."""
        with self.transaction():
            return self.db.execute("DELETE FROM votes WHERE email = :e AND paper_id = :id",
                                   {"e": email.lower(), "id": paper_id}).rowcount > 0

    def votes(self, email: str) -> list[Vote]:
        """One reader's votes, oldest first."""
        return self.votes_for([email]).get(email.lower(), [])

    def votes_for(self, emails: Iterable[str]) -> dict[str, list[Vote]]:
        """Votes of many readers (lower-case address -> votes, oldest first) in one query."""
        rows = self.db.execute(
            "SELECT email, paper_id, title, abstract, vote, at FROM votes "
            "WHERE email IN (SELECT value FROM json_each(:emails)) ORDER BY email, at, rowid",
            {"emails": json.dumps(sorted({e.lower() for e in emails}))})
        out: dict[str, list[Vote]] = {}
        for email, *vote in rows:
            out.setdefault(email, []).append(Vote(*vote))
        return out

    def remember_papers(self, papers: Iterable[Paper], keep_days: int = 90) -> None:
        """Keep the listing's texts ``keep_days`` (the archive's span: as long as its links can vote)."""
        now = datetime.now(timezone.utc)
        with self.transaction():
            self.db.executemany(
                "INSERT OR REPLACE INTO paper_texts (id, title, abstract, seen) VALUES (:id, :title, :abstract, :now)",
                [{"id": p.id, "title": p.title, "abstract": p.abstract, "now": now.isoformat(timespec="seconds")}
                 for p in papers])
            self.db.execute("DELETE FROM paper_texts WHERE seen < :oldest",
                            {"oldest": (now - timedelta(days=keep_days)).isoformat(timespec="seconds")})

    def known_papers(self, ids: Iterable[str]) -> list[Paper]:
        """The papers among ``ids`` whose text the store keeps (``remember_papers``)."""
        rows = self.db.execute(
            "SELECT id, title, abstract FROM paper_texts WHERE id IN (SELECT value FROM json_each(:ids))",
            {"ids": json.dumps(sorted(set(ids)))})
        return [Paper(id=row[0], title=row[1], abstract=row[2]) for row in rows]

    def paper_title(self, paper_id: str) -> str | None:
        row = self.db.execute(
            "SELECT coalesce((SELECT title FROM paper_texts WHERE id = :id), (SELECT title FROM papers WHERE id = :id))",
            {"id": paper_id}).fetchone()
        return row[0] if row else None
