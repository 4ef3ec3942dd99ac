"""Reading lists: the papers each reader saved from a digest ("Save" under each paper).

A saved paper is kept as a reference to the archive's copy of it
(``archive_papers``: the paper as the digest showed it, stored once however many
readers save it), which the archive's pruning leaves alone while any list holds
it. A paper saved from a digest the archive no longer keeps (or never kept) is
found in the kept listings, then by the title and abstract the store remembers,
and added to ``archive_papers`` first. Saving twice keeps the first time.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Protocol

from ..model import Paper
from .schema import Connection


@dataclass(frozen=True, slots=True)
class SavedPaper:
    paper: Paper
    saved_at: int  # Unix seconds

    @property
    def saved_on(self) -> str:
        return datetime.fromtimestamp(self.saved_at, timezone.utc).date().isoformat()


class _PaperSources(Protocol):
    """What ReadingList uses of the Archive, Kept, Listed and Votes mixins, which Store combines with it."""

    def archived_paper(self, email: str, paper_id: str) -> tuple[int, Paper] | None: ...

    def archive_paper(self, paper: Paper, day: date) -> int: ...

    def listed_paper(self, paper_id: str) -> Paper | None: ...

    def known_papers(self, ids: Iterable[str]) -> list[Paper]: ...

    def paper_title(self, paper_id: str) -> str | None: ...

    def _papers_by_key(self, keys: Sequence[int]) -> dict[int, Paper]: ...


class ReadingList(Connection, _PaperSources):
    def paper_to_save(self, email: str, paper_id: str) -> Paper | None:
        """The paper a "Save" link names, as the store keeps it (None: the store has no trace of it)."""
        archived = self.archived_paper(email, paper_id)
        return archived[1] if archived else self._elsewhere(paper_id)

    def _elsewhere(self, paper_id: str) -> Paper | None:
        """A paper not in the reader's kept digests: the kept listings, else its remembered text, else its title."""
        listed = self.listed_paper(paper_id)
        if listed is not None:
            return listed
        known = self.known_papers([paper_id])
        if known:
            return known[0]
        title = self.paper_title(paper_id)
        return Paper(id=paper_id, title=title, abstract="") if title else None

    def save_paper(self, email: str, paper_id: str, now: float | None = None) -> Paper | None:
        """Add a paper to the reader's list, in one transaction; None (and nothing saved) if it is unknown."""
        at = int(now if now is not None else time.time())
        with self.transaction():
            archived = self.archived_paper(email, paper_id)
            if archived is None:
                paper = self._elsewhere(paper_id)
                if paper is None:
                    return None
                archived = self.archive_paper(paper, datetime.fromtimestamp(at, timezone.utc).date()), paper
            self.db.execute("INSERT OR IGNORE INTO addresses (email) VALUES (:e)", {"e": email.lower()})
            self.db.execute(
                "INSERT OR IGNORE INTO reading_list (reader, paper_id, paper, saved_at) "
                "SELECT id, :pid, :key, :at FROM addresses WHERE email = :e",
                {"pid": paper_id, "key": archived[0], "at": at, "e": email.lower()})
        return archived[1]

    def unsave_paper(self, email: str, paper_id: str) -> bool:
        """Take a paper off the reader's list; False if it was not on it."""
        with self.transaction():
            return self.db.execute(
                "DELETE FROM reading_list WHERE paper_id = :pid "
                "AND reader = (SELECT id FROM addresses WHERE email = :e)",
                {"pid": paper_id, "e": email.lower()}).rowcount > 0

    def reading_list(self, email: str) -> list[SavedPaper]:
        """The reader's saved papers, the latest saved first."""
        rows = self.db.execute(
            "SELECT s.paper, s.saved_at FROM reading_list AS s JOIN addresses AS a ON a.id = s.reader "
            "WHERE a.email = :e ORDER BY s.saved_at DESC, s.paper_id", {"e": email.lower()}).fetchall()
        papers = self._papers_by_key([int(key) for key, _ in rows])
        return [SavedPaper(papers[int(key)], int(at)) for key, at in rows]

    def is_saved(self, email: str, paper_id: str) -> bool:
        return self.db.execute(
            "SELECT 1 FROM reading_list AS s JOIN addresses AS a ON a.id = s.reader "
            "WHERE a.email = :e AND s.paper_id = :pid", {"e": email.lower(), "pid": paper_id}).fetchone() is not None

    def reading_list_of(self, email: str) -> list[dict[str, object]]:
        """The reader's list for their data export."""
        return [{"paper_id": s.paper.id, "title": s.paper.title, "saved_on": s.saved_on}
                for s in self.reading_list(email)]

    def forget_reading_list(self, email: str) -> int:
        """Wipe one reader's list (inside the caller's transaction, before their address goes)."""
        return self.db.execute("DELETE FROM reading_list WHERE reader = (SELECT id FROM addresses WHERE email = :e)",
                               {"e": email.lower()}).rowcount
