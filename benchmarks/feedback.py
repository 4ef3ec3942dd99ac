"""What votes and a library add to the keyword ranking, on the labelled set in ../shared/ranking.

The 2,000 documents are split at random into an "earlier" and a "later" half,
five times (seeds ``--seed`` to ``--seed`` + 4, printed). For each query (one
keyword), a simulated reader saw their top 10 of the earlier half and voted up
the relevant ones and down the others; another keeps a library of 5 relevant earlier papers. The later half is then ranked for
keywords alone, keywords + votes and keywords + library, and scored with nDCG@10
beside plain BM25 on the same half in the same run. Queries with no relevant
paper in the later half are left out. For each split it prints the gain over
keywords alone and the worst query's change, then the mean gain and whether
issue #18's targets hold: votes at least +0.03 and a library +0.05 in the mean,
each at least +0.02 in every split, and no query worse by more than 0.1 in any
split. The data is read in place, never copied; without it the script says so
and exits with 2.

With ``--speed``, it times instead 10,000 readers (benchmarks/throughput.py's
profiles, 1,000 papers) ranked with and without votes: 4 liked and 2 disliked
papers each, drawn from 2,000 earlier papers, as readers of one list vote on the
papers they were sent.

With ``--semantic minilm``, the later half is also indexed with MiniLM's paper
vectors, so the reader's model measures likeness between vectors instead of
TF-IDF, for the same simulated readers' examples, in the same run, twice: with
DIGEST_SEMANTIC's keyword bonus on (as a run with meaning on ranks: gains over
keywords with meaning), and with that bonus zeroed (the keyword scores are the
lexical ones: the vector model against the TF-IDF model, nothing else changed). With
meaning on, the readers' votes are measured twice: "votes", on the same top 10 as
above (the earlier half ranked on words: what the rows before compare), and "votes
seen", on the top 10 a DIGEST_SEMANTIC reader was shown, the earlier half ranked
with meaning on (what such a reader votes on). ``--store
PATH`` keeps the vectors in that state database (outside the project), so a
re-run embeds nothing.

Usage: python benchmarks/feedback.py [--shared PATH] [--seed N] [--splits N] [--semantic minilm [--store PATH]]
                                     [--speed [--readers N]]
"""

from __future__ import annotations

import argparse
import copy
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # these helpers, and this checkout's digest before an installed one

from devset import (  # noqa: E402
    ABSENT, EVERYTHING, SHARED, DevSet, bm25_baseline, embedders, load, measured, papers, reader_profile,
)
from setquality import ndcg  # noqa: E402

from digest.ranking.reader import Example, Examples, embed_examples  # noqa: E402
from digest.model import Paper  # noqa: E402
from digest.semantic import Bonus  # noqa: E402
from digest.ranking.index import Index  # noqa: E402
from digest.ranking.profile import Profile  # noqa: E402
from digest.ranking.select import Selection, rank  # noqa: E402

LIBRARY_SIZE = 5
SEEN = 10
SPLITS = 5
SEED = 20261123
MEAN_GAIN = {"votes": 0.03, "library": 0.05}  # issue #18's targets, nDCG@10 over keywords alone
SPLIT_GAIN = 0.02  # in every split
WORST_DROP = 0.1  # no query loses more, in any split


def votes_parser(doc: str | None) -> argparse.ArgumentParser:
    """The options of the scripts that cross-validate on these simulated readers: ``--shared``, ``--store``,
    ``--seed`` (the first split's), ``--folds``, ``--fold-seed`` (the folds' shuffle) and ``--fewest-hurt``."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n")[0])
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--store", type=Path, help="the paper vectors' state database (a re-run embeds nothing)")
    parser.add_argument("--seed", type=int, default=SEED, help="the first split's seed; the others follow it")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--fold-seed", type=int, default=18)
    parser.add_argument("--fewest-hurt", action="store_true",
                        help="choose, among those gaining at least the current one on the other folds,"
                             " what hurts the fewest (query, split) pairs")
    return parser


def as_example(paper: Paper, source: str) -> Example:
    return Example(paper.id, paper.title, paper.abstract, source)  # type: ignore[arg-type]


def seen_votes(earlier: Index, query: str, relevant: set[str]) -> Examples:
    """The votes a reader of the earlier half gives on the top 10 they were shown (ranked by ``earlier``)."""
    seen = rank(earlier, reader_profile(query), selection=Selection(max_items=SEEN, min_score=0.0))
    return Examples(
        liked=tuple(as_example(p.paper, "vote") for p in seen if p.paper.id in relevant),
        disliked=tuple(as_example(p.paper, "vote") for p in seen if p.paper.id not in relevant),
    )


def reader_examples(earlier: Index, query: str, relevant: set[str], rng: random.Random) -> tuple[Examples, Examples]:
    """The votes a reader of the earlier half would give, and a library of relevant earlier papers."""
    votes = seen_votes(earlier, query, relevant)
    pool = sorted((p for p in earlier.papers if p.id in relevant), key=lambda p: p.id)
    chosen = rng.sample(pool, min(LIBRARY_SIZE, len(pool)))
    return votes, Examples(liked=tuple(as_example(p, "library") for p in chosen))


@dataclass
class Halves:
    """One random split of the set: readers vote on the earlier half and are ranked on the later one."""

    rng: random.Random  # the split's generator, which then draws the simulated readers' votes
    earlier_docs: list[dict]
    later_docs: list[dict]
    later_ids: set[str]
    kept: list[dict]  # the queries with a relevant paper in the later half


def halves(devset: DevSet, seed: int) -> Halves:
    rng = random.Random(seed)
    order = devset.docs[:]
    rng.shuffle(order)
    half = len(order) // 2
    later_ids = {d["id"] for d in order[half:]}
    kept = [q for q in devset.qrels if later_ids & set(q["relevant_ids"])]
    return Halves(rng, order[:half], order[half:], later_ids, kept)


def indexed(docs: list[dict], embedder: Any, profiles: list[Profile]) -> Index:
    """A half indexed with ``embedder`` (None: words only), these readers' keywords embedded."""
    index = Index(papers(docs), embedder=embedder)
    if embedder is not None:
        index.embed_keywords(profiles)
    return index


