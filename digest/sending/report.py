"""What a send did, for the summary line, the exit code and the daemon's retry."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..store.runs import Tally

NAMED = 5  # readers named in the summary line for each kind of problem
NAMED_WHY = ("weekly", "suppressed", "removed")  # skipped readers named in the summary line, a few of each reason


@dataclass
class SendReport:
    sent: list[str] = field(default_factory=list)
    nothing_new: list[str] = field(default_factory=list)
    already_today: list[str] = field(default_factory=list)  # also in nothing_new: got today's digest before
    failed: dict[str, str] = field(default_factory=dict)  # a 5xx for this reader: retried next run
    deferred: dict[str, str] = field(default_factory=dict)  # a 4xx after the retries: retried next run
    uncertain: dict[str, str] = field(default_factory=dict)  # the server's reply was lost: the next run decides
    skipped: dict[str, str] = field(default_factory=dict)  # why not: unsubscribed, paused, weekly on Mon, ...
    problems: dict[str, str] = field(default_factory=dict)  # a reader's own problem (their library): sent without it
    written: list[Path] = field(default_factory=list)
    note: str = ""
    stopped: int = 0  # readers left for the next run after a stop signal

    @property
    def incomplete(self) -> bool:
        """Some reader is left for the next run (the exit code is 1, the daemon retries)."""
        return bool(self.failed or self.deferred or self.uncertain or self.stopped)

    def summary(self) -> str:
        parts = [f"sent {len(self.sent)}", f"nothing new {len(self.nothing_new) - len(self.already_today)}",
                 f"failed {len(self.failed)}"]
        if self.already_today:
            parts.append(f"already had today's {len(self.already_today)}")
        if self.deferred:
            parts.append(f"deferred {len(self.deferred)} (retried next run)")
        if self.uncertain:
            parts.append(f"uncertain {len(self.uncertain)} (the server's reply was lost; the next run sends once more)")
        if self.skipped:
            parts.append(f"skipped {self.skipped_text()}")
        if self.problems:
            parts.append(f"problems {len(self.problems)} ({named(self.problems)})")
        if self.written:
            parts.append(f"written {len(self.written)} (dry run)")
        if self.stopped:
            parts.append(f"stopped early, {self.stopped} left for the next run")
        return ", ".join(parts) + (f" ({self.note})" if self.note else "")

    def tally(self) -> Tally:
        """The counts a run keeps in the store, each kind apart (``digest status``)."""
        return Tally(sent=len(self.sent), nothing_new=len(self.nothing_new) - len(self.already_today),
                     failed=len(self.failed), already=len(self.already_today), deferred=len(self.deferred),
                     left_over=self.stopped, uncertain=len(self.uncertain),
                     problems=tuple(sorted(self.problems.items())))

    def skipped_text(self) -> str:
        """``3 (2 unsubscribed, 1 weekly on Sat: bo@example.org)``: who gets nothing by their own choice, and why.

        Readers who are not due (weekly) are named, a few of them: "not due" must not read like a fault; so
        are the suppressed (bounces, a complaint) and removed ones: the operator may want to look at them.
        """
        reasons: dict[str, list[str]] = {}
        for email, why in self.skipped.items():
            reasons.setdefault(why, []).append(email)
        parts = [f"{len(who)} {why}" + (f": {_few(who)}" if why.startswith(NAMED_WHY) else "")
                 for why, who in sorted(reasons.items())]
        return f"{len(self.skipped)} (" + ", ".join(parts) + ")"


def named(problems: dict[str, str], shown: int = NAMED) -> str:
    """``ada@example.org: library ada.bib: no such file; ...`` (the first few, then how many more)."""
    items = [f"{email}: {why}" for email, why in sorted(problems.items())]
    more = f"; and {len(items) - shown} more" if len(items) > shown else ""
    return "; ".join(items[:shown]) + more


def _few(emails: list[str], shown: int = NAMED) -> str:
    more = f" and {len(emails) - shown} more" if len(emails) > shown else ""
    return ", ".join(sorted(emails)[:shown]) + more
