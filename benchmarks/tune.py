"""Choose the lexical score's constants by cross-validation over the development set's queries.

The constants (``digest.ranking.weights.Weights``: BM25's ``k1`` and ``b``, the
title's weight, and the phrase, surface-form and proximity scores) are tried
over a grid; each query's nDCG@10 is worked out once per grid point, on one index
of the 2,000 papers tokenised once (``Index.reweighted``). Then, for each of
``--folds`` folds of the queries (shuffled with ``--seed``), the grid point with
the best mean on the other folds is evaluated on the held-out one: the mean of
those held-out figures is what the choice is worth on queries it never saw, to
compare with the current constants' figure on the same folds. Never tuned to a
single query: a fold holds 50 of them. The data is read in place, never copied;
without it the script says so and exits with 2.

Measured (5 folds, seed 18; k1 1.0/1.2/1.4, b 0.75, title 2/2.5/3, phrase
0.25-1, surface 1-3, proximity 0.25-1: 432 points, given as ``--values k1=1.0,1.2,1.4
--values b=0.75 --values title=2,2.5,3 --values phrase=0.25,0.5,0.75,1 --values
surface=1,2,3 --values proximity=0.25,0.5,0.75,1``): held-out nDCG@10 0.5013,
the current constants 0.5013 on the same folds (in-sample best 0.5035); b 0.6
and 0.9, k1 1.6 and title 4 were each worse on all queries. The default grid
(``GRID``, 729 points) chooses points that score 0.5001 held out against 0.5013
(measured again 2026-12-07). The constants sit on a plateau: none was changed.

Usage: python benchmarks/tune.py [--shared PATH] [--folds 5] [--seed 18] [--quick]
  [--fix name=value ...]        hold a constant, e.g. --fix surface=2.0
  [--values name=v1,v2,... ...] another grid for a constant, e.g. --values k1=1.0,1.2,1.4
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import time
from collections import Counter
from dataclasses import asdict, fields, replace
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # these helpers, and this checkout's digest before an installed one

from devset import ABSENT, EVERYTHING, SHARED, DevSet, load, make_index, measured, papers, reader_profile  # noqa: E402
from setquality import ndcg  # noqa: E402

from digest.ranking.index import Index  # noqa: E402
from digest.ranking.select import rank  # noqa: E402
from digest.ranking.weights import Weights  # noqa: E402

GRID = {
    "k1": (0.9, 1.2, 1.6),
    "b": (0.6, 0.75, 0.9),
    "title": (1.5, 2.5, 4.0),
    "phrase": (0.25, 0.5, 1.0),
    "surface": (1.0, 2.0, 3.0),
    "proximity": (0.25, 0.5, 1.0),
}
QUICK = {"k1": (1.2, 1.6), "b": (0.75, 0.9), "title": (2.5, 4.0), "phrase": (0.5,), "surface": (2.0,),
         "proximity": (0.5,)}


def grid_points(grid: dict[str, tuple[float, ...]], fixed: dict[str, float]) -> list[Weights]:
    """Every combination of the grid's values, the ``fixed`` names held; the current constants first."""
    axes = {name: (fixed[name],) if name in fixed else values for name, values in grid.items()}
    points = [Weights(**dict(zip(axes, combo))) for combo in itertools.product(*axes.values())]
    current = Weights()
    return [current] + [p for p in points if p != current]


def per_query(index: Index, devset: DevSet, weights: Weights) -> np.ndarray:
    """Each query's nDCG@10 with these weights."""
    scored = index.reweighted(weights)
    out = np.zeros(len(devset.queries))
    for n, (query, relevant) in enumerate(zip(devset.queries, devset.relevant)):
        picks = rank(scored, reader_profile(query), selection=EVERYTHING)
        out[n] = ndcg([p.paper.id for p in picks[:10]], relevant)
    return out


