"""Choose how MiniLM embeds a keyword, and how a paper, by cross-validation over the development set's queries.

The meaning bonus (``digest.semantic.Bonus``) turns a paper's cosine to a keyword
into points. Two things shape that cosine and were not tried before:

1. the sentence a keyword is embedded in (``Embedder.keyword_template``): the
   bare words ("adders"), or a short template ("methods for adders");
2. ``--papers``: the paper's vector: title and abstract cut at MiniLM's 128 word
   pieces (digest's), the title alone, abstract chunks of about 80 words each
   after the title (the best chunk, the mean of the chunks), or combinations.

Every (keyword template or paper vector) x bonus (weight, floor, cap) is a grid
point; each query's nDCG@10 over the 2,000 papers is worked out once per point,
ranking exactly as ``select.rank`` does for one keyword (words plus bonus, among the
papers its words match). Then, for each of ``--folds`` folds of the queries
(shuffled with ``--seed``), the point best on the other folds is judged on the
held-out one; the mean of the held-out figures is printed beside the current
choice's on the same folds. The data is read in place, never copied; without it
the script says so and exits with 2.

Measured (5 folds, seeds 18, 1, 2, 3; the paper vectors from the store): every
fold of every seed chose "methods for {}" with the bonus (4, 0.16, 1.3) (one fold
of seed 18 the cap 1.7): held out 0.5318-0.5327 against 0.5237 for the bare
keyword with (4, 0.12, 1.3). Each template alone (its own bonus chosen on the
folds, seed 18): bare 0.5237, "research on {}" 0.5270, "studies of {}" 0.5235,
"papers on {}" 0.5149, "the topic of {}" 0.5162, "{} research" 0.5159, "methods
for {}" 0.5318. ``--papers``, each paper vector with its bonus chosen on the folds,
held out for the bare keyword / "methods for {}": digest's 0.5237 / 0.5318, title
alone 0.5100 / 0.5096, best chunk 0.5210 / 0.5277, mean of the chunks 0.5241 /
0.5282, best of digest's and the chunks 0.5219 / 0.5263, mean of digest's and the
best chunk 0.5224 / 0.5309. The chunks (4,100 texts for the 2,000 papers) cost
139 s CPU to embed on 2 cores, on top of the one vector per paper, for no gain
held out: digest keeps one vector per paper. ``--shapes``, with "methods for {}", each
shape's constants chosen on the folds (seed 18): the kept bonus 0.5327 (in-sample:
it was chosen above), the cosine standardised within the listing 0.5297, the word
score scaled by the cosine plus the bonus 0.5303, one-word keywords with a bonus
of their own 0.5336 (+0.0009, not worth a rule). By class (words / with meaning):
one-word keywords 0.509 / 0.506, two words 0.508 / 0.554, three or more 0.461 /
0.498; keywords some relevant paper spells out 0.608 / 0.622, the 92 no relevant
paper spells out 0.319 / 0.379, where the keyword's words match only 68% of the
relevant papers at all. Kept: "methods for {}" with the bonus (4, 0.16, 1.3).

Usage: python benchmarks/tune_keywords.py [--shared PATH] [--store FILE] [--folds 5] [--seed 18] [--papers]
                                         [--shapes]
"""

from __future__ import annotations

import itertools
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # these helpers, and this checkout's digest before an installed one

from devset import (  # noqa: E402
    ABSENT, DevSet, embedders, folds_parser, load, make_index, measured, papers, reader_profile,
)
from tune import folds  # noqa: E402

from digest.ranking.scoring import MIN_CONTRIBUTION  # noqa: E402
from digest.semantic import Bonus  # noqa: E402

TEMPLATES = ("{}", "research on {}", "papers on {}", "studies of {}", "{} research", "the topic of {}",
             "methods for {}")
BONUSES = [Bonus(w, f, c) for w, f, c in itertools.product((3.0, 4.0, 5.0, 6.0), (0.08, 0.12, 0.16, 0.2, 0.25),
                                                         (1.0, 1.3, 1.7))]
CURRENT = ("{}", Bonus(4.0, 0.12, 1.3))  # before this script: the bare keyword
CHUNK_WORDS = 80
DISCOUNT = 1 / np.log2(np.arange(2, 12))


