"""Three word signals the lexical score lacks, measured by cross-validation over the development set's queries.

The lexical constants sit on a plateau (benchmarks/tune.py). Each signal here adds
``c`` points to a paper's words score for one keyword, ``c`` chosen on four folds
of the queries and judged on the fifth (as benchmarks/tune_keywords.py does, among
the papers the keyword's words match):

- coordination: a keyword of two words or more whose every word (stem) the paper
  has, anywhere (BM25 sums the words; this rewards having them all);
- all in the title: every word of the keyword in the title;
- spread: every word in the paper, some in the title and some only in the abstract;
- first sentence: every word in the abstract's first sentence (the lead, which
  often names the field).

Hyphens and slashes already split words, and stems already merge a phrase head's
plural with its singular, so those are not signals here.

Measured (5 folds, seed 18; ``c`` in 0-2): held out, coordination 0.5000, all in
the title 0.5006, spread 0.4995, against 0.5012 for the words alone: none helps.
The first sentence (added later; ``c`` 0.5 on every fold) gives 0.5044 held out,
+0.003, the same with fold seeds 7 and 99 (0.5044 each, measured again 2026-12-07;
0.5043 and 0.5041 when first measured); with MiniLM's bonus on
(the same signal added to the words and the bonus, folds as here) it gives 0.5318
against 0.5327 without it. Not adopted: +0.003 on words alone, nothing with meaning.

Usage: python benchmarks/tune_words.py [--shared PATH] [--folds 5] [--seed 18]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # these helpers, and this checkout's digest before an installed one

from devset import ABSENT, DevSet, load, make_index, measured, papers, reader_profile, folds_parser  # noqa: E402
from tune import folds  # noqa: E402
from tune_keywords import Judge, held_out  # noqa: E402

from digest.ranking.tokens import STOPWORDS, words  # noqa: E402

POINTS = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0)


def judge(devset: DevSet) -> Judge:
    index = make_index(papers(devset.docs))
    scores = np.stack([index.keyword_column(reader_profile(q).wanted[0]) for q in devset.queries])
    where = {p.id: i for i, p in enumerate(index.papers)}
    assert list(where) == [d["id"] for d in devset.docs], "signals() assumes the index keeps the documents' order"
    relevant = np.zeros(scores.shape, dtype=bool)
    for n, ids in enumerate(devset.relevant):
        relevant[n, [where[i] for i in ids]] = True
    return Judge(scores, relevant)


def signals(devset: DevSet) -> dict[str, np.ndarray]:
    """Per signal, a queries x papers array of 0 and 1 (in the index's paper order: the documents')."""
    title = [{s for _, s in words(d["title"])} for d in devset.docs]
    abstract = [{s for _, s in words(d["abstract"])} for d in devset.docs]
    first = [{s for _, s in words(_first_sentence(d["abstract"]))} for d in devset.docs]
    shape = (len(devset.queries), len(devset.docs))
    every, in_title, some_in_title, lead = np.zeros(shape), np.zeros(shape), np.zeros(shape), np.zeros(shape)
    for n, query in enumerate(devset.queries):
        stems = {s for raw, s in words(query) if raw not in STOPWORDS} or {s for _, s in words(query)}
        for i, (t, a) in enumerate(zip(title, abstract)):
            lead[n, i] = stems <= first[i]
            every[n, i] = stems <= (t | a)
            in_title[n, i] = stems <= t
            some_in_title[n, i] = bool(stems & t)
    several = np.array([len({s for raw, s in words(q) if raw not in STOPWORDS}) > 1 for q in devset.queries])
    return {"coordination": every * several[:, None], "all in the title": in_title,
            "spread": every * some_in_title * (1 - in_title), "first sentence": lead}


def _first_sentence(abstract: str) -> str:
    return re.split(r"(?<=[.!?])\s+", abstract.strip(), maxsplit=1)[0]


def main() -> int:
    parser = folds_parser(__doc__, store=False)
    args = parser.parse_args()
    devset = load(args.shared)
    if devset is None:
        return ABSENT
    print(f"measuring the digest package at {measured()}")
    scored = judge(devset)
    parts = folds(len(devset.queries), args.folds, args.seed)
    print("| signal | held out | words alone, same folds | c chosen per fold |\n| --- | --- | --- | --- |")
    for name, signal in signals(devset).items():
        table = np.stack([scored.ndcg_points(c * signal) for c in POINTS])
        held, alone, chosen = held_out(table, parts, 0)
        print(f"| {name} | {held:.4f} | {alone:.4f} | {', '.join(f'{POINTS[c]:g}' for c in chosen)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