def run(devset: DevSet, seed: int, embedder: object = None) -> dict[str, list[float]]:
    """Per query, nDCG@10 on the later half for BM25, keywords alone, + votes and + library.

    With ``embedder``, also keywords with meaning on and the vector model's + votes and + library.
    """
    split = halves(devset, seed)
    rng, later_docs, later_ids, kept = split.rng, split.later_docs, split.later_ids, split.kept
    earlier, later = Index(papers(split.earlier_docs)), Index(papers(later_docs))
    bm25 = bm25_baseline(later_docs, [q["query"] for q in kept])
    scores: dict[str, list[float]] = {"bm25": [], "keywords": [], "votes": [], "library": []}
    profiles = [reader_profile(q["query"]) for q in kept]
    variants = {label: indexed(later_docs, e, profiles) for label, e in vector_variants(embedder).items()}
    for label in variants:
        scores.update({f"{name} ({label})": [] for name in rankings(label)})
    # the earlier half as a DIGEST_SEMANTIC reader was shown it: ranked with meaning on
    shown = indexed(split.earlier_docs, embedder, profiles) if MEANING in variants else None
    for q, base in zip(kept, bm25):
        relevant = set(q["relevant_ids"])
        later_relevant = relevant & later_ids
        votes, library = reader_examples(earlier, q["query"], relevant, rng)
        profile = reader_profile(q["query"])
        scores["bm25"].append(ndcg(base, later_relevant))
        for name, examples in (("keywords", None), ("votes", votes), ("library", library)):
            picks = rank(later, profile, selection=EVERYTHING, examples=examples)
            scores[name].append(ndcg([p.paper.id for p in picks], later_relevant))
        for label, index in variants.items():
            learned = [("keywords", None), ("votes", votes), ("library", library)]
            if label == MEANING and shown is not None:
                learned.insert(1, ("votes seen", seen_votes(shown, q["query"], relevant)))
            embed_examples(index, [examples for _, examples in learned])
            for name, examples in learned:
                picks = rank(index, profile, selection=EVERYTHING, examples=examples)
                scores[f"{name} ({label})"].append(ndcg([p.paper.id for p in picks], later_relevant))
    return scores


MEANING = "vectors, meaning on"
LEXICAL = "vectors, lexical keywords"


def rankings(label: str) -> tuple[str, ...]:
    """The rankings measured for a vector variant: with meaning on, also votes on the meaning-on top 10."""
    return ("keywords", "votes seen", "votes", "library") if label == MEANING else ("keywords", "votes", "library")


def vector_variants(embedder: Any) -> dict[str, Any]:
    """With an embedder: itself (meaning adds to keyword scores), and a copy whose keyword bonus is zero."""
    if embedder is None:
        return {}
    lexical = copy.copy(embedder)
    lexical.bonus = Bonus(0.0, 1.0, 0.0)
    return {MEANING: embedder, LEXICAL: lexical}


@dataclass(frozen=True)
class Split:
    """One random split: mean nDCG@10 per ranker, and per learner its gain and worst query."""

    seed: int
    queries: int
    mean: dict[str, float]
    worst: dict[str, float]  # the largest loss of one query against keywords alone (negative)
    dropped: dict[str, int]  # queries worse by more than WORST_DROP

    def gain(self, name: str) -> float:
        return self.mean[name] - self.mean[base(name)]


def base(name: str) -> str:
    """The keyword ranking a model's gain is over: "votes (x)" is over "keywords (x)"."""
    return "keywords" + name[name.index(" ("):] if " (" in name else "keywords"