class Judge:
    """Each query's nDCG@10 for any cosines, ranking one keyword as ``select.rank`` does."""

    def __init__(self, words: np.ndarray, relevant: np.ndarray) -> None:
        self.words, self.relevant = words, relevant
        self.ideal = np.array([DISCOUNT[:min(10, r)].sum() for r in relevant.sum(axis=1)])

    def ndcg(self, cosines: np.ndarray, bonus: Bonus) -> np.ndarray:
        return self.ndcg_points(bonus(cosines))

    def ndcg_points(self, points: np.ndarray) -> np.ndarray:
        """Each query's nDCG@10 with these points added to the words' scores."""
        scores = self.words + points
        scores = np.where((self.words > 0) & (scores >= MIN_CONTRIBUTION), scores, -np.inf)
        top = np.argsort(-scores, axis=1, kind="stable")[:, :10]
        hits = np.take_along_axis(self.relevant, top, 1) & np.isfinite(np.take_along_axis(scores, top, 1))
        return (hits * DISCOUNT).sum(axis=1) / self.ideal


def unit(vectors: np.ndarray) -> np.ndarray:
    """As the store keeps them: float16, then unit length."""
    vectors = np.asarray(vectors, dtype=np.float16).astype(np.float64)
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def chunks(abstract: str) -> list[str]:
    """The abstract in runs of whole sentences of about ``CHUNK_WORDS`` words."""
    out: list[list[str]] = [[]]
    for sentence in re.split(r"(?<=[.!?])\s+", abstract):
        words = sentence.split()
        if out[-1] and len(out[-1]) + len(words) > CHUNK_WORDS:
            out.append([])
        out[-1] += words
    return [" ".join(c) for c in out if c]


def paper_variants(model: Any, docs: Sequence[dict[str, str]], stored: np.ndarray) -> dict[str, Any]:
    """Each way to make the papers' vectors: a function of the keyword vectors to every cosine."""
    titles = unit(model.embed([d["title"] for d in docs]))
    owner, texts = zip(*[(i, f"{d['title']}. {c}") for i, d in enumerate(docs) for c in chunks(d["abstract"])])
    pieces, owner_ids = unit(model.embed(list(texts))), np.array(owner)
    means = unit(np.stack([pieces[owner_ids == i].mean(axis=0) for i in range(len(docs))]))

    def best_chunk(q: np.ndarray) -> np.ndarray:
        out = np.full((len(q), len(docs)), -1.0)
        np.maximum.at(out.T, owner_ids, (q @ pieces.T).T)
        return out

    return {"digest's (title. abstract, 128 pieces)": lambda q: q @ stored.T, "title alone": lambda q: q @ titles.T,
            "best chunk": best_chunk, "mean of chunks": lambda q: q @ means.T,
            "best of digest's and the chunks": lambda q: np.maximum(q @ stored.T, best_chunk(q)),
            "mean of digest's and the best chunk": lambda q: (q @ stored.T + best_chunk(q)) / 2}


def held_out(table: np.ndarray, parts: list[np.ndarray], current: int) -> tuple[float, float, list[int]]:
    """(the held-out mean of the points chosen on the other folds, the current point's, the choices)."""
    everyone = np.arange(table.shape[1])
    chosen = [int(np.argmax(table[:, np.setdiff1d(everyone, p)].mean(axis=1))) for p in parts]
    return (float(np.mean([table[c, p].mean() for c, p in zip(chosen, parts)])),
            float(np.mean([table[current, p].mean() for p in parts])), chosen)


def setup(devset: DevSet, store: Path | None) -> tuple[Any, Judge, np.ndarray, list[str]]:
    """(MiniLM, the judge, the papers' stored vectors, the keywords as ranking embeds them)."""
    embedder = dict(embedders(skip=("wordllama",), store=store))["minilm"]
    index = make_index(papers(devset.docs), embedder=embedder)
    keywords = [reader_profile(q).wanted[0] for q in devset.queries]
    words = np.stack([index.keyword_column(k, meaning=False) for k in keywords])
    where = {p.id: i for i, p in enumerate(index.papers)}
    relevant = np.zeros(words.shape, dtype=bool)
    for n, ids in enumerate(devset.relevant):
        relevant[n, [where[i] for i in ids]] = True
    return embedder.inner, Judge(words, relevant), unit(index.vectors), [" ".join(k.words) for k in keywords]


