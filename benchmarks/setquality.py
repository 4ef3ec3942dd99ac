"""The arithmetic of the ranking benchmarks: nDCG of a ranking, and the quality of what is sent.

A reader's digest on one day is judged as a set: of its ``picks``, ``hits`` are
relevant, out of the ``relevant`` papers that day's listing held. Over many
(reader, day) pairs, two averages:

* per digest (macro): precision over the digests that were sent (at least one
  pick); recall over the days that held something relevant; F1 as
  ``2 hits / (picks + relevant)`` (the harmonic mean of that day's precision and
  recall, and 0 when one side is empty) over the pairs where something was sent
  or was there to send. A day with nothing relevant and nothing sent is right,
  and carries no information either way; sending on such a day costs an F1 of 0.
* pooled (micro): the same ratios over the summed counts.

Picks per digest and the share of empty digests count every pair; "silently
empty" is the share of the days holding something relevant whose digest was
empty. Cut-offs are tuned on the mean F1 per digest (``best_threshold``,
``best_top_k``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Scored = Sequence[tuple[float, bool]]  # one (reader, day): (score, relevant?) best first


def ndcg(ranked: list[str], rel: set[str], k: int = 10) -> float:
    dcg = sum(1 / math.log2(i + 2) for i, d in enumerate(ranked[:k]) if d in rel)
    idcg = sum(1 / math.log2(i + 2) for i in range(min(len(rel), k)))
    return dcg / idcg if idcg else 0.0


@dataclass(frozen=True, slots=True)
class Sent:
    """One reader's digest on one day."""

    picks: int
    hits: int
    relevant: int


def judge(picked: Iterable[str], relevant: set[str]) -> Sent:
    ids = list(picked)
    return Sent(len(ids), sum(i in relevant for i in ids), len(relevant))


@dataclass(frozen=True, slots=True)
class SetQuality:
    precision: float
    recall: float
    f1: float
    micro_precision: float
    micro_recall: float
    micro_f1: float
    picks: float  # per digest
    empty: float  # share of all digests
    silent: float  # share of the days with something relevant whose digest was empty
    digests: int


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def summarise(sent: Sequence[Sent]) -> SetQuality:
    picks, hits, relevant = (sum(s.picks for s in sent), sum(s.hits for s in sent), sum(s.relevant for s in sent))
    wanted = [s for s in sent if s.relevant]
    return SetQuality(
        precision=_mean([s.hits / s.picks for s in sent if s.picks]),
        recall=_mean([s.hits / s.relevant for s in wanted]),
        f1=mean_f1(sent),
        micro_precision=_ratio(hits, picks),
        micro_recall=_ratio(hits, relevant),
        micro_f1=_ratio(2 * hits, picks + relevant),
        picks=_ratio(picks, len(sent)),
        empty=_ratio(sum(not s.picks for s in sent), len(sent)),
        silent=_ratio(sum(not s.picks for s in wanted), len(wanted)),
        digests=len(sent),
    )


class Cutoffs:
    """Every (reader, day) ranking, to be cut at a score or at a length."""

    def __init__(self, days: Sequence[Scored], relevant: Sequence[int]) -> None:
        self.days = [list(day) for day in days]
        self.relevant = list(relevant)

    def at_score(self, threshold: float, max_items: int | None = None) -> list[Sent]:
        """Every paper scoring ``threshold`` or more, at most ``max_items``."""
        kept = [[rel for score, rel in day if score >= threshold][:max_items] for day in self.days]
        return [Sent(len(k), sum(k), r) for k, r in zip(kept, self.relevant)]

    def at_length(self, k: int) -> list[Sent]:
        """The first ``k`` papers (fewer where fewer were ranked)."""
        return [Sent(len(day[:k]), sum(rel for _, rel in day[:k]), r) for day, r in zip(self.days, self.relevant)]


def mean_f1(sent: Iterable[Sent]) -> float:
    """``summarise(sent).f1``, alone: what the cut-offs are tuned on."""
    values = [2 * s.hits / (s.picks + s.relevant) for s in sent if s.picks + s.relevant]
    return sum(values) / len(values) if values else 0.0


def best_threshold(cutoffs: Cutoffs, max_items: int | None) -> tuple[float, SetQuality]:
    """The fixed score threshold with the best F1 per digest (exactly: every score is tried), and what it sends.

    Lowering the threshold past one score adds one pick to one digest, so a sweep
    over every paper's score, best first, keeps the sum of F1s up to date in O(1)
    a paper.
    """
    picks, hits = [0] * len(cutoffs.days), [0] * len(cutoffs.days)
    relevant = cutoffs.relevant
    counted = sum(1 for r in relevant if r)  # pairs in F1's mean: something sent or to send
    total, best, best_f1 = 0.0, math.inf, 0.0
    papers = sorted(((score, n, rel) for n, day in enumerate(cutoffs.days)
                     for position, (score, rel) in enumerate(day) if max_items is None or position < max_items),
                    key=lambda item: -item[0])
    for j, (score, n, rel) in enumerate(papers):
        if picks[n] + relevant[n]:
            total -= 2 * hits[n] / (picks[n] + relevant[n])
        else:
            counted += 1
        picks[n] += 1
        hits[n] += rel
        total += 2 * hits[n] / (picks[n] + relevant[n])
        last_of_score = j + 1 == len(papers) or papers[j + 1][0] < score
        if last_of_score and counted and total / counted > best_f1:
            best, best_f1 = score, total / counted
    return best, summarise(cutoffs.at_score(best, max_items))


def best_top_k(cutoffs: Cutoffs, most: int) -> tuple[int, SetQuality]:
    """The fixed digest length (1..``most``) with the best F1 per digest, and what it sends."""
    best = max(range(1, most + 1), key=lambda k: mean_f1(cutoffs.at_length(k)))
    return best, summarise(cutoffs.at_length(best))
