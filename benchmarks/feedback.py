"""What votes and a library add to the keyword ranking, on the labelled set in ../shared/ranking.

The 2,000 documents are split at random (fixed seed) into an "earlier" and a
"later" half. For each query (one keyword), a simulated reader saw their top 10
of the earlier half and voted up the relevant ones and down the others; another
keeps a library of 5 relevant earlier papers. The later half is then ranked for
keywords alone, keywords + votes and keywords + library, and scored with nDCG@10
beside plain BM25 on the same half in the same run. Queries with no relevant
paper in the later half are left out. The data is read in place, never copied.

With ``--speed``, it times instead 10,000 readers (benchmarks/throughput.py's
profiles, 1,000 papers) ranked with and without votes: 4 liked and 2 disliked
papers each, drawn from 2,000 earlier papers, as readers of one list vote on the
papers they were sent.

Usage: python benchmarks/feedback.py [--shared PATH] [--seed N] [--speed [--readers N]]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ranking import bm25_baseline, ndcg  # noqa: E402

from digest.keywords import parse_profile  # noqa: E402
from digest.learn import Example, Examples  # noqa: E402
from digest.model import Paper, make_paper  # noqa: E402
from digest.rank import Index, Selection, rank  # noqa: E402

EVERYTHING = Selection(max_items=None, min_score=0.0)
LIBRARY_SIZE = 5
SEEN = 10


def as_example(paper: Paper, source: str) -> Example:
    return Example(paper.id, paper.title, paper.abstract, source)  # type: ignore[arg-type]


def reader_examples(earlier: Index, query: str, relevant: set[str], rng: random.Random) -> tuple[Examples, Examples]:
    """The votes a reader of the earlier half would give, and a library of relevant earlier papers."""
    seen = rank(earlier, parse_profile([query]), selection=Selection(max_items=SEEN, min_score=0.0))
    votes = Examples(
        liked=tuple(as_example(p.paper, "vote") for p in seen if p.paper.id in relevant),
        disliked=tuple(as_example(p.paper, "vote") for p in seen if p.paper.id not in relevant),
    )
    pool = sorted((p for p in earlier.papers if p.id in relevant), key=lambda p: p.id)
    chosen = rng.sample(pool, min(LIBRARY_SIZE, len(pool)))
    return votes, Examples(liked=tuple(as_example(p, "library") for p in chosen))


def run(docs: list[dict], qrels: list[dict], seed: int) -> dict[str, list[float]]:
    rng = random.Random(seed)
    order = docs[:]
    rng.shuffle(order)
    half = len(order) // 2
    earlier_docs, later_docs = order[:half], order[half:]
    earlier = Index([make_paper(d["title"], d["abstract"], id=d["id"]) for d in earlier_docs])
    later = Index([make_paper(d["title"], d["abstract"], id=d["id"]) for d in later_docs])
    later_ids = {d["id"] for d in later_docs}
    kept = [q for q in qrels if later_ids & set(q["relevant_ids"])]
    bm25 = bm25_baseline(later_docs, [q["query"] for q in kept])
    scores: dict[str, list[float]] = {"bm25": [], "keywords": [], "votes": [], "library": []}
    for q, base in zip(kept, bm25):
        relevant = set(q["relevant_ids"])
        later_relevant = relevant & later_ids
        votes, library = reader_examples(earlier, q["query"], relevant, rng)
        profile = parse_profile([q["query"]])
        scores["bm25"].append(ndcg(base, later_relevant))
        for name, examples in (("keywords", None), ("votes", votes), ("library", library)):
            picks = rank(later, profile, selection=EVERYTHING, examples=examples)
            scores[name].append(ndcg([p.paper.id for p in picks], later_relevant))
    return scores


def report(scores: dict[str, list[float]], seconds: float) -> None:
    count = len(scores["keywords"])
    mean = {name: sum(values) / count for name, values in scores.items()}
    print(f"{count} queries with relevant papers in the later half; {seconds:.1f} s")
    print(f"{'ranker (later half)':<22} {'nDCG@10':>8} {'vs keywords':>12} {'bm25':>7} {'worst query':>12} {'worse >0.1':>11}")
    for name in ("keywords", "votes", "library"):
        deltas = [a - b for a, b in zip(scores[name], scores["keywords"])]
        label = {"keywords": "keywords alone", "votes": "keywords + votes", "library": "keywords + library"}[name]
        print(f"{label:<22} {mean[name]:>8.3f} {mean[name] - mean['keywords']:>+12.3f} {mean['bm25']:>7.3f}"
              f" {min(deltas):>+12.3f} {sum(d < -0.1 for d in deltas):>11}")


def speed(shared: Path, readers: int) -> None:
    from throughput import distinct_profiles, keyword_pool, load_papers

    from digest.rank import rank_many

    papers, _ = load_papers(1000, shared)
    earlier, _ = load_papers(3000, shared)
    earlier = [p for p in earlier if p.id not in {q.id for q in papers}] or papers
    profiles = [parse_profile(", ".join(p)) for p in distinct_profiles(keyword_pool(papers, shared), readers)]
    rng = random.Random(5)
    examples = [Examples(tuple(as_example(p, "vote") for p in rng.sample(earlier, 4)),
                         tuple(as_example(p, "vote") for p in rng.sample(earlier, 2))) for _ in profiles]
    selection = [Selection(max_items=10, min_score=2.0)] * len(profiles)
    for label, given in (("keywords only", None), ("with votes", examples)):
        started = time.perf_counter()
        picks = rank_many(Index(papers), profiles, selections=selection, examples=given)
        lifted = sum(1 for r in picks for p in r if p.because)
        print(f"{label:<14} {len(profiles)} readers x {len(papers)} papers: {time.perf_counter() - started:.2f} s"
              f" (index included); {lifted} picks lifted by the model")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--speed", action="store_true")
    parser.add_argument("--readers", type=int, default=10_000)
    args = parser.parse_args()
    if args.speed:
        speed(args.shared, args.readers)
        return 0
    folder = args.shared / "ranking"
    if not (folder / "docs.jsonl").exists():
        print(f"no ranking data at {folder}", file=sys.stderr)
        return 1
    docs = [json.loads(line) for line in (folder / "docs.jsonl").open(encoding="utf-8")]
    qrels = [json.loads(line) for line in (folder / "qrels.jsonl").open(encoding="utf-8")]
    started = time.perf_counter()
    scores = run(docs, qrels, args.seed)
    report(scores, time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