def folds(count: int, k: int, seed: int) -> list[np.ndarray]:
    order = list(range(count))
    random.Random(seed).shuffle(order)
    return [np.array(sorted(order[f::k])) for f in range(k)]


def cross_validate(table: np.ndarray, parts: list[np.ndarray]) -> list[tuple[int, float, float]]:
    """Per fold: (the grid point best on the other folds, its held-out nDCG@10, the current constants')."""
    out = []
    everyone = np.arange(table.shape[1])
    for held in parts:
        train = np.setdiff1d(everyone, held)
        best = int(np.argmax(table[:, train].mean(axis=1)))
        out.append((best, float(table[best, held].mean()), float(table[0, held].mean())))
    return out


def describe(weights: Weights) -> str:
    return " ".join(f"{k}={v:g}" for k, v in asdict(weights).items())


def report(points: list[Weights], table: np.ndarray, parts: list[np.ndarray]) -> None:
    means = table.mean(axis=1)
    print("\nbest grid points on all queries (in-sample, for orientation only):")
    for n in np.argsort(-means)[:8]:
        print(f"  {means[n]:.4f}  {describe(points[n])}")
    print(f"  {means[0]:.4f}  {describe(points[0])}  (current)")
    print("\n| fold | chosen on the other folds | held-out nDCG@10 | current constants | difference |")
    print("| --- | --- | --- | --- | --- |")
    results = cross_validate(table, parts)
    for f, (best, held, current) in enumerate(results, 1):
        print(f"| {f} | {describe(points[best])} | {held:.4f} | {current:.4f} | {held - current:+.4f} |")
    held = np.mean([r[1] for r in results])
    current = np.mean([r[2] for r in results])
    print(f"| mean | | {held:.4f} | {current:.4f} | {held - current:+.4f} |")
    chosen = Counter(best for best, _, _ in results)
    print("\nchosen per axis, over the folds: " + "; ".join(
        f"{f.name} " + ",".join(f"{getattr(points[b], f.name):g}" for b, _, _ in results) for f in fields(Weights)))
    print(f"most often chosen: {describe(points[chosen.most_common(1)[0][0]])}")


def parse_values(specs: list[str], option: str) -> dict[str, tuple[float, ...]]:
    """``name=v1,v2`` options as {name: values}; a wrong name or value stops the script with one line."""
    names = {f.name for f in fields(Weights)}
    found = {}
    for spec in specs:
        name, _, values = spec.partition("=")
        if name not in names:
            raise SystemExit(f"{option} {spec}: the names are {', '.join(sorted(names))}")
        try:
            found[name] = tuple(float(v) for v in values.split(","))
        except ValueError:
            raise SystemExit(f"{option} {spec}: the values must be numbers") from None
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--quick", action="store_true", help="a small grid (8 points)")
    parser.add_argument("--fix", action="append", default=[], help="hold a constant: name=value")
    parser.add_argument("--values", action="append", default=[], help="a constant's grid: name=v1,v2,...")
    args = parser.parse_args()
    fixed = {name: values[0] for name, values in parse_values(args.fix, "--fix").items()}
    grid = {**(QUICK if args.quick else GRID), **parse_values(args.values, "--values")}
    devset = load(args.shared)
    if devset is None:
        return ABSENT
    print(f"measuring the digest package at {measured()}")
    points = grid_points(grid, fixed)
    started = time.perf_counter()
    index = make_index(papers(devset.docs))
    table = np.zeros((len(points), len(devset.queries)))
    for n, weights in enumerate(points):
        table[n] = per_query(index, devset, weights)
        if n % 50 == 49:
            print(f"  {n + 1}/{len(points)} grid points, {time.perf_counter() - started:.0f} s", flush=True)
    print(f"{len(points)} grid points x {len(devset.queries)} queries in {time.perf_counter() - started:.0f} s;"
          f" {args.folds} folds (seed {args.seed})")
    report(points, table, folds(len(devset.queries), args.folds, args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
