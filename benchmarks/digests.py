"""What each reader is sent, day by day, on the labelled development set in ../shared/ranking.

nDCG@10 over 2,000 papers judges an order; a reader gets a set. Here the 2,000
papers are cut into one-day listings of ``DAY_SIZE`` (100): sorted by their
number (``inspec-<n>``), shuffled with ``random.Random(DAY_SEED)``, then taken 100
at a time, so each day mixes topics as a real listing does. Each of the 250
queries is a reader whose profile is that one keyword. Every (reader, day) is
ranked on that day's listing alone (its own index, so one day's word statistics,
as the daily send sees them) with the default selection (``DIGEST_MIN_SCORE`` 2,
``DIGEST_MAX_ITEMS`` 20), and what it picks is judged against the papers of that
day labelled with the keyword. ``setquality`` defines the figures: precision,
recall and F1 per digest and pooled, picks per digest, the share of empty digests
and of silently empty ones (the day held a relevant paper).

Beside it, in the same run, BM25 (bm25s's Lucene variant with stems when the
``bench`` extra is installed, else a plain BM25) cut two ways, each tuned on this
same data for the best F1 per digest: a fixed score threshold (at most 20 picks)
and a fixed top k. Tuned on the answers, they are an upper bound that is fair to
BM25, not a held-out figure. Each digest variant also gets the ``min_score`` that
would have been best, for reference. With the semantic extras installed, a row
per backend (``--quick`` skips MiniLM, about a minute to embed the 2,000 papers;
``--store FILE`` keeps the vectors between runs). The data is read in place,
never copied; without it the script says so and exits with 2.

Usage: python benchmarks/digests.py [--shared PATH] [--quick] [--store FILE]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # these helpers, and this checkout's digest before an installed one

from devset import (  # noqa: E402
    ABSENT, EVERYTHING, SHARED, DevSet, bm25s_installed, embedders, load, lucene_bm25, measured, our_runs, papers,
    make_index, plain_bm25, reader_profile, use_rules,
)
from setquality import (  # noqa: E402
    Cutoffs, Scored, Sent, SetQuality, best_threshold, best_top_k, judge, ndcg, summarise,
)

from digest.ranking.index import Index  # noqa: E402
from digest.ranking.select import Selection  # noqa: E402
from digest.ranking.many import rank_many  # noqa: E402
from digest.settings import Settings  # noqa: E402

DAY_SIZE = 100
DAY_SEED = 18
DEFAULT = Selection(max_items=Settings.max_items, min_score=Settings.min_score)
NDCG_TARGET = {"": 0.52, "meaning": 0.55}

Docs = list[dict[str, str]]
Scorer = Callable[[Docs, list[str]], list[dict[str, float]]]


@dataclass(frozen=True)
class Row:
    ranker: str
    ndcg: float
    quality: SetQuality
    meaning: str = ""  # the semantic backend; "" for words alone
    tuned: bool = False


def days(docs: Docs) -> list[Docs]:
    """The one-day listings: by document number, shuffled with ``DAY_SEED``, ``DAY_SIZE`` at a time."""
    order = sorted(docs, key=lambda d: int(d["id"].rsplit("-", 1)[1]))
    random.Random(DAY_SEED).shuffle(order)
    return [order[start:start + DAY_SIZE] for start in range(0, len(order), DAY_SIZE)]


def on_day(devset: DevSet, day: Docs) -> list[set[str]]:
    """Each reader's relevant papers in that day's listing."""
    ids = {d["id"] for d in day}
    return [relevant & ids for relevant in devset.relevant]


def digest_days(devset: DevSet, listings: list[Docs], embedder: Any) -> tuple[list[Sent], list[Scored]]:
    """What every (reader, day) is sent with the default selection, and everything they could be, scored."""
    profiles = [reader_profile(q) for q in devset.queries]
    sent: list[Sent] = []
    scored: list[Scored] = []
    for day in listings:
        index = make_index(papers(day), embedder=embedder)
        picks = rank_many(index, profiles, selections=[DEFAULT] * len(profiles))
        every = rank_many(index, profiles, selections=[EVERYTHING] * len(profiles))
        for chosen, ranked, relevant in zip(picks, every, on_day(devset, day)):
            sent.append(judge((p.paper.id for p in chosen), relevant))
            scored.append([(p.score, p.paper.id in relevant) for p in ranked])
    return sent, scored


def bm25_days(devset: DevSet, listings: list[Docs], score: Scorer) -> Cutoffs:
    """Every (reader, day) ranked by BM25 on that day's listing alone."""
    scored: list[Scored] = []
    counts: list[int] = []
    for day in listings:
        for scores, relevant in zip(score(day, devset.queries), on_day(devset, day)):
            ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
            scored.append([(s, i in relevant) for i, s in ranked])
            counts.append(len(relevant))
    return Cutoffs(scored, counts)


def mean_ndcg(devset: DevSet, runs: Sequence[list[str]]) -> float:
    return sum(ndcg(run, relevant) for run, relevant in zip(runs, devset.relevant)) / len(runs)


