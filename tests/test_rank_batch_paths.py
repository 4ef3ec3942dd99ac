"""The batch's shortcuts (``digest.ranking.batch``, ``batch_walk``, ``batch_explain``, ``matrix``) give what
the plain path gives, on varied inputs.

A chunk of readers finds its candidates from the dense totals and works out the
words again only where a keyword mentioned in passing goes over its cap; a reader
alone asks ``select.qualified_mask``. The matrix finds the terms of the keywords
it knows in one pass and fills their rows together; ``Matrix.term`` makes them one
at a time, and each row must hold its keyword's columns. The batch walk sorts
every reader's candidates by one integer key; a reader alone walks them one at a
time. The explainer looks up and zips the picks' matches; ``select`` names them
keyword by keyword. Hypothesis draws the readers' keywords, weights, exclusions,
floors (0 and below too), candidates, places and picks.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest.ranking.batch import Batch
from digest.ranking.batch_explain import Explainer
from digest.ranking.batch_walk import NO_LIMIT, Candidates, walk_many
from digest.ranking.columns import Columns, columns
from digest.ranking.explain import Match, matches_by_code
from digest.ranking.index import Index
from digest.ranking.matrix import Matrix
from digest.ranking.profile import Keyword, Profile, parse_profile
from digest.ranking.rules import Rules
from digest.ranking.select import TIE, Selection, qualified_mask, rank

from .test_rank_oracle import LISTINGS

PAPERS = LISTINGS[1][1]  # many equal scores
INDEXES = {"rules": Index(PAPERS, rules=Rules()), "none": Index(PAPERS, rules=Rules.none())}
WORDS = ["curiosity", "driven exploration", "reinforcement learning", "language model*", "agents", "world model",
         '"policy gradient"', "reward", "diffusion", "robot", "survey", "benchmark"]
FLOORS = [-1.0, 0.0, 0.3, 1.0, 2.0, 3.5, 8.0]

keyword = st.tuples(st.sampled_from(WORDS), st.sampled_from(["", "^2", "^0.5", "^3"]))
profile = st.tuples(st.lists(keyword, min_size=1, max_size=6), st.lists(st.sampled_from(WORDS), max_size=2))


def _parse(wanted: list[tuple[str, str]], excluded: list[str]) -> Profile:
    return parse_profile(", ".join([w + weight for w, weight in wanted] + ["-" + w for w in excluded]))


def _qualified_alone(index: Index, reader: Profile, floor: float) -> list[int]:
    table = columns(index)
    totals = table.totals(reader.wanted)
    removed = table.removed(reader.excluded)
    if removed is not None:
        totals[removed] = 0.0
    return np.flatnonzero(qualified_mask(table, reader, totals, floor)).tolist()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(readers=st.lists(st.tuples(profile, st.sampled_from(FLOORS)), min_size=1, max_size=12),
       rules=st.sampled_from(sorted(INDEXES)))
def test_a_chunks_candidates_are_the_papers_each_reader_qualifies_alone(readers: list, rules: str) -> None:
    index = INDEXES[rules]
    profiles = [_parse(*spec) for spec, _ in readers]
    selections = [Selection(10, floor) for _, floor in readers]
    firsts = Batch(index).scores(profiles, selections, [set()] * len(profiles))
    for reader, selection, first in zip(profiles, selections, firsts):
        assert first is not None
        assert first.candidates.tolist() == _qualified_alone(index, reader, selection.min_score)


@settings(max_examples=60, deadline=None)
@given(picks=st.lists(st.integers(0, 40), max_size=60), split=st.integers(0, 60))
def test_a_matrix_finds_the_terms_it_makes_one_at_a_time(picks: list[int], split: int) -> None:
    """Keywords repeated, new ones among known ones, over two calls: the same terms, rows and matches."""
    index = INDEXES["rules"]
    pool = [k for n in range(8) for k in _parse([(WORDS[n], ""), (WORDS[n + 4], "^2")], []).wanted]
    pool += [k for k in _parse([(w, "") for w in WORDS[:6]], []).wanted]  # the same words, other objects
    keywords = [pool[n % len(pool)] for n in picks]
    one, many = Matrix(columns(index), len(PAPERS)), Matrix(columns(index), len(PAPERS))
    singly = [one.term(k) for k in keywords]
    together = many.terms(keywords[:split]).tolist() + many.terms(keywords[split:]).tolist()
    assert together == singly
    assert many.rows(np.array(together, dtype=np.intp)).tolist() == one.rows(np.array(singly, dtype=np.intp)).tolist()
    assert many.matches == one.matches
    rows = len(set(one.rows(np.array(singly, dtype=np.intp)).tolist()))
    for kind in ("scores", "passing"):
        assert all(np.array_equal(a, b) for a, b in zip(many.sparse(kind), one.sparse(kind)))
    assert np.array_equal(many.scores[:rows + 1], one.scores[:rows + 1])
    assert np.array_equal(many.codes[:rows + 1], one.codes[:rows + 1])


LARGE = max((papers for _, papers in LISTINGS), key=len)  # many distinct words: the matrix grows
WIDE = {"rules": Index(LARGE, rules=Rules()), "none": Index(LARGE, rules=Rules.none())}
TITLE_WORDS = sorted({w.lower() for p in LARGE for w in p.title.split() if w.isalpha()})[:400]
POOL = [k for n in range(0, len(TITLE_WORDS), 2)
        for k in _parse([(TITLE_WORDS[n], ""), (" ".join(TITLE_WORDS[n:n + 2]), "^2")], []).wanted]


@settings(max_examples=30, deadline=None)
@given(picks=st.lists(st.lists(st.integers(0, 2 * len(POOL)), min_size=1, max_size=150), min_size=1, max_size=3),
       rules=st.sampled_from(sorted(WIDE)))
def test_a_keywords_row_holds_its_columns(picks: list[list[int]], rules: str) -> None:
    """Dense and sparse, whatever the keywords that came before it (``picks``: a batch's each) and with it."""
    _rows_hold_their_columns([[POOL[n % len(POOL)] for n in batch] for batch in picks], rules)


@pytest.mark.parametrize("rules", sorted(WIDE))
def test_a_matrix_grown_batch_after_batch_holds_every_keywords_columns(rules: str) -> None:
    keywords = POOL + POOL[::3]
    _rows_hold_their_columns([keywords[n:n + 37] for n in range(0, len(keywords), 37)], rules)


def _rows_hold_their_columns(batches: list[list[Keyword]], rules: str) -> None:
    table = columns(WIDE[rules])
    matrix = Matrix(table, len(LARGE))
    rows = [row for batch in batches for row in matrix.rows(matrix.terms(batch)).tolist()]
    scores, passing = matrix.sparse("scores"), matrix.sparse("passing")
    for keyword, row in zip([k for batch in batches for k in batch], rows):
        column = table.scores(keyword)
        assert np.array_equal(matrix.scores[row], column)
        assert matrix.codes[row].tobytes() == table.code_bytes(keyword)
        offsets, numbers, values = scores
        assert numbers[offsets[row]:offsets[row + 1]].tolist() == np.flatnonzero(column).tolist()
        assert values[offsets[row]:offsets[row + 1]].tolist() == column[column != 0].tolist()
        offsets, numbers, values = passing
        mentioned = table.passing(keyword).tolist() if WIDE[rules].rules.passing else []
        assert numbers[offsets[row]:offsets[row + 1]].tolist() == mentioned
        assert values[offsets[row]:offsets[row + 1]].tolist() == column[mentioned].tolist()


TOTALS = [1.0, 2.5, 2.5 + 5e-7, 2.5 + 3e-6, 7.25, 7.25 - 2e-7, 40.0, 1e9]  # equal, within TIE, a little apart
WALK_PLACES = [0, 1, 2, 5, NO_LIMIT]

candidate = st.tuples(st.sampled_from(TOTALS), st.integers(0, 3), st.booleans(), st.integers(0, 30).map(lambda n: n < 2))
reader_walk = st.tuples(st.dictionaries(st.integers(0, 39), candidate, max_size=25),
                        st.lists(st.sampled_from(WALK_PLACES), min_size=4, max_size=4), st.sampled_from([None, 1, 3, 10]))


@settings(max_examples=150, deadline=None)
@given(readers=st.lists(reader_walk, min_size=1, max_size=8), ties=st.permutations(range(40)),
       far=st.booleans())
def test_the_batch_walk_is_each_readers_walk_down_its_candidates(readers: list, ties: list[int], far: bool) -> None:
    """Best first (total, then ``tie``), a keyword's places used then waiting; a reader with totals closer
    than ``TIE`` but not equal, or a repeated title, is left to the step-by-step walk (``far``: totals too far
    apart for ``_best_first``'s one integer key, whose fallback may leave a few more readers to it)."""
    rows, numbers, totals, owners, eligible, twin = [], [], [], [], [], []
    for r, (papers, _, _) in enumerate(readers):
        for number in sorted(papers):
            total, owner, ok, repeated = papers[number]
            rows.append(r), numbers.append(number), totals.append(total * (1e12 if far else 1.0))
            owners.append(owner), eligible.append(ok), twin.append(repeated)
    found = Candidates(np.array(rows, dtype=np.intp), np.array(numbers, dtype=np.intp), np.array(totals),
                       np.array(owners, dtype=np.intp), np.array(ties, dtype=np.intp)[numbers] if numbers else
                       np.zeros(0, dtype=np.intp), np.array(eligible, dtype=bool), np.array(twin, dtype=bool))
    quota = np.array([places for _, places, _ in readers], dtype=np.intp)
    most = [m for _, _, m in readers]
    picked, ends, slow = walk_many(found, quota, most)
    for r, (papers, places, limit) in enumerate(readers):
        values = sorted({total * (1e12 if far else 1.0) for total, _, _, _ in papers.values()})
        near = any(0 < b - a < TIE for a, b in zip(values, values[1:]))
        alone = near or any(repeated for _, _, _, repeated in papers.values())
        assert slow[r] == alone if not far else slow[r] >= alone  # far apart: scaled totals may round together
        if not slow[r]:
            assert picked[ends[r]:ends[r + 1]].tolist() == _walked_alone(found, r, places, limit, ties)


def _walked_alone(found: Candidates, r: int, places: list[int], limit: int | None, ties: list[int]) -> list[int]:
    """The positions (in ``found``) of reader ``r``'s picks, walked one candidate at a time."""
    mine = sorted(np.flatnonzero(found.rows == r).tolist(),
                  key=lambda n: (-found.totals[n], ties[found.numbers[n]]))
    used = [0] * len(places)
    first, waiting = [], []
    for n in mine:
        if found.eligible[n]:
            owner = int(found.owners[n])
            (first if used[owner] < places[owner] else waiting).append(n)
            used[owner] += used[owner] < places[owner]
    full = limit or len(mine)
    chosen = first[:full] + waiting[:max(full - len(first), 0)]
    return sorted(chosen, key=mine.index)


@settings(max_examples=40, deadline=None)
@given(readers=st.lists(st.lists(st.integers(0, min(19, len(POOL) - 1)), min_size=1, max_size=6), min_size=1,
                        max_size=10),
       picks=st.lists(st.tuples(st.integers(0, 9), st.integers(0, 10 ** 6)), max_size=40))
def test_a_picks_matches_are_the_keywords_that_name_it_fully_first(readers: list[list[int]],
                                                                    picks: list[tuple[int, int]]) -> None:
    """Each keyword whose code for the paper is not 0, in the reader's order; of several, the full matches
    when there are any (``select``'s rule), for picks named by no keyword, one or several."""
    table = columns(WIDE["rules"])
    wanted = [[POOL[n] for n in mine] for mine in readers]
    matrix = Matrix(table, len(LARGE))
    grid = np.zeros((len(wanted), 6), dtype=np.intp)
    for r, keywords in enumerate(wanted):
        grid[r, :len(keywords)] = matrix.terms(keywords)
    named = [np.flatnonzero(np.logical_or.reduce([table.codes(k) > 0 for k in keywords])) for keywords in wanted]
    chosen = []
    for r, n in picks:
        mine = named[r % len(wanted)]  # most picks among the papers a keyword names, a few anywhere
        chosen.append((r % len(wanted), int(mine[n % len(mine)]) if len(mine) and n % 5 else n % len(LARGE)))
    found = Explainer(matrix).explained(grid, np.array([r for r, _ in chosen], dtype=np.intp),
                                        np.array([n for _, n in chosen], dtype=np.intp))
    assert found == [_named(table, wanted[r], number) for r, number in chosen]


def _named(table: Columns, keywords: list[Keyword], number: int) -> tuple[Match, ...]:
    named = [matches_by_code(k.text)[table.code_bytes(k)[number]] for k in keywords if table.code_bytes(k)[number]]
    full = [m for m in named if m is not None and not m.partial]
    return tuple(full if len(named) > 1 and full else named)  # type: ignore[arg-type]


@pytest.mark.parametrize("chunk", [1, 7, 64])
def test_readers_split_into_chunks_of_any_size_get_their_picks_ranked_alone(chunk: int) -> None:
    index = INDEXES["rules"]
    profiles = [_parse([(WORDS[n % 12], ""), (WORDS[(3 * n + 1) % 12], "^2")], [WORDS[(5 * n) % 12]] if n % 3 else [])
                for n in range(50)]
    selections = [Selection(5, [0.0, 1.0, 2.0][n % 3]) for n in range(50)]
    batch = Batch(index)
    batch.chunk = chunk
    firsts = batch.scores(profiles, selections, [set()] * len(profiles))
    for profile, selection, first in zip(profiles, selections, firsts):
        assert [(p.paper.id, p.score, p.matched) for p in rank(index, profile, selection=selection, first=first)] == \
            [(p.paper.id, p.score, p.matched) for p in rank(index, profile, selection=selection)]
