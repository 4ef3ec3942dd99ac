"""Which papers of a listing are distinct, and when a parser has read enough of them.

``fetch_all`` keeps the first ``DIGEST_MAX_PAPERS`` distinct papers of the merged
listing. A parser that stops once it holds that many distinct papers of its own
keeps those same papers, without building (and checking) the tens of thousands
after them that would be dropped anyway.
"""

from __future__ import annotations

from ..model import Paper


class Distinct:
    """Papers told apart as the merged listing tells them: a paper whose id came before is
    the same paper, and so is one whose DOI a distinct paper before it had."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.dois: set[str] = set()

    def new(self, paper: Paper) -> bool:
        if paper.id in self.ids:
            return False
        self.ids.add(paper.id)
        if paper.doi is not None and paper.doi in self.dois:
            return False
        self.dois.update([paper.doi] if paper.doi else [])
        return True


class Cap:
    """A parser's stop: full once ``limit`` distinct papers are read (never, without a limit).
    What the parser leaves unread it counts in ``unread``, for the warning."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.seen = Distinct()
        self.kept = 0
        self.unread = 0

    @property
    def full(self) -> bool:
        return self.limit is not None and self.kept >= self.limit

    def add(self, paper: Paper) -> None:
        self.kept += self.seen.new(paper)

    def warnings(self, unread: str) -> list[str]:
        """The warning, when something was left unread: ``unread`` names what (``"lines"``, ``"items"``)."""
        if not self.unread:
            return []
        return [f"kept the first {self.limit} papers; {self.unread} more {unread} not read "
                "(raise DIGEST_MAX_PAPERS to keep more)"]