def bm25_rows(devset: DevSet, listings: list[Docs]) -> list[Row]:
    name, score = ("bm25s, stems", lucene_bm25) if bm25s_installed() else ("plain", plain_bm25)
    whole = [sorted(s, key=s.__getitem__, reverse=True) for s in score(devset.docs, devset.queries)]
    quality = mean_ndcg(devset, whole)
    cutoffs = bm25_days(devset, listings, score)
    threshold, by_score = best_threshold(cutoffs, DEFAULT.max_items)
    k, by_length = best_top_k(cutoffs, DEFAULT.max_items or 20)
    return [Row(f"BM25 ({name}), score ≥ {threshold:.2f} [tuned]", quality, by_score, tuned=True),
            Row(f"BM25 ({name}), top {k} [tuned]", quality, by_length, tuned=True)]


def digest_rows(devset: DevSet, listings: list[Docs], label: str, embedder: Any = None, meaning: str = "",
                quality: float | None = None) -> list[Row]:
    """The default digest's row, and the same ranker with its best ``min_score`` (tuned) for reference."""
    if quality is None:
        quality = mean_ndcg(devset, our_runs(devset.docs, devset.queries, embedder=embedder)[0])
    sent, scored = digest_days(devset, listings, embedder)
    threshold, tuned = best_threshold(Cutoffs(scored, [s.relevant for s in sent]), DEFAULT.max_items)
    return [Row(label, quality, summarise(sent), meaning),
            Row(f"{label}, min_score {threshold:.2f} [tuned]", quality, tuned, meaning, tuned=True)]


def measure(devset: DevSet, variants: Sequence[tuple[str, Any]], ndcgs: Mapping[str, float] | None = None,
            ) -> list[Row]:
    """BM25's rows, then each (backend name or "", embedder) variant's; nDCG@10 from ``ndcgs`` when given."""
    listings = days(devset.docs)
    rows = bm25_rows(devset, listings)
    for meaning, embedder in variants:
        label = f"digest + {meaning}" if meaning else "digest"
        rows += digest_rows(devset, listings, label, embedder, meaning, (ndcgs or {}).get(label))
    return rows


def print_table(rows: Sequence[Row], listings: int, readers: int) -> None:
    print(f"\nWhat is sent: {readers} readers x {listings} days of {DAY_SIZE} papers (DAY_SEED {DAY_SEED});"
          f" default selection min_score {DEFAULT.min_score:g}, max_items {DEFAULT.max_items};"
          " [tuned] = cut-off chosen on this same data (an upper bound)")
    print("| ranker | nDCG@10 | P | R | F1 | P pooled | R pooled | F1 pooled | picks/digest | empty %"
          " | silent-empty % |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        q = row.quality
        print(f"| {row.ranker} | {row.ndcg:.3f} | {q.precision:.3f} | {q.recall:.3f} | {q.f1:.3f}"
              f" | {q.micro_precision:.3f} | {q.micro_recall:.3f} | {q.micro_f1:.3f} | {q.picks:.2f}"
              f" | {100 * q.empty:.1f} | {100 * q.silent:.1f} |")


def targets(rows: Sequence[Row]) -> list[tuple[str, bool]]:
    """Issue #18's targets on the development set, each with whether it holds."""
    lexical = next(r for r in rows if r.ranker == "digest")
    checks = [(f"nDCG@10 ≥ {NDCG_TARGET['']} with words alone: {lexical.ndcg:.3f}", lexical.ndcg >= NDCG_TARGET[""])]
    for row in rows:
        if row.meaning and not row.tuned:
            q, lex = row.quality, lexical.quality
            checks += [
                (f"nDCG@10 ≥ {NDCG_TARGET['meaning']} with {row.meaning}: {row.ndcg:.3f}",
                 row.ndcg >= NDCG_TARGET["meaning"]),
                (f"F1 sent with {row.meaning} ≥ words alone's: {q.f1:.3f} vs {lex.f1:.3f}", q.f1 >= lex.f1),
                (f"picks per digest with {row.meaning} ≤ words alone's: {q.picks:.2f} vs {lex.picks:.2f}",
                 q.picks <= lex.picks),
            ]
    return checks


def print_targets(rows: Sequence[Row]) -> None:
    print("\nTargets (issue #18, development set):")
    for text, holds in targets(rows):
        print(f"  {'✔' if holds else '✘'} {text}")


def report(devset: DevSet, variants: Sequence[tuple[str, Any]], ndcgs: Mapping[str, float] | None = None) -> None:
    """Measure and print the table and the targets (benchmarks/ranking.py calls this too)."""
    started = time.perf_counter()
    rows = measure(devset, variants, ndcgs)
    print_table(rows, len(days(devset.docs)), len(devset.qrels))
    print_targets(rows)
    print(f"(set quality measured in {time.perf_counter() - started:.0f} s)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--rules", default="all", help="word rules to apply: all, none, or names (spelling,passing,shares)")
    parser.add_argument("--quick", action="store_true", help="skip MiniLM (about a minute to embed the papers)")
    parser.add_argument("--store", type=Path, help="keep the papers' vectors in this state database")
    args = parser.parse_args()
    use_rules(args.rules)
    devset = load(args.shared)
    if devset is None:
        return ABSENT
    print(f"measuring the digest package at {measured()}")
    backends = list(embedders(skip=("minilm",) if args.quick else (), store=args.store))
    report(devset, [("", None), *backends])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
