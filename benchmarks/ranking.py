"""Ranking quality on the labelled development set in ../shared/ranking.

Prints nDCG@10, P@10 and Recall@50 (mean over queries) for our ranker and for a
plain BM25 baseline computed in the same run, then what each reader is sent on
one-day listings (benchmarks/digests.py: precision, recall and F1 of the picks,
picks per digest, empty digests) beside BM25 with a tuned cut-off, and issue
#18's targets. The data is read in place, never copied; without it the script
says so and exits with 2. With the semantic extras installed it adds a row per
backend (WordLlama, MiniLM; ``--quick`` skips MiniLM), and times 10,000 reader
profiles against 1,000 of the papers with their vectors already embedded (as
from the store). Usage:
python benchmarks/ranking.py [--shared PATH] [--readers N] [--no-semantic] [--quick] [--store FILE]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # these helpers, and this checkout's digest before an installed one

import digests  # noqa: E402
from devset import (  # noqa: E402
    ABSENT, SHARED, DevSet, bm25_baseline, embedders, load, make_index, measured, our_runs, papers, reader_profile,
    use_rules,
)
from setquality import ndcg  # noqa: E402

from digest.ranking.index import Index  # noqa: E402
from digest.ranking.select import Selection  # noqa: E402
from digest.ranking.many import rank_many  # noqa: E402


def metrics(ranked: list[str], rel: set[str]) -> dict[str, float]:
    return {
        "ndcg@10": ndcg(ranked, rel),
        "p@10": sum(d in rel for d in ranked[:10]) / 10,
        "recall@50": sum(d in rel for d in ranked[:50]) / len(rel),
    }


def semantic_rows(devset: DevSet, backends: list[tuple[str, Any]], readers: int,
                  shared: Path) -> list[tuple[str, list[list[str]]]]:
    """A row per installed backend, each timing ``readers`` profiles once the papers are embedded."""
    rows = []
    for name, embedder in backends:
        runs, index_s, query_s = our_runs(devset.docs, devset.queries, embedder=embedder)
        print(f"{name}: embedded {embedder.embedded} papers in {index_s:.1f} s, queries {query_s:.2f} s")
        rows.append((f"digest + {name}", runs))
        if readers:
            many_readers(devset.docs, embedder, readers, shared)
    return rows


def many_readers(docs: list[dict[str, str]], embedder: object, readers: int, shared: Path) -> None:
    """``readers`` distinct profiles (benchmarks/throughput.py's) ranked with the papers' vectors cached."""
    from throughput import distinct_profiles, keyword_pool

    listing = papers(docs[:1000])
    profiles = [reader_profile(p) for p in distinct_profiles(keyword_pool(listing, shared), readers)]
    selection = [Selection(max_items=10, min_score=2.0)] * len(profiles)
    timings = {}
    for label, chosen in (("lexical", None), ("semantic", embedder)):
        started = time.perf_counter()
        index = make_index(listing, embedder=chosen)
        indexed = time.perf_counter()
        index.embed_keywords(profiles)
        embedded = time.perf_counter()
        rank_many(index, profiles, selections=selection)
        timings[label] = (indexed - started, embedded - indexed, time.perf_counter() - embedded)
    distinct = len({" ".join(k.words) for p in profiles for k in p.wanted})
    print(f"{readers} readers ({distinct} distinct keywords) x 1,000 papers, paper vectors cached: "
          + ", ".join(f"{k}: index {a:.2f} s + embed keywords {b:.2f} s + rank {c:.2f} s"
                      for k, (a, b, c) in timings.items()))


def print_table(devset: DevSet, runs: list[tuple[str, list[list[str]]]]) -> dict[str, float]:
    """The nDCG@10, P@10 and R@50 table; returns each ranker's nDCG@10."""
    print(f"{'ranker':<24} {'nDCG@10':>8} {'P@10':>7} {'R@50':>7}")
    means = {}
    for name, ranked in runs:
        rows = [metrics(r, rel) for r, rel in zip(ranked, devset.relevant)]
        mean = {k: sum(r[k] for r in rows) / len(rows) for k in rows[0]}
        print(f"{name:<24} {mean['ndcg@10']:>8.3f} {mean['p@10']:>7.3f} {mean['recall@50']:>7.3f}")
        means[name] = mean["ndcg@10"]
    return means


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--rules", default="all", help="word rules to apply: all, none, or names (spelling,passing,shares)")
    parser.add_argument("--readers", type=int, default=10_000, help="profiles to time with cached vectors (0: skip)")
    parser.add_argument("--no-semantic", action="store_true", help="only the lexical rows")
    parser.add_argument("--quick", action="store_true", help="no MiniLM row (about a minute to embed the papers)")
    parser.add_argument("--store", type=Path, help="keep the papers' vectors in this state database (re-runs embed nothing)")
    args = parser.parse_args()
    use_rules(args.rules)
    devset = load(args.shared)
    if devset is None:
        return ABSENT
    print(f"measuring the digest package at {measured()}")
    docs, queries = devset.docs, devset.queries
    base = bm25_baseline(docs, queries)
    ours, index_s, query_s = our_runs(docs, queries)
    with_feedback, _, _ = our_runs(docs, queries, feedback=True)
    runs = [("bm25 baseline", base), ("digest", ours), ("digest + feedback (off)", with_feedback)]
    print(f"{len(docs)} documents, {len(queries)} queries; digest index {index_s:.2f} s, queries {query_s:.2f} s")
    backends = [] if args.no_semantic else list(embedders(skip=("minilm",) if args.quick else (), store=args.store))
    runs += semantic_rows(devset, backends, args.readers, args.shared)
    means = print_table(devset, runs)
    digests.report(devset, [("", None), *backends], ndcgs=means)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
