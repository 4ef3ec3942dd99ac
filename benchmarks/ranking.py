"""Ranking quality on the labelled development set in ../shared/ranking.

Prints nDCG@10, P@10 and Recall@50 (mean over queries) for our ranker and for a
plain BM25 baseline computed in the same run. The data is read in place, never
copied. With the semantic extras installed it adds a row per backend (WordLlama,
MiniLM), and times 10,000 reader profiles against 1,000 of the papers with their
vectors already embedded (as from the store). Usage:
python benchmarks/ranking.py [--shared PATH] [--readers N] [--no-semantic] [--store FILE]
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
from digest.rank import Index, Selection, rank, rank_many


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
             embedder: object = None) -> tuple[list[list[str]], float, float]:
    started = time.perf_counter()
    papers = [make_paper(d["title"], d["abstract"], id=d["id"]) for d in docs]
    index = Index(papers, feedback=feedback, embedder=embedder)
    indexed = time.perf_counter()
    everything = Selection(max_items=None, min_score=0.0)
    profiles = [parse_profile([q]) for q in queries]
    index.embed_keywords(profiles)  # one batch, as rank_many does for many readers
    runs = [[p.paper.id for p in rank(index, profile, selection=everything)][:50] for profile in profiles]
    return runs, indexed - started, time.perf_counter() - indexed


class _Memory:
    """A store for ``CachedEmbedder`` held in memory: embed the labelled set once per run."""

    def __init__(self) -> None:
        self.vectors: dict[tuple[str, str], bytes] = {}

    def __enter__(self) -> "_Memory":
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def embeddings(self, model: str, ids: list[str]) -> dict[str, bytes]:
        return {i: self.vectors[(model, i)] for i in ids if (model, i) in self.vectors}

    def save_embeddings(self, model: str, vectors: dict[str, bytes]) -> None:
        self.vectors.update({(model, i): v for i, v in vectors.items()})


def semantic_rows(docs: list[dict], queries: list[str], readers: int,
                  store: Path | None) -> list[tuple[str, list[list[str]]]]:
    """A row per installed backend, each timing ``readers`` profiles once the papers are embedded.

    ``store``: keep the vectors in that state database (outside the project), so a
    second run embeds nothing.
    """
    from digest import semantic
    from digest.store import Store

    rows = []
    memory = _Memory()
    opener = (lambda: Store.open(store)) if store else (lambda: memory)
    for name, installed, make in (("wordllama", semantic.wordllama_available(), semantic.WordLlama),
                                  ("minilm", semantic.minilm_available(), semantic.MiniLM)):
        if not installed:
            print(f"({name} is not installed: no {name} row)")
            continue
        embedder = semantic.CachedEmbedder(make(), opener)
        runs, index_s, query_s = our_runs(docs, queries, embedder=embedder)
        print(f"{name}: embedded {embedder.embedded} papers in {index_s:.1f} s, queries {query_s:.2f} s")
        rows.append((f"digest + {name}", runs))
        if readers:
            many_readers(docs, embedder, readers)
    return rows


def many_readers(docs: list[dict], embedder: object, readers: int) -> None:
    """``readers`` distinct profiles (benchmarks/throughput.py's) ranked with the papers' vectors cached."""
    sys.path.insert(0, str(Path(__file__).parent))
    from throughput import distinct_profiles, keyword_pool

    papers = [make_paper(d["title"], d["abstract"], id=d["id"]) for d in docs[:1000]]
    profiles = [parse_profile(", ".join(p)) for p in distinct_profiles(keyword_pool(papers, SHARED), readers)]
    selection = [Selection(max_items=10, min_score=2.0)] * len(profiles)
    timings = {}
    for label, chosen in (("lexical", None), ("semantic", embedder)):
        started = time.perf_counter()
        index = Index(papers, embedder=chosen)
        indexed = time.perf_counter()
        index.embed_keywords(profiles)
        embedded = time.perf_counter()
        rank_many(index, profiles, selections=selection)
        timings[label] = (indexed - started, embedded - indexed, time.perf_counter() - embedded)
    distinct = len({" ".join(k.words) for p in profiles for k in p.wanted})
    print(f"{readers} readers ({distinct} distinct keywords) x 1,000 papers, paper vectors cached: "
          + ", ".join(f"{k}: index {a:.2f} s + embed keywords {b:.2f} s + rank {c:.2f} s"
                      for k, (a, b, c) in timings.items()))


SHARED = Path(__file__).resolve().parents[2] / "shared"


def main() -> int:
    global SHARED
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--readers", type=int, default=10_000, help="profiles to time with cached vectors (0: skip)")
    parser.add_argument("--no-semantic", action="store_true", help="only the lexical rows")
    parser.add_argument("--store", type=Path, help="keep the papers' vectors in this state database (re-runs embed nothing)")
    args = parser.parse_args()
    SHARED = args.shared
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
    print(f"{len(docs)} documents, {len(queries)} queries; digest index {index_s:.2f} s, queries {query_s:.2f} s")
    if not args.no_semantic:
        runs += semantic_rows(docs, queries, args.readers, args.store)
    print(f"{'ranker':<24} {'nDCG@10':>8} {'P@10':>7} {'R@50':>7}")
    for name, ranked in runs:
        rows = [metrics(r, set(q["relevant_ids"])) for r, q in zip(ranked, qrels)]
        mean = {k: sum(r[k] for r in rows) / len(rows) for k in rows[0]}
        print(f"{name:<24} {mean['ndcg@10']:>8.3f} {mean['p@10']:>7.3f} {mean['recall@50']:>7.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
