"""Many readers ranked together: their totals, candidates and keyword walks as array operations.

A reader's total is the weighted sum of a few keyword columns (``columns``). For a
chunk of readers every (reader, keyword, paper the keyword scores) term is
gathered into one flat array and added up with ``np.bincount``, which adds its
weights one after another, from zero, in their order: each reader's keywords in
the reader's order, so every total is the same float, bit for bit, as
``Columns.totals`` makes; the passing mentions' excess (``Columns.passing_excess``)
likewise. The exclusions, the floor (``select.qualified_mask``), the candidates,
which keyword owns each of them (``shares.owners``) and the walk down them
(``batch_walk``) are then array operations over the chunk, and so are the picks'
explanations and shown scores (``batch_explain``) and the count of what passes
(``select.rank_counted``). What stays per reader is each keyword's places (``shares``).

Only the keyword ranking is batched: a reader with votes or a library (whose
model adjusts the scores) is ranked alone, and so is every reader of an index
with vectors (meaning confirms, ``qualified_mask``); ``scores`` gives None for them.
A reader who follows authors gets the batch's scores, and walks alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from itertools import chain
from operator import attrgetter

import numpy as np

from . import bulk
from .batch_explain import Explainer, rounded
from .batch_shares import quotas
from .batch_walk import NO_LIMIT, Candidates, walk_many
from .chunk import Chunk, Scores
from .collector import collector_paused
from .columns import columns
from .index import Index
from .matrix import Matrix, bounds, gather, summed
from .profile import Keyword, Profile
from .select import PASSING_SHARE, Selection

CHUNK = 256  # the least a chunk of readers scored together holds (``Batch.chunk``: more for short listings)
CELLS = 1 << 20  # readers x papers a chunk adds up at most (8 MB of totals), unless ``CHUNK`` readers are more
_LEAST = float(np.nextafter(0.0, 1.0))  # the least float above 0
_WEIGHT = attrgetter("weight")


class Batch:
    """Readers ranked a chunk at a time against one index's keyword ``Matrix``."""

    def __init__(self, index: Index) -> None:
        self.index, self.table = index, columns(index)
        self.size = len(index.papers)
        self.chunk = max(CHUNK, CELLS // max(self.size, 1))  # readers added up at once: fewer, larger array passes
        self.matrix = Matrix(self.table, self.size)
        self.explainer = Explainer(self.matrix)
        self._ids = [p.id for p in index.papers]
        self._gone: dict[tuple[int, ...], tuple[tuple[Keyword, ...], np.ndarray | None]] = {}  # ``_removed``
        keys = Counter(index.title_keys)
        self._twin = np.array([keys[k] > 1 for k in index.title_keys], dtype=bool)
        ties = index.tie_keys
        self._tie: np.ndarray = np.zeros(self.size, dtype=np.intp)
        self._tie[sorted(range(self.size), key=lambda i: (ties[i], i))] = np.arange(self.size)

    def scores(self, profiles: Sequence[Profile | None], selections: Sequence[Selection],
               sent: Sequence[Collection[str]]) -> list[Scores | None]:
        """Each reader's ``Scores``, its walk made for its selection and papers sent (None where the
        profile is None: a reader with votes or a library; and for every reader of an index with vectors)."""
        if self.index.vectors is not None:
            return [None] * len(profiles)
        with collector_paused():  # many objects, no cycles (``collector``)
            return self._scores(profiles, selections, sent)

    def _scores(self, profiles: Sequence[Profile | None], selections: Sequence[Selection],
                sent: Sequence[Collection[str]]) -> list[Scores | None]:
        wanted = [p.wanted if p is not None else () for p in profiles]
        bulk.prepare(self.index, chain.from_iterable(wanted))  # new keywords together
        bulk.prepare_exclusions(self.index, chain.from_iterable(p.excluded for p in profiles if p is not None))
        terms = self.matrix.terms(list(chain.from_iterable(wanted)))  # every new keyword first
        starts = np.cumsum([0, *map(len, wanted)]).tolist()
        out: list[Scores | None] = []
        for start in range(0, len(profiles), self.chunk):
            end = min(start + self.chunk, len(profiles))
            out += self._chunk(profiles[start:end], wanted[start:end], terms[starts[start]:starts[end]],
                               selections[start:end], sent[start:end])
        return out

    def _chunk(self, profiles: Sequence[Profile | None], wanted: Sequence[Sequence[Keyword]], mine: np.ndarray,
               selections: Sequence[Selection], sent: Sequence[Collection[str]]) -> list[Scores | None]:
        """``mine``: the readers' keywords' terms, flat, reader after reader."""
        reader: np.ndarray = np.repeat(np.arange(len(wanted)), np.fromiter(map(len, wanted), np.intp, len(wanted)))
        flat = self.matrix.rows(mine)
        weights = np.fromiter(map(_WEIGHT, chain.from_iterable(wanted)), float, len(flat))
        totals = self._totals(flat, reader, weights, len(profiles))
        removed = self._exclude(totals, profiles)
        floors = np.array([s.min_score for s in selections], dtype=float)
        readers, numbers = self._qualified(totals, flat, reader, weights, floors)
        grid, scale = _grid(mine, reader, weights, len(profiles))  # terms
        found = self._candidates(self.matrix.rows(grid), scale, totals, readers, numbers, sent)
        most = [s.max_items for s in selections]
        picked, ends, slow = walk_many(found, self._quota(wanted, found, most, scale), most)
        chosen = numbers[picked]
        matched = self.explainer.explained(grid, readers[picked], chosen)
        chunk = Chunk(totals, removed, numbers, found.owners, bounds(readers, len(profiles)), most, sent, slow, ends,
                      chosen.tolist(), rounded(found.totals[picked]), matched, self._counts(found, len(profiles)))
        return [None if profile is None else Scores(chunk, r) for r, profile in enumerate(profiles)]

    def _exclude(self, totals: np.ndarray, profiles: Sequence[Profile | None]) -> list[np.ndarray | None]:
        """Each reader's ``Columns.removed`` (found by its exclusions' objects: readers share them), their totals
        set to 0."""
        removed = [self._removed(p.excluded) if p is not None and p.excluded else None for p in profiles]
        gone = [(r, numbers) for r, numbers in enumerate(removed) if numbers is not None]
        if gone:
            rows: np.ndarray = np.repeat([r * self.size for r, _ in gone], [len(numbers) for _, numbers in gone])
            np.put(totals, np.concatenate([numbers for _, numbers in gone]) + rows, 0.0)
        return removed

    def _removed(self, excluded: tuple[Keyword, ...]) -> np.ndarray | None:
        """``Columns.removed``, once per batch for each set of exclusion objects (one array, never changed)."""
        key = tuple(map(id, excluded))
        known = self._gone.get(key)
        if known is None:
            known = self._gone[key] = (excluded, self.table.removed(excluded))  # the keywords kept: ids their own
        return known[1]

    def _totals(self, flat: np.ndarray, reader: np.ndarray, weights: np.ndarray, readers: int) -> np.ndarray:
        """Readers x papers: ``Columns.totals``, every reader of the chunk at once."""
        lengths, numbers, values = gather(self.matrix.sparse("scores"), flat)
        cells = np.repeat(reader * self.size, lengths) + numbers
        return summed(cells, values * np.repeat(weights, lengths), readers, self.size)

    def _qualified(self, totals: np.ndarray, flat: np.ndarray, reader: np.ndarray, weights: np.ndarray,
                   floors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``select.qualified_mask`` for every reader of the chunk (without vectors the words are the totals):
        the readers and paper numbers of the papers that pass, reader by reader, each's by number.

        A keyword mentioned in passing counts for no more than ``PASSING_SHARE`` of the
        floor: its excess (``Columns.passing_excess``: weighted words above that cap) is
        taken off, the keywords' excesses added up from zero in their order. Only the
        cells with an excess are worked out again: elsewhere the words are the totals.
        A floor of 0 or less lets through any total above 0, which is a total at least
        the least float above 0.
        """
        positive = floors > 0
        passes = totals >= np.where(positive, floors, _LEAST)[:, None]
        if self.index.rules.passing and positive.any():
            lengths, numbers, values = gather(self.matrix.sparse("passing"), flat)
            term_reader: np.ndarray = np.repeat(reader, lengths)
            excess = values * np.repeat(weights, lengths) - PASSING_SHARE * floors[term_reader]
            above = (excess > 0) & positive[term_reader]
            if above.any():
                cells, inverse = np.unique(term_reader[above] * self.size + numbers[above], return_inverse=True)
                over = np.bincount(inverse, weights=excess[above], minlength=len(cells))
                np.put(passes, cells, totals.take(cells) - over >= floors[cells // self.size])
        cells = np.flatnonzero(passes)
        readers: np.ndarray = cells // self.size
        return readers, cells - readers * self.size

    def _candidates(self, grid: np.ndarray, scale: np.ndarray, totals: np.ndarray, readers: np.ndarray,
                    numbers: np.ndarray, sent: Sequence[Collection[str]]) -> Candidates:
        """The chunk's candidates with their totals, owners (``shares.owners``) and whether a walk may pick them.

        A keyword's weighted score is -inf past the reader's last keyword (adding 0 elsewhere changes no
        score but -0, which ``argmax`` takes for 0), and the codes of the reader's keywords are or-ed.
        """
        width = grid.shape[1]
        bases: np.ndarray = (grid * self.size).T.copy()  # keywords x readers: each term's first cell
        weights = scale.T.copy()
        pads = np.where(grid == 0, -np.inf, 0.0).T.copy()
        dense, codes = self.matrix.scores.reshape(-1), self.matrix.codes.reshape(-1)
        scores = np.empty((width, len(readers)))
        named: np.ndarray = np.zeros(len(readers), dtype=np.int8)
        for k in range(width):
            cells = bases[k][readers] + numbers
            np.multiply(dense[cells], weights[k][readers], out=scores[k])
            scores[k] += pads[k][readers]
            named |= codes[cells]
        return Candidates(readers, numbers, totals[readers, numbers], scores.argmax(axis=0), self._tie[numbers],
                          (named != 0) & ~self._sent(readers, numbers, sent), self._twin[numbers])

    @staticmethod
    def _counts(found: Candidates, readers: int) -> list[int]:
        """Per reader, ``select.count_matches``: how many candidates a walk may pick. (Their titles are
        distinct: a reader with a repeated title among its candidates is walked alone, ``walk_many``.)"""
        return np.bincount(found.rows[found.eligible], minlength=readers).tolist()

    def _sent(self, readers: np.ndarray, numbers: np.ndarray, sent: Sequence[Collection[str]]) -> np.ndarray:
        """Per candidate, whether its reader was sent it before."""
        found: np.ndarray = np.zeros(len(readers), dtype=bool)
        if not any(sent):
            return found
        ids = self._ids
        at = bounds(readers, len(sent))
        for reader, papers in enumerate(sent):
            if papers:
                a, b = at[reader], at[reader + 1]
                found[a:b] = [ids[i] in papers for i in numbers[a:b].tolist()]
        return found

    def _quota(self, wanted: Sequence[Sequence[Keyword]], found: Candidates, most: Sequence[int | None],
               scale: np.ndarray) -> np.ndarray:
        """Readers x keywords: each keyword's places (``shares.places``; ``NO_LIMIT`` where none apply)."""
        width = scale.shape[1]
        if not self.index.rules.shares:
            return np.full((len(wanted), width), NO_LIMIT, dtype=np.intp)
        counts = np.bincount(found.rows * width + found.owners, minlength=len(wanted) * width).reshape(-1, width)
        keywords = np.fromiter(map(len, wanted), np.intp, len(wanted))
        return quotas(counts, scale, keywords, np.array([m or 0 for m in most], dtype=np.intp))


def _grid(flat: np.ndarray, reader: np.ndarray, weights: np.ndarray, readers: int) -> tuple[np.ndarray, np.ndarray]:
    """Readers x keywords: each reader's keywords' terms in its order (0 past its last), and their weights (1)."""
    width = int(np.bincount(reader).max()) if len(reader) else 1
    first = np.array(bounds(reader, readers))  # where each reader's terms start
    slot = np.arange(len(flat)) - first[reader]
    grid: np.ndarray = np.zeros((readers, width), dtype=np.intp)
    grid[reader, slot] = flat
    scale = np.ones((readers, width))
    scale[reader, slot] = weights
    return grid, scale


Reader = tuple[Profile | None, bool, Selection, Collection[str]]  # profile, whether batched, selection, sent


class Ahead:
    """Scores for readers ranked one at a time in their order (the send's producer), a chunk ahead.

    ``expect(numbers)`` works out those readers together (the send hands over the
    readers it claimed, so that none is scored for another send). Asked for reader
    ``n`` and not holding it, it works out the batch's chunk of readers from ``n`` together;
    a reader asked for out of order starts a chunk of its own. ``reader(n)`` says
    who each is: its profile (None: its keywords do not parse), whether it may be
    scored with the others (not with votes or a library), its selection and the
    papers it was sent.
    """

    def __init__(self, batch: Batch, count: int, reader: Callable[[int], Reader]) -> None:
        self.batch, self.count, self.reader = batch, count, reader
        self._ready: dict[int, tuple[Profile | None, Scores | None]] = {}

    def expect(self, numbers: Sequence[int]) -> None:
        """Work out these readers' scores together (at most ``Batch.chunk`` of them), forgetting the chunk before."""
        readers = [self.reader(n) for n in numbers]
        self._ready = {}  # the chunk before is freed before this one is worked out: one chunk alive, not two
        scores = self.batch.scores([p if batched else None for p, batched, _, _ in readers],
                                   [r[2] for r in readers], [r[3] for r in readers])
        self._ready = {n: (r[0], s) for n, r, s in zip(numbers, readers, scores)}

    def get(self, number: int) -> tuple[Profile | None, Scores | None]:
        """Reader ``number``'s profile and ``Scores`` (None: rank it alone)."""
        if number not in self._ready:
            self.expect(range(number, min(number + self.batch.chunk, self.count)))
        return self._ready[number]


def chunks(batches: Iterable[Sequence[int]], size: int = CHUNK) -> Iterator[Sequence[int]]:
    """The positions of each batch, ``size`` at a time (what ``Ahead.expect`` takes: ``Batch.chunk``)."""
    for batch in batches:
        for start in range(0, len(batch), size):
            yield batch[start:start + size]
