"""Which of the word rules a ranking applies: all of them, unless a benchmark measures one away.

``spelling``: a query word also matches its other spellings in the listing
(``spelling``). ``passing``: a keyword mentioned once, only in the abstract, counts
toward ``min_score`` at most ``select.PASSING_SHARE`` of it. ``shares``: when a
digest is full, each keyword gets a share of the places by its weight
(``shares``). ``Rules.none()`` is the ranking before these rules (the frozen
reference ranker in the tests, and the ablations in ``benchmarks/ranking.py``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rules:
    spelling: bool = True
    passing: bool = True
    shares: bool = True

    @classmethod
    def none(cls) -> Rules:
        return cls(spelling=False, passing=False, shares=False)
