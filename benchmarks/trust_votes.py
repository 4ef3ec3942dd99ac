"""Does a reader's model hurt fewer readers when it is trusted only as far as it predicts their own votes?

Issue #18: votes should gain +0.03 nDCG@10 with no query worse by more than 0.1.
This script compares, on benchmarks/feedback.py's simulated readers (5 random
splits into earlier and later halves, seeds from ``--seed``; each one-keyword
reader votes on their top 10 of the earlier half, the later half is ranked),
principled changes to how far the model's lift goes, none of them fitted per query:

- ``current``: ``reader.model_for`` as it is.
- ``loo``: the lift scaled by how well the model predicts the reader's own votes:
  each up- and down-vote is scored by the model built from the others (leave one
  out), and the AUC of up-votes against down-votes (against the listing's papers
  when there is no down-vote) gives trust = max(0, 2 AUC - 1): none when the model
  cannot tell its reader's votes apart, full when it always can. ``loo-soft``:
  trust = AUC. Vectors only (the TF-IDF model does not compare examples with each
  other): lexically these rows are ``current``.
- ``shrink-K``: a prior toward the keyword ranking, the lift scaled by n / (n + K)
  for n liked examples.
- ``head-R``: only papers among the keyword ranking's top R are lifted (votes
  reorder the head, never pull in papers the keywords rank far down); penalties
  everywhere.

Down-votes' penalties are left as they are in every variant. Per variant it
prints, over all (query, split) pairs, the mean gain over keywords alone, every
split's gain and the pairs worse by more than 0.1; then, by 5-fold
cross-validation over queries (a query in all its splits stays in one fold; folds
seed 18), the variant chosen on the other folds (best mean gain, or with
``--fewest-hurt`` the fewest hurt pairs among those gaining at least ``current``)
and its held-out figures beside ``current``'s on the same queries.

Measured (seeds 20261123-27, folds seed 18; ``loo`` and ``loo-soft`` also with
like weights 3 and 4 on the trusted lift, ``loo-gate`` full lift when the AUC
beats chance, none otherwise; ``shrink`` K 0.5, 1, 3; ``head`` R 20, 50, 100):
nothing was adopted. In every fold ``current`` was chosen on the other four (by
mean gain, and with ``--fewest-hurt``: no variant gains as much on four folds), so
held out it is what it was: votes +0.0249 nDCG@10 with meaning on (splits +0.027
+0.024 +0.028 +0.027 +0.019), 25 (query, split) pairs worse by more than 0.1;
TF-IDF +0.0213 (+0.027 +0.016 +0.024 +0.021 +0.019), 25 pairs; library with
meaning on +0.0569, 32 pairs. Every variant that hurts fewer readers gains less;
none gains more. With meaning on, votes: ``loo`` +0.0140 with 8 pairs hurt,
``loo-soft`` +0.0205 with 16 (weight 3: +0.0223 with 20; 4: +0.0231 with 30),
``loo-gate`` +0.0147 with 16, ``shrink-0.5`` +0.0229 with 21, ``shrink-1``
+0.0211 with 17, ``shrink-3`` +0.0188 with 8, ``head-20`` +0.0221 with 24,
``head-50`` +0.0243 with 25 (``head-100`` is ``current``). The held-out agreement
does not pick out the readers a vote hurts any better than the number of votes:
``shrink-3`` hurts as few pairs as ``loo`` (8) for +0.005 more; nor does lifting
only the keyword head (the hurt pairs are reorderings within the top 20).
Lexically (TF-IDF) ``shrink-3`` +0.0148 with 11 pairs, ``head-20`` +0.0189 with
20. Library (meaning on): ``loo`` +0.0417 with 15, ``shrink-0.5`` +0.0548 with
23, ``shrink-3`` +0.0437 with 17. The commands: ``--store FILE`` (meaning on,
votes), ``--lexical``, ``--store FILE --library``; 25 s to 200 s each on a
shared 2-core machine.

Usage: python benchmarks/trust_votes.py [--shared PATH] [--store FILE] [--lexical] [--library]
                                        [--seed 20261123] [--fewest-hurt]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # these helpers, and this checkout's digest before an installed one

from devset import ABSENT, EVERYTHING, DevSet, embedders, load, measured, papers, reader_profile  # noqa: E402
from feedback import SPLITS, WORST_DROP, halves, indexed, reader_examples, seen_votes, votes_parser  # noqa: E402
from setquality import ndcg  # noqa: E402
from tune import folds  # noqa: E402
from tune_votes import choose  # noqa: E402

from digest.ranking import reader, select  # noqa: E402
from digest.ranking.index import Index  # noqa: E402
from digest.ranking.reader import Examples, ReaderModel, embed_examples, example_vectors  # noqa: E402

MODEL_FOR, ADJUSTED = select.model_for, select.adjusted


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(0.0, x)


def vector_scores(liked_cos: np.ndarray, disliked_cos: np.ndarray) -> np.ndarray:
    """The vector model's points from cosines to liked and disliked examples (rows: papers)."""
    lift = np.minimum(reader.LIFT_CAP, reader.VECTOR_LIKE_WEIGHT
                      * relu(liked_cos - reader.VECTOR_LIKE_FLOOR).sum(axis=1))
    if disliked_cos.shape[1] == 0:
        return lift
    closest = disliked_cos.max(axis=1)
    return lift - np.minimum(reader.VECTOR_PENALTY_CAP,
                             reader.VECTOR_DISLIKE_WEIGHT * relu(closest - reader.VECTOR_DISLIKE_FLOOR))


def auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """How often a positive outscores a negative (ties half)."""
    if not len(positive) or not len(negative):
        return 0.5
    diff = positive[:, None] - negative[None, :]
    return float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)


def held_out_agreement(index: Index, examples: Examples, model: ReaderModel) -> float:
    """The AUC of the reader's up-votes against their down-votes (else the listing), each scored without itself."""
    liked = np.stack(example_vectors(index, examples.liked))
    disliked = (np.stack(example_vectors(index, examples.disliked)) if examples.disliked
                else np.zeros((0, liked.shape[1])))
    ll, ld, dd = liked @ liked.T, liked @ disliked.T, disliked @ disliked.T
    np.fill_diagonal(ll, -np.inf)
    np.fill_diagonal(dd, -np.inf)
    liked_scores = vector_scores(ll, ld)
    if len(disliked):
        return auc(liked_scores, vector_scores(ld.T, dd))
    listing = np.zeros(len(index.papers))
    listing[list(model.adjust)] = list(model.adjust.values())
    return auc(liked_scores, listing)


def scaled(model: ReaderModel, factor: float) -> ReaderModel:
    """The model with its lifts (not its penalties) multiplied by ``factor``."""
    adjust = {i: (p * factor if p > 0 else p) for i, p in model.adjust.items()}
    return ReaderModel(adjust, {i: why for i, why in model.reasons.items() if adjust[i] >= reader.EXPLAIN_MIN})


TRUST: dict[str, Callable[[float], float]] = {
    "": lambda agreement: max(0.0, 2 * agreement - 1),
    "-soft": lambda agreement: agreement,
    "-gate": lambda agreement: float(agreement > 0.5),
}


def trusted(trust: Callable[[float], float], weight: float) -> Callable[[Index, Examples | None], ReaderModel | None]:
    """The model with the like weight ``weight``, its lift scaled by ``trust`` of the held-out agreement."""
    def model_for(index: Index, examples: Examples | None) -> ReaderModel | None:
        if getattr(index, "vectors", None) is None or not examples or not examples.liked:
            return MODEL_FOR(index, examples)
        model = MODEL_FOR(index, examples)
        assert model is not None  # examples given: a model
        agreement = held_out_agreement(index, examples, model)
        saved, reader.VECTOR_LIKE_WEIGHT = reader.VECTOR_LIKE_WEIGHT, weight
        try:
            model = MODEL_FOR(index, examples)
        finally:
            reader.VECTOR_LIKE_WEIGHT = saved
        assert model is not None
        return scaled(model, trust(agreement))
    return model_for


