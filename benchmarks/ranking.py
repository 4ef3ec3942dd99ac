"""Ranking quality on the labelled development set in ../shared/ranking.

Prints nDCG@10, P@10 and Recall@50 (mean over queries) for our ranker and for a
plain BM25 baseline computed in the same run. The data is read in place, never
copied. Usage: python benchmarks/ranking.py [--shared PATH]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from collections import Counter
from pathlib import Path

from digest.keywords import parse_profile
from digest.model import make_paper
from digest.rank import Index, Selection, rank


def ndcg(ranked: list[str], rel: set[str], k: int = 10) -> float:
    dcg = sum(1 / math.log2(i + 2) for i, d in enumerate(ranked[:k]) if d in rel)
    idcg = sum(1 / math.log2(i + 2) for i in range(min(len(rel), k)))
    return dcg / idcg if idcg else 0.0


def metrics(ranked: list[str], rel: set[str]) -> dict[str, float]:
    return {
        "ndcg@10": ndcg(ranked, rel),
        "p@10": sum(d in rel for d in ranked[:10]) / 10,
        "recall@50": sum(d in rel for d in ranked[:50]) / len(rel),
    }


def bm25_baseline(docs: list[dict], queries: list[str]) -> list[list[str]]:
    """Okapi BM25 (k1=1.5, b=0.75) over lowercase \\w+ tokens, as rank_bm25 does."""
    tokens = [re.findall(r"\w+", f"{d['title']} {d['abstract']}".lower()) for d in docs]
    counts = [Counter(t) for t in tokens]
    avg = sum(map(len, tokens)) / len(tokens)
    df = Counter(w for c in counts for w in c)
    n = len(docs)
    runs = []
    for query in queries:
        scores = {}
        for i, c in enumerate(counts):
            s = 0.0
            for w in re.findall(r"\w+", query.lower()):
                if w in c:
                    idf = math.log((n - df[w] + 0.5) / (df[w] + 0.5) + 1)
                    s += idf * c[w] * 2.5 / (c[w] + 1.5 * (0.25 + 0.75 * len(tokens[i]) / avg))
            if s > 0:
                scores[docs[i]["id"]] = s
        runs.append(sorted(scores, key=scores.__getitem__, reverse=True))
    return runs


def our_runs(docs: list[dict], queries: list[str], feedback: bool = False,
             semantic: bool = False) -> tuple[list[list[str]], float, float]:
    started = time.perf_counter()
    papers = [make_paper(d["title"], d["abstract"], id=d["id"]) for d in docs]
    embedder = None
    if semantic:
        from digest.semantic import Embedder

        embedder = Embedder()
    index = Index(papers, feedback=feedback, embedder=embedder)
    indexed = time.perf_counter()
    everything = Selection(max_items=None, min_score=0.0)
    runs = [[p.paper.id for p in rank(index, parse_profile([q]), selection=everything)][:50] for q in queries]
    return runs, indexed - started, time.perf_counter() - indexed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    args = parser.parse_args()
    folder = args.shared / "ranking"
    if not (folder / "docs.jsonl").exists():
        print(f"no ranking data at {folder}", file=sys.stderr)
        return 1
    docs = [json.loads(line) for line in (folder / "docs.jsonl").open()]
    qrels = [json.loads(line) for line in (folder / "qrels.jsonl").open()]
    queries = [q["query"] for q in qrels]
    base = bm25_baseline(docs, queries)
    ours, index_s, query_s = our_runs(docs, queries)
    with_feedback, _, _ = our_runs(docs, queries, feedback=True)
    runs = [("bm25 baseline", base), ("digest", ours), ("digest + feedback (off)", with_feedback)]
    from digest.semantic import available

    if available():
        semantic, _, semantic_query_s = our_runs(docs, queries, semantic=True)
        runs.append(("digest + semantic (extra)", semantic))
    else:
        print("(digest[semantic] is not installed: no semantic row)")
    print(f"{len(docs)} documents, {len(queries)} queries; digest index {index_s:.2f} s, queries {query_s:.2f} s")
    print(f"{'ranker':<24} {'nDCG@10':>8} {'P@10':>7} {'R@50':>7}")
    for name, ranked in runs:
        rows = [metrics(r, set(q["relevant_ids"])) for r, q in zip(ranked, qrels)]
        mean = {k: sum(r[k] for r in rows) / len(rows) for k in rows[0]}
        print(f"{name:<24} {mean['ndcg@10']:>8.3f} {mean['p@10']:>7.3f} {mean['recall@50']:>7.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
