"""Many readers against one index: the keyword work shared, the readers split across forked workers."""

from __future__ import annotations

import gc
import multiprocessing
import os
import threading
from collections.abc import Collection, Iterator, Sequence

from . import authors, reader
from .authors import Follows
from .batch import Batch
from .collector import collector_paused
from .explain import Match
from .index import Index
from .profile import Profile
from .reader import Examples
from .columns import columns
from .select import Pick, Selection, rank

PARALLEL_MIN = 2_000  # below this, forking costs more than it saves

_SHARED: tuple[Index, Sequence[Profile], Sequence[Collection[str]], Sequence[Selection],
               Sequence[Examples | None], Sequence[Follows | None]] | None = None


def rank_many(
    index: Index,
    profiles: Sequence[Profile],
    sent: Sequence[Collection[str]] | None = None,
    selections: Sequence[Selection] | None = None,
    examples: Sequence[Examples | None] | None = None,
    follows: Sequence[Follows | None] | None = None,
    *,
    workers: int | None = None,
    parallel_min: int = PARALLEL_MIN,
) -> list[list[Pick]]:
    """``rank`` for every reader, sharing the keyword work; same results as one by one.

    Every distinct keyword is scored and explained once on the index, and the
    readers are scored and walked a chunk at a time (``batch``). With many
    readers, several cores, and a single-threaded process (forking a threaded one
    is unsafe: the daemon ranks serially), the readers are then split across
    forked workers that inherit the warm index; they send back paper numbers and
    matches, never papers.
    """
    sent = sent if sent is not None else [frozenset()] * len(profiles)
    selections = selections if selections is not None else [Selection()] * len(profiles)
    examples = examples if examples is not None else [None] * len(profiles)
    follows = follows if follows is not None else [None] * len(profiles)
    workers = min(workers or os.cpu_count() or 1, max(len(profiles) // max(parallel_min // 2, 1), 1))
    index.embed_keywords(profiles)
    reader.embed_examples(index, examples)  # one batch for every reader's votes and library
    if workers < 2 or len(profiles) < parallel_min or not fork_is_safe():
        with collector_paused():
            return list(_ranked(index, profiles, sent, selections, examples, follows, 0, len(profiles)))
    prepare(index, profiles)
    reader.prepare(index, examples)
    authors.prepare(index, follows)
    global _SHARED
    _SHARED = (index, profiles, sent, selections, examples, follows)
    try:
        bounds = [len(profiles) * n // workers for n in range(workers + 1)]
        context = multiprocessing.get_context("fork")
        gc.freeze()  # the workers' collector would otherwise touch, and so copy, every inherited object
        try:
            with context.Pool(workers) as pool:
                parts = pool.map(_rank_slice, list(zip(bounds, bounds[1:])))
        finally:
            gc.unfreeze()
    finally:
        _SHARED = None
    papers = index.papers
    return [
        [Pick(papers[i], score, matched, rank=number, because=because, followed=followed)
         for number, (i, score, matched, because, followed) in enumerate(picks, 1)]
        for part in parts for picks in part
    ]


def _rank_slice(bounds: tuple[int, int]) -> list[list[tuple[int, float, tuple[Match, ...], str, str]]]:
    assert _SHARED is not None
    index, profiles, sent, selections, examples, follows = _SHARED
    numbers = {id(paper): n for n, paper in enumerate(index.papers)}
    return [
        [(numbers[id(p.paper)], p.score, p.matched, p.because, p.followed) for p in picks]
        for picks in _ranked(index, profiles, sent, selections, examples, follows, *bounds)
    ]


def _ranked(index: Index, profiles: Sequence[Profile], sent: Sequence[Collection[str]],
            selections: Sequence[Selection], examples: Sequence[Examples | None], follows: Sequence[Follows | None],
            start: int, stop: int) -> Iterator[list[Pick]]:
    """``rank`` for the readers from ``start`` to ``stop``, scored a chunk at a time (``batch``): readers
    with votes or a library alone."""
    batch = Batch(index)
    for low in range(start, stop, batch.chunk):
        high = min(low + batch.chunk, stop)
        firsts = batch.scores([p if not e else None for p, e in zip(profiles[low:high], examples[low:high])],
                              selections[low:high], sent[low:high])
        for n, first in zip(range(low, high), firsts):
            yield rank(index, profiles[n], sent=sent[n], selection=selections[n], examples=examples[n],
                       follows=follows[n], first=first)


def fork_is_safe() -> bool:
    return threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods()



def prepare(index: Index, profiles: Sequence[Profile]) -> None:
    """Every keyword's column and exclusion now (before forking workers that would each redo them)."""
    columns(index).prepare(profiles)