def shrunk(k: float) -> Callable[[Index, Examples | None], ReaderModel | None]:
    def model_for(index: Index, examples: Examples | None) -> ReaderModel | None:
        model = MODEL_FOR(index, examples)
        if model is None or not examples or not examples.liked:
            return model
        return scaled(model, len(examples.liked) / (len(examples.liked) + k))
    return model_for


def head_only(reach: int) -> Callable[..., np.ndarray]:
    def adjusted(totals: np.ndarray, model: ReaderModel, removed: np.ndarray | None) -> np.ndarray:
        if len(totals) > reach:
            bar = np.partition(totals, len(totals) - reach)[len(totals) - reach]
            model = ReaderModel({i: p for i, p in model.adjust.items() if p < 0 or totals[i] >= bar},
                                model.reasons)
        return ADJUSTED(totals, model, removed)
    return adjusted


Variants = dict[str, tuple[Callable[..., object], Callable[..., np.ndarray]]]  # name: (model_for, adjusted)
VARIANTS: Variants = {
    "current": (MODEL_FOR, ADJUSTED),
    **{f"loo{name}-w{w:g}": (trusted(trust, w), ADJUSTED) for name, trust in TRUST.items() for w in (2.0, 3.0, 4.0)},
    **{f"shrink-{k:g}": (shrunk(k), ADJUSTED) for k in (0.5, 1.0, 3.0)},
    **{f"head-{r}": (MODEL_FOR, head_only(r)) for r in (20, 50, 100)},
}


