"""The send's producer ranking: each way a full digest's total (and whole list) is worked out, in one run.

10,000 distinct profiles (``throughput.py``'s) against 1,000 papers, ``max_items`` 20 and
``min_score`` 2, on one core from a cold index (parse, index, rank), as ``picks_and_total`` does it:

- with the archive (DIGEST_PUBLIC_URL and DIGEST_SECRET_KEY): ``rank_whole``, the picks and the
  whole list from one scoring;
- the way before, the reference: ``rank``, then for a full digest ``rank`` again without the maximum;
- without the archive: ``rank_counted``, the picks and for a full digest ``count_matches`` from one
  scoring (nothing shows the list); beside ``rank`` then ``count_matches``, the way before.

CPU time, the least of ``--rounds`` interleaved rounds. Usage:

    PYTHONPATH=. python benchmarks/producer.py [--readers 10000] [--papers 1000] [--rounds 2]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from throughput import ROOT, cold, cpu_seconds, distinct_profiles, keyword_pool, load_papers

from digest.model import Paper
from digest.ranking.index import Index
from digest.ranking.profile import Profile, parse_profile
from digest.ranking.select import Selection, count_matches, rank, rank_counted, rank_whole

SELECTION = Selection(max_items=20, min_score=2.0)
UNLIMITED = Selection(max_items=None, min_score=SELECTION.min_score)


def whole(index: Index, profile: Profile) -> None:
    rank_whole(index, profile, selection=SELECTION)


def twice(index: Index, profile: Profile) -> None:
    if len(rank(index, profile, selection=SELECTION)) == SELECTION.max_items:
        rank(index, profile, selection=UNLIMITED)


def counted(index: Index, profile: Profile) -> None:
    if len(rank(index, profile, selection=SELECTION)) == SELECTION.max_items:
        count_matches(index, profile, min_score=SELECTION.min_score)


def counted_once(index: Index, profile: Profile) -> None:
    rank_counted(index, profile, selection=SELECTION)


WAYS: dict[str, Callable[[Index, Profile], None]] = {"whole": whole, "twice": twice, "counted": counted,
                                                     "counted_once": counted_once}


def cpu_of(way: Callable[[Index, Profile], None], papers: list[Paper], profiles: list[tuple[str, ...]]) -> float:
    cold()
    started = cpu_seconds()
    parsed = [parse_profile(", ".join(p)) for p in profiles]
    index = Index(papers)
    index.embed_keywords(parsed)
    for profile in parsed:
        way(index, profile)
    return cpu_seconds() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readers", type=int, default=10_000)
    parser.add_argument("--papers", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    papers, origin = load_papers(args.papers, ROOT.parent / "shared")
    profiles = distinct_profiles(keyword_pool(papers, ROOT.parent / "shared"), args.readers)
    best: dict[str, float] = {}
    for _ in range(max(args.rounds, 1)):
        for name, way in WAYS.items():
            best[name] = min(best.get(name, float("inf")), cpu_of(way, papers, profiles))
    print(f"{len(profiles):,} readers x {len(papers):,} papers ({origin}), max_items 20, min_score 2, one core, "
          f"CPU (least of {args.rounds} rounds):")
    print(f"with the archive, rank_whole (picks and whole list, one scoring): {best['whole']:.2f} s = "
          f"{best['twice'] / best['whole']:.2f}x faster than ranking a full digest twice (the way before, "
          f"{best['twice']:.2f} s)")
    print(f"without the archive, rank_counted (picks and count, one scoring): {best['counted_once']:.2f} s; "
          f"rank + count_matches (the way before): {best['counted']:.2f} s = "
          f"{best['counted'] / best['counted_once']:.2f}x; "
          f"{best['twice'] / best['counted_once']:.2f}x faster than ranking a full digest twice")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