def measure(scores: dict[str, list[float]], seed: int) -> Split:
    count = len(scores["keywords"])
    names = [name for name in scores if name.split(" ")[0] in MEAN_GAIN]
    deltas = {name: [a - b for a, b in zip(scores[name], scores[base(name)])] for name in names}
    return Split(seed, count, {name: sum(values) / count for name, values in scores.items()},
                 {name: min(d) for name, d in deltas.items()},
                 {name: sum(x < -WORST_DROP for x in d) for name, d in deltas.items()})


def report(splits: list[Split], learners: tuple[str, ...] = ("votes", "library")) -> None:
    """The table for one model: its gains over its keyword ranking (keywords alone, or with meaning)."""
    keywords = base(learners[0])
    short = [name.split(" (")[0] for name in learners]  # the section's title names the model
    print("| seed | queries | BM25 | keywords | " + " | ".join(f"+ {name}" for name in short)
          + " | " + " | ".join(f"worst query, {name}" for name in short)
          + f" | worse by >{WORST_DROP} ({' / '.join(short)}) |")
    print("| --- " * (4 + 2 * len(learners) + 1) + "|")
    for s in splits:
        print(f"| {s.seed} | {s.queries} | {s.mean['bm25']:.3f} | {s.mean[keywords]:.3f} | "
              + " | ".join(f"{s.gain(name):+.3f}" for name in learners) + " | "
              + " | ".join(f"{s.worst[name]:+.3f}" for name in learners)
              + f" | {' / '.join(str(s.dropped[name]) for name in learners)} |")
    print(f"| mean | | {sum(s.mean['bm25'] for s in splits) / len(splits):.3f}"
          f" | {sum(s.mean[keywords] for s in splits) / len(splits):.3f} | "
          + " | ".join(f"{sum(s.gain(name) for s in splits) / len(splits):+.3f}" for name in learners)
          + " |" * (len(learners) + 1))


def targets(splits: list[Split]) -> list[tuple[str, bool]]:
    """Issue #18's targets for votes and a library (and their vector rows, if measured), each with whether it holds."""
    checks = []
    for name in splits[0].worst:
        target = MEAN_GAIN[name.split(" ")[0]]
        gains = [s.gain(name) for s in splits]
        mean = sum(gains) / len(gains)
        worst, dropped = min(s.worst[name] for s in splits), sum(s.dropped[name] for s in splits)
        checks += [
            (f"{name}: mean gain ≥ +{target}: {mean:+.3f}", mean >= target),
            (f"{name}: every split ≥ +{SPLIT_GAIN}: lowest {min(gains):+.3f}", min(gains) >= SPLIT_GAIN),
            (f"{name}: no query worse by more than {WORST_DROP} in any split: worst {worst:+.3f},"
             f" {dropped} (query, split) pairs worse by more", dropped == 0),
        ]
    return checks


def speed(shared: Path, readers: int) -> None:
    from throughput import distinct_profiles, keyword_pool, load_papers

    from digest.ranking.many import rank_many

    papers, _ = load_papers(1000, shared)
    earlier, _ = load_papers(3000, shared)
    earlier = [p for p in earlier if p.id not in {q.id for q in papers}] or papers
    profiles = [reader_profile(p) for p in distinct_profiles(keyword_pool(papers, shared), readers)]
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
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--seed", type=int, default=SEED, help="the first split's seed; the others follow it")
    parser.add_argument("--splits", type=int, default=SPLITS)
    parser.add_argument("--semantic", choices=["minilm"], help="also the vector model, on MiniLM's paper vectors")
    parser.add_argument("--store", type=Path, help="keep the vectors in this state database (a re-run embeds nothing)")
    parser.add_argument("--speed", action="store_true")
    parser.add_argument("--readers", type=int, default=10_000)
    args = parser.parse_args()
    if args.speed:
        speed(args.shared, args.readers)
        return 0
    devset = load(args.shared)
    if devset is None:
        return ABSENT
    print(f"measuring the digest package at {measured()}")
    embedder = None
    if args.semantic:
        embedder = dict(embedders(skip=["wordllama"], store=args.store)).get(args.semantic)
        if embedder is None:
            print(f"--semantic {args.semantic}: its extra is not installed", file=sys.stderr)
            return 2
        embedder.embed_papers(papers(devset.docs))  # every paper once, in one batch (kept in the store)
    started = time.perf_counter()
    splits = [measure(run(devset, seed, embedder), seed) for seed in range(args.seed, args.seed + args.splits)]
    print(f"{args.splits} random splits of {len(devset.docs)} papers into earlier and later halves;"
          f" nDCG@10 on the later half; {time.perf_counter() - started:.0f} s")
    report(splits)
    for label in vector_variants(embedder):
        print(f"\nThe model on {args.semantic} {label}:")
        report(splits, tuple(f"{name} ({label})" for name in rankings(label)[1:]))
    print("\nTargets (issue #18, development set):")
    for text, holds in targets(splits):
        print(f"  {'✔' if holds else '✘'} {text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
