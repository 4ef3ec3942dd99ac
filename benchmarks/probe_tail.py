"""Would ranking the papers that match by meaning alone (no keyword word) reach issue #18's 0.55?

digest's list with MiniLM holds only papers that match a keyword in words (meaning
reorders them; it never picks a paper alone, beyond the bounded recall rule). This
probe measures two ways to rank the other papers too, on the development set, beside
digest's own list in the same run; digest/ is not changed:

- *appended*: digest's list, then every other paper by its cosine to the keyword;
- *merged*: every other paper scored by MiniLM's bonus alone (``Bonus``, the points
  meaning adds to a keyword's score), and the two lists merged by score.

Measured (2026-12-07, folds not needed: nothing is fitted): digest + MiniLM 0.5327,
appended 0.5398, merged 0.5414 (the cosine alone, "methods for <keyword>": 0.3759).
Neither reaches 0.55, and neither changes what is sent: a paper without a keyword
word stays under ``DIGEST_MIN_SCORE``, so the gain is in the order of papers no reader
gets. Not adopted.

Usage: python benchmarks/probe_tail.py [--shared PATH] [--store FILE]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # these helpers, and this checkout's digest before an installed one

from devset import EVERYTHING, SHARED, make_index, measured, papers, reader_profile, with_minilm  # noqa: E402
from setquality import ndcg  # noqa: E402

from digest.ranking.select import rank  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--store", type=Path, help="the paper vectors' state database (kept between runs)")
    args = parser.parse_args()
    devset, embedder = with_minilm(args.shared, args.store, "probe")
    print(f"digest from {measured()}")
    listing = papers(devset.docs)
    ids = [paper.id for paper in listing]
    vectors = np.asarray(embedder.embed_papers(listing))
    profiles = [reader_profile(query) for query in devset.queries]
    keywords = np.asarray(embedder.embed_keywords([profile.keywords[0].text for profile in profiles]))
    index = make_index(listing, embedder=embedder)
    index.embed_keywords(profiles)
    bonus = embedder.bonus
    rows: dict[str, list[float]] = {"digest + MiniLM": [], "appended by cosine": [], "merged by score": [],
                                    "the cosine alone": []}
    for profile, keyword, relevant in zip(profiles, keywords, devset.relevant):
        cosines = vectors @ keyword
        by_cosine = [ids[i] for i in np.argsort(-cosines)]
        picks = rank(index, profile, selection=EVERYTHING)
        ours = [pick.paper.id for pick in picks][:50]
        taken = set(ours)
        scores = {paper_id: float(points) for paper_id, points in zip(ids, bonus(cosines))}
        scores.update({pick.paper.id: pick.score for pick in picks})
        rows["digest + MiniLM"].append(ndcg(ours, relevant))
        rows["appended by cosine"].append(ndcg(ours + [i for i in by_cosine if i not in taken], relevant))
        rows["merged by score"].append(ndcg(sorted(scores, key=scores.__getitem__, reverse=True)[:50], relevant))
        rows["the cosine alone"].append(ndcg(by_cosine, relevant))
    print(f"{'ranker':<24} nDCG@10")
    for name, values in rows.items():
        print(f"{name:<24} {float(np.mean(values)):.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
