"""The send's producer scores readers a chunk ahead (``ranking.batch.Ahead``), only the ones it builds.

On PostgreSQL several sends share the list, each claiming readers 50 at a time
(``digest.claims``): a send must not score the readers between its claims, which
other sends build.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

from digest.ranking.batch import CHUNK, Ahead, Batch, chunks
from digest.ranking.index import Index
from digest.ranking.select import rank

from .test_rank_batch import LISTINGS, _readers, _seen


def test_a_send_scores_only_the_readers_it_claimed() -> None:
    papers = LISTINGS[1][1]
    profiles, selections, sent = _readers(papers, "claimed", count=400)
    asked, reader = _recorded(profiles, selections, sent)

    index = Index(papers)
    ahead = Ahead(Batch(index), len(profiles), reader)
    claimed = [list(range(0, 50)), list(range(200, 250)), list(range(350, 400))]
    for chunk in chunks(claimed):
        ahead.expect(chunk)
        for number in chunk:
            profile, first = ahead.get(number)
            assert first is not None
            assert _seen(rank(index, profile, sent=sent[number], selection=selections[number], first=first)) == \
                _seen(rank(index, profile, sent=sent[number], selection=selections[number]))
    assert sorted(asked) == [n for batch in claimed for n in batch]


def test_one_long_batch_is_scored_a_chunk_at_a_time() -> None:
    every = list(range(2 * CHUNK + 7))
    assert [len(c) for c in chunks([every])] == [CHUNK, CHUNK, 7]
    assert [n for c in chunks([every, [900, 901]]) for n in c] == every + [900, 901]


def test_chunks_take_the_batch_size_the_producer_gives() -> None:
    every = list(range(25))
    assert [len(c) for c in chunks([every, [900]], 10)] == [10, 10, 5, 1]


def test_a_reader_asked_for_first_brings_a_whole_batch_chunk_of_readers_after_it() -> None:
    papers = LISTINGS[1][1]
    profiles, selections, sent = _readers(papers, "ahead", count=300)
    asked, reader = _recorded(profiles, selections, sent)

    batch = Batch(Index(papers))
    ahead = Ahead(batch, len(profiles), reader)
    assert batch.chunk > 300 > CHUNK  # a short listing: chunks larger than the least
    ahead.get(10)
    assert asked == list(range(10, min(10 + batch.chunk, 300)))


def test_the_chunk_before_is_freed_before_the_next_is_worked_out() -> None:
    papers = LISTINGS[1][1]
    profiles, selections, sent = _readers(papers, "freed", count=60)
    _, reader = _recorded(profiles, selections, sent)
    batch = Batch(Index(papers))
    ahead = Ahead(batch, len(profiles), reader)
    ahead.expect(range(0, 30))
    scored = ahead.get(0)[1]
    assert scored is not None
    before = weakref.ref(scored.chunk.totals)
    del scored
    alive_while_scoring = []
    score = batch.scores

    def watched(*args):
        alive_while_scoring.append(before() is not None)
        return score(*args)

    batch.scores = watched
    ahead.expect(range(30, 60))
    assert alive_while_scoring == [False]  # one chunk's totals in memory at a time, not two


def _recorded(profiles: list, selections: list, sent: list) -> tuple[list[int], Callable[[int], tuple]]:
    """``Ahead``'s ``reader``, and the positions it was asked for, in order."""
    asked: list[int] = []

    def reader(n: int) -> tuple:
        asked.append(n)
        return profiles[n], True, selections[n], sent[n]

    return asked, reader
