"""Choose the meaning constants by cross-validation over the development set's queries.

Two choices, each made on 4 folds of the 250 queries and judged on the fifth
(``--folds``, shuffled with ``--seed``), the mean of the held-out figures printed
beside the current constants' on the same folds:

1. the shape of MiniLM's bonus (``Bonus``: weight, floor, cap), by nDCG@10 over
   the 2,000 papers;
2. given the bonus each fold chose, the qualification rules of ``select`` with
   meaning on (``WORD_SHARE``, the bonus's ``confirmed``, and the bounded recall
   rule: the bonus's ``recall`` cosine and ``RECALL_WORDS``), by the F1 of what is sent on
   benchmarks/digests.py's one-day slices, among the rules that send no more
   picks per digest than words alone on the same training queries.

The paper vectors come from the store given by ``--store`` (benchmarks/ranking.py
``--store`` fills it; without it the 2,000 papers are embedded first, about 3
minutes on 2 cores). The rules are module constants of ``select``: this script
sets them for each grid point, in its own process. The data is read in place,
never copied; without it the script says so and exits with 2.

Measured (folds seed 18), against the constants before (bonus 4, 0.12, 1.7; words
0.75 and words plus meaning 1.25 of min_score, no recall rule), on the same folds:
every fold chose the bonus (4, 0.12, 1.3): nDCG@10 held out 0.5237 against 0.5223.
With this grid of rules the folds chose (0.75, 1.75, 0.35, 0.5) three times,
(0.75, 1.5, 0.4, 0.5) and (0.75, 1.5, 0.45, 0.25) once each: F1 sent held out 0.243
against 0.242 (words alone 0.220), picks per digest 0.551 against 0.599 (words
alone 0.569). A first, smaller grid (confirmed at most 1.5, recall cosine 0.4-0.6)
chose (0.75, 1.5, 0.4, 0.5) in four folds: F1 0.247, picks 0.543. Kept: the bonus
(4, 0.12, 1.3) and the rule the folds chose most often, (0.75, 1.75, 0.35, 0.5).
With ``--bonus 4,0.12,1.7`` (the cap before) the folds chose the same rules, with
the same held-out F1 (0.243) and picks (0.551): the cap moves nDCG@10 only.

Again with MiniLM's keyword embedded as "methods for <keyword>" (benchmarks/tune_keywords.py):
every fold chose the floor 0.16 (four the cap 1.3, one 1.7): nDCG@10 held out 0.5318
against 0.5327 for (4, 0.16, 1.3); four folds chose the rule (0.75, 1.75, 0.35, 0.5),
one (0.75, 1.75, 0.3, 0.75): F1 sent held out 0.247 against 0.250 for the rule kept
and 0.220 for words alone, picks per digest 0.513 against 0.528 and 0.569. Kept.

Usage: python benchmarks/tune_meaning.py [--shared PATH] [--store FILE] [--folds 5] [--seed 18] [--bonus W,F,C]
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # these helpers, and this checkout's digest before an installed one

import digests  # noqa: E402
from devset import ABSENT, EVERYTHING, DevSet, embedders, load, make_index, measured, papers, folds_parser  # noqa: E402
from devset import reader_profile  # noqa: E402
from setquality import Sent, judge, ndcg, summarise  # noqa: E402
from tune import folds  # noqa: E402

from digest.ranking import select  # noqa: E402
from digest.ranking.index import Index  # noqa: E402
from digest.ranking.many import rank_many  # noqa: E402
from digest.semantic import Bonus  # noqa: E402

BONUSES = [Bonus(w, f, c) for w, f, c in itertools.product((3.0, 4.0, 6.0), (0.08, 0.12, 0.16), (1.0, 1.3, 1.7))]
# (WORD_SHARE, Bonus.confirmed, Bonus.recall, RECALL_WORDS)
QUALIFY = [(s, c, None, 0.0) for s, c in itertools.product((0.75, 0.9, 1.0), (1.25, 1.5, 1.75))] + \
    [(s, c, r, w) for s, c, r, w in itertools.product((0.75, 1.0), (1.25, 1.5, 1.75, 2.0), (0.3, 0.35, 0.4, 0.45),
                                                      (0.25, 0.5, 0.75))]
Rule = tuple[float, float, float | None, float]


class WithBonus:
    """The embedder, with another bonus: its vectors and keyword cache shared."""

    def __init__(self, inner: Any, bonus: Bonus) -> None:
        self.inner, self.bonus, self.name = inner, bonus, inner.name

    def embed_keywords(self, texts: Sequence[str]) -> list[Any]:
        return self.inner.embed_keywords(texts)


def rebonused(index: Index, bonus: Bonus) -> Index:
    other = index.reweighted(index.weights)
    other.embedder = WithBonus(index.embedder, bonus)
    return other


def ndcg_table(index: Index, devset: DevSet) -> np.ndarray:
    """Per bonus, each query's nDCG@10."""
    profiles = [reader_profile(q) for q in devset.queries]
    table = np.zeros((len(BONUSES), len(profiles)))
    for b, bonus in enumerate(BONUSES):
        runs = rank_many(rebonused(index, bonus), profiles, selections=[EVERYTHING] * len(profiles))
        table[b] = [ndcg([p.paper.id for p in run[:10]], rel) for run, rel in zip(runs, devset.relevant)]
    return table