def main() -> int:
    parser = folds_parser(__doc__)
    parser.add_argument("--papers", action="store_true", help="also the paper vectors (embeds titles and chunks)")
    parser.add_argument("--shapes", action="store_true", help="also other shapes of the bonus, and nDCG@10 by class")
    args = parser.parse_args()
    devset = load(args.shared)
    if devset is None:
        return ABSENT
    print(f"measuring the digest package at {measured()}")
    model, judge, stored, texts = setup(devset, args.store)
    queries = {t: unit(model.embed([t.format(k) for k in texts])) for t in TEMPLATES}
    parts = folds(len(texts), args.folds, args.seed)
    rows = {t: np.stack([judge.ndcg(q @ stored.T, b) for b in BONUSES]) for t, q in queries.items()}
    current = BONUSES.index(CURRENT[1])
    print("\n| keyword embedded as | held out | its bonus on the folds |\n| --- | --- | --- |")
    for t, table in rows.items():
        held, _, chosen = held_out(table, parts, current)
        print(f"| {t!r} | {held:.4f} | {', '.join(str(vars_of(BONUSES[c])) for c in chosen)} |")
    points = [(t, b) for t in TEMPLATES for b in BONUSES]
    held, now, chosen = held_out(np.concatenate(list(rows.values())), parts, points.index(CURRENT))
    print(f"\ntemplate and bonus chosen together: held out {held:.4f} against {now:.4f} for the bare keyword"
          f" {vars_of(CURRENT[1])}; chosen: " + "; ".join(f"{points[c][0]!r} {vars_of(points[c][1])}"
                                                               for c in chosen))
    if args.papers:
        compare_papers(model, devset, judge, stored, queries, parts, current)
    if args.shapes:
        compare_shapes(devset, judge, queries["methods for {}"] @ stored.T, parts)
    return 0


def compare_shapes(devset: DevSet, judge: Judge, cosines: np.ndarray, parts: list[np.ndarray]) -> None:
    """Other ways to turn the cosines into points, each with its constants chosen on the folds."""
    z = (cosines - cosines.mean(axis=1, keepdims=True)) / cosines.std(axis=1, keepdims=True)
    one = np.array([len(q.split()) == 1 for q in devset.queries])[:, None]
    kept = Bonus(4.0, 0.16, 1.3)
    shapes = {
        "kept: min(1.3, 4 x (cos - 0.16)) (chosen above)": [kept(cosines)],
        "cosine standardised within the listing": [Bonus(w, f, c)(z) for w, f, c in itertools.product(
            (0.3, 0.5, 0.7, 1.0), (0.0, 0.5, 1.0, 1.5), (1.3, 2.0, 3.0))],
        "words x (1 + a x cos) + bonus": [judge.words * a * np.maximum(0.0, cosines - f) + kept(cosines)
                                          for a, f in itertools.product((0.5, 1, 2, 3, 4), (0.0, 0.1, 0.2))],
        "one-word keywords their own bonus": [np.where(one, Bonus(w, f, c)(cosines), kept(cosines))
                                              for w, f, c in itertools.product((0, 2, 3, 4, 5), (0.12, 0.16, 0.2, 0.25),
                                                                               (0.6, 1.0, 1.3))],
    }
    print("\n| bonus shape | held out |\n| --- | --- |")
    for name, points in shapes.items():
        table = np.stack([judge.ndcg_points(p) for p in points])
        print(f"| {name} | {held_out(table, parts, 0)[0]:.4f} |")
    lexical, meaning = judge.ndcg_points(np.zeros_like(cosines)), judge.ndcg_points(kept(cosines))
    matched = (judge.relevant & (judge.words > 0)).sum(axis=1) / judge.relevant.sum(axis=1)
    print("\n| queries | count | nDCG@10 words | with meaning | relevant papers its words match |")
    print("| --- | --- | --- | --- | --- |")
    for name, mask in classes(devset).items():
        print(f"| {name} | {mask.sum()} | {lexical[mask].mean():.3f} | {meaning[mask].mean():.3f}"
              f" | {matched[mask].mean():.2f} |")


def classes(devset: DevSet) -> dict[str, np.ndarray]:
    """The queries by number of words, and by whether a relevant paper spells the keyword out."""
    texts = {d["id"]: f"{d['title']} {d['abstract']}".lower() for d in devset.docs}
    count = np.array([len(q.split()) for q in devset.queries])
    verbatim = np.array([any(q in texts[i] for i in rel) for q, rel in zip(devset.queries, devset.relevant)])
    return {"one word": count == 1, "two words": count == 2, "three or more": count >= 3,
            "verbatim in a relevant paper": verbatim, "in none": ~verbatim}


def compare_papers(model: Any, devset: DevSet, judge: Judge, stored: np.ndarray, queries: dict[str, np.ndarray],
                   parts: list[np.ndarray], current: int) -> None:
    variants = paper_variants(model, devset.docs, stored)
    print("\n| paper vector | keyword | held out |\n| --- | --- | --- |")
    for name, cosines in variants.items():
        for t in ("{}", "methods for {}"):
            table = np.stack([judge.ndcg(cosines(queries[t]), b) for b in BONUSES])
            print(f"| {name} | {t!r} | {held_out(table, parts, current)[0]:.4f} |")


def vars_of(bonus: Bonus) -> tuple[float, float, float]:
    return bonus.weight, bonus.floor, bonus.cap


if __name__ == "__main__":
    raise SystemExit(main())