def split_gains(devset: DevSet, seed: int, embedder: object, use_library: bool, queries: dict[str, int],
                variants: Variants = VARIANTS, seen: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Per variant, each kept query's gain from its votes (or library) in this split; and the queries' numbers.

    ``seen``: the votes are cast on the top 10 ranked with meaning on (feedback.py's "votes seen")."""
    split = halves(devset, seed)
    rng, later_ids, kept = split.rng, split.later_ids, split.kept
    profiles = [reader_profile(q["query"]) for q in kept]
    earlier, later = Index(papers(split.earlier_docs)), indexed(split.later_docs, embedder, profiles)
    shown = indexed(split.earlier_docs, embedder, profiles) if seen else None
    gains = np.zeros((len(variants), len(kept)))
    for j, q in enumerate(kept):
        # drawn as always, ``seen`` or not: the library's random draws stay those of every other run
        votes, library = reader_examples(earlier, q["query"], set(q["relevant_ids"]), rng)
        if shown is not None:
            votes = seen_votes(shown, q["query"], set(q["relevant_ids"]))
        examples = library if use_library else votes
        embed_examples(later, [examples])
        profile, relevant = reader_profile(q["query"]), set(q["relevant_ids"]) & later_ids
        alone = ndcg([p.paper.id for p in select.rank(later, profile, selection=EVERYTHING)], relevant)
        for n, (model_for, adjusted) in enumerate(variants.values()):
            select.model_for, select.adjusted = model_for, adjusted  # type: ignore[assignment]
            picks = select.rank(later, profile, selection=EVERYTHING, examples=examples)
            gains[n, j] = ndcg([p.paper.id for p in picks], relevant) - alone
        select.model_for, select.adjusted = MODEL_FOR, ADJUSTED
    return gains, np.array([queries[q["query"]] for q in kept])


def pooled(splits: list[tuple[np.ndarray, np.ndarray]], queries: int, k: int,
           seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The splits' (gains, query numbers) side by side: every (query, split) pair's gains (one column
    each), the fold of its query (``k`` folds of the queries, shuffled with ``seed``) and its split."""
    fold_of: np.ndarray = np.zeros(queries, dtype=np.intp)
    for f, held in enumerate(folds(queries, k, seed)):
        fold_of[held] = f
    gains = np.concatenate([g for g, _ in splits], axis=1)
    which = np.concatenate([fold_of[numbers] for _, numbers in splits])
    split_of = np.concatenate([np.full(len(numbers), s) for s, (_, numbers) in enumerate(splits)])
    return gains, which, split_of


def print_variants(gains: np.ndarray, split_of: np.ndarray, names: list[str] = list(VARIANTS)) -> None:
    print(f"| variant | mean gain | per split | worse by >{WORST_DROP} | worst |")
    print("| --- | --- | --- | --- | --- |")
    for n, name in enumerate(names):
        per_split = " ".join(f"{gains[n, split_of == s].mean():+.3f}" for s in range(SPLITS))
        print(f"| {name} | {gains[n].mean():+.4f} | {per_split} | {int((gains[n] < -WORST_DROP).sum())}"
              f" | {gains[n].min():+.3f} |")


def print_folds(gains: np.ndarray, which: np.ndarray, split_of: np.ndarray, k: int, fewest_hurt: bool,
                names: list[str] = list(VARIANTS)) -> None:
    print(f"\n| fold | chosen on the other folds | held-out gain | current | per split (chosen)"
          f" | worse by >{WORST_DROP} (chosen / current) |")
    print("| --- | --- | --- | --- | --- | --- |")
    chosen = np.zeros(gains.shape[1], dtype=np.intp)
    for f in range(k):
        train, held = which != f, which == f
        best = choose(gains, train, fewest_hurt)
        chosen[held] = best
        per_split = " ".join(f"{gains[best, held & (split_of == s)].mean():+.3f}" for s in range(SPLITS))
        print(f"| {f + 1} | {names[best]} | {gains[best, held].mean():+.4f} | {gains[0, held].mean():+.4f}"
              f" | {per_split} | {int((gains[best, held] < -WORST_DROP).sum())}"
              f" / {int((gains[0, held] < -WORST_DROP).sum())} |")
    out = gains[chosen, np.arange(gains.shape[1])]
    per_split = " ".join(f"{out[split_of == s].mean():+.3f}" for s in range(SPLITS))
    print(f"| held out, all folds | | {out.mean():+.4f} | {gains[0].mean():+.4f} | {per_split}"
          f" | {int((out < -WORST_DROP).sum())} / {int((gains[0] < -WORST_DROP).sum())} |")


def main() -> int:
    parser = votes_parser(__doc__)
    parser.add_argument("--lexical", action="store_true", help="the TF-IDF model (no vectors)")
    parser.add_argument("--library", action="store_true", help="a library of 5 liked papers instead of votes")
    args = parser.parse_args()
    devset = load(args.shared)
    if devset is None:
        return ABSENT
    embedder = None
    if not args.lexical:
        embedder = dict(embedders(skip=("wordllama",), store=args.store)).get("minilm")
        if embedder is None:
            print("MiniLM is not installed (try --lexical)", file=sys.stderr)
            return 1
    print(f"measuring the digest package at {measured()}; {'TF-IDF' if args.lexical else 'MiniLM, meaning on'};"
          f" {'library' if args.library else 'votes'}")
    queries = {q: n for n, q in enumerate(devset.queries)}
    started = time.perf_counter()
    splits = [split_gains(devset, seed, embedder, args.library, queries)
              for seed in range(args.seed, args.seed + SPLITS)]
    print(f"{len(VARIANTS)} variants x {SPLITS} splits in {time.perf_counter() - started:.0f} s")
    gains, which, split_of = pooled(splits, len(devset.queries), args.folds, args.fold_seed)
    print_variants(gains, split_of)
    print_folds(gains, which, split_of, args.folds, args.fewest_hurt)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