def use_rule(rule: Rule) -> None:
    """``select``'s shares for this rule (the rest goes on the bonus: ``with_rule``)."""
    select.WORD_SHARE, _, _, select.RECALL_WORDS = rule


def with_rule(bonus: Bonus, rule: Rule) -> Bonus:
    return replace(bonus, confirmed=rule[1], recall=rule[2])


def sent_per_reader(devset: DevSet, day_indexes: list[tuple[Index, list[set[str]]]]) -> list[list[Sent]]:
    """What each reader is sent on each day with the default selection."""
    profiles = [reader_profile(q) for q in devset.queries]
    out: list[list[Sent]] = [[] for _ in profiles]
    for index, relevant in day_indexes:
        for n, (picks, rel) in enumerate(zip(rank_many(index, profiles, selections=[digests.DEFAULT] * len(profiles)),
                                             relevant)):
            out[n].append(judge((p.paper.id for p in picks), rel))
    return out


def quality(sent: list[list[Sent]], readers: np.ndarray) -> tuple[float, float]:
    """(F1 per digest, picks per digest) over these readers' digests."""
    q = summarise([s for r in readers.tolist() for s in sent[r]])
    return q.f1, q.picks


def main() -> int:
    parser = folds_parser(__doc__)
    parser.add_argument("--bonus", help="hold the bonus: weight,floor,cap (only the rules are chosen)")
    args = parser.parse_args()
    if args.bonus:
        try:
            BONUSES[:] = [Bonus(*(float(v) for v in args.bonus.split(",")))]
        except (TypeError, ValueError):
            print("--bonus: three numbers, weight,floor,cap (e.g. 4,0.12,1.7)", file=sys.stderr)
            return 2
    devset = load(args.shared)
    if devset is None:
        return ABSENT
    found = dict(embedders(skip=("wordllama",), store=args.store))
    if "minilm" not in found:
        print("MiniLM is not installed: nothing to tune", file=sys.stderr)
        return 1
    print(f"measuring the digest package at {measured()}")
    embedder, current_bonus = found["minilm"], found["minilm"].bonus
    current_rule: Rule = (select.WORD_SHARE, current_bonus.confirmed, current_bonus.recall, select.RECALL_WORDS)
    current_bonus = Bonus(current_bonus.weight, current_bonus.floor, current_bonus.cap)
    started = time.perf_counter()
    whole = make_index(papers(devset.docs), embedder=embedder)
    table = ndcg_table(whole, devset)
    print(f"{len(BONUSES)} bonuses x {len(devset.queries)} queries in {time.perf_counter() - started:.0f} s")
    listings = digests.days(devset.docs)
    lexical_days = [(make_index(papers(day)), digests.on_day(devset, day)) for day in listings]
    meaning_days = [(make_index(papers(day), embedder=embedder), rel) for day, (_, rel) in zip(listings, lexical_days)]
    lexical = sent_per_reader(devset, lexical_days)
    parts = folds(len(devset.queries), args.folds, args.seed)
    everyone = np.arange(len(devset.queries))
    current = BONUSES.index(current_bonus) if current_bonus in BONUSES else None
    cache: dict[tuple[int, Rule], list[list[Sent]]] = {}

    def sent_with(b: int, rule: Rule) -> list[list[Sent]]:
        if (b, rule) not in cache:
            use_rule(rule)
            bonus = with_rule(BONUSES[b], rule)
            cache[(b, rule)] = sent_per_reader(devset, [(rebonused(i, bonus), r) for i, r in meaning_days])
        return cache[(b, rule)]

    print("\n| fold | bonus (w, floor, cap) | nDCG@10 held out | current | rule (share, confirmed, recall cos, words)"
          " | F1 held out | current | lexical | picks | current | lexical |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    rows = []
    for f, held in enumerate(parts, 1):
        train = np.setdiff1d(everyone, held)
        b = int(np.argmax(table[:, train].mean(axis=1)))
        lex_f1, lex_picks = quality(lexical, train)
        allowed = [r for r in QUALIFY if quality(sent_with(b, r), train)[1] <= lex_picks]
        rule = max(allowed or QUALIFY, key=lambda r: quality(sent_with(b, r), train)[0])
        now_b = current if current is not None else b
        held_f1, held_picks = quality(sent_with(b, rule), held)
        cur_f1, cur_picks = quality(sent_with(now_b, current_rule), held)
        lex_f1, lex_picks = quality(lexical, held)
        row = (table[b, held].mean(), table[now_b, held].mean(), held_f1, cur_f1, lex_f1, held_picks, cur_picks,
               lex_picks)
        rows.append(row)
        bn = BONUSES[b]
        print(f"| {f} | {bn.weight:g}, {bn.floor:g}, {bn.cap:g} | {row[0]:.4f} | {row[1]:.4f} | {rule} | "
              + " | ".join(f"{v:.3f}" for v in row[2:]) + " |", flush=True)
    mean = np.mean(rows, axis=0)
    print("| mean | | " + f"{mean[0]:.4f} | {mean[1]:.4f} | | " + " | ".join(f"{v:.3f}" for v in mean[2:]) + " |")
    best = np.argsort(-table.mean(axis=1))[:5]
    print("in-sample best bonuses (orientation only): " + "; ".join(
        f"{BONUSES[b].weight:g},{BONUSES[b].floor:g},{BONUSES[b].cap:g}: {table[b].mean():.4f}" for b in best))
    print(f"(measured in {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
