"""The never-twice answer is compact, and answers exactly what the old sets of ids did.

``sent_among`` used to hand out a Python set per reader (229 bytes a pair); it now keeps
per reader the positions of their papers among today's ids and hands out a read-only
view. Whatever the history, the view must say the same as the set the old code built:
membership of any id (today's, older ones, never seen), iteration, length, equality.
"""

from __future__ import annotations

import itertools
import random
import tempfile
from collections.abc import Collection
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest.store import Store

EMAILS = [f"reader{n}@example.org" for n in range(12)] + ["Chloé@Example.fr", "o'brien@example.ie"]
PAPERS = [f"2608.{n:05d}" for n in range(40)] + ["hep-th/9901001", "x'); DROP TABLE sent; --", "ünïcode"]


def old_sets(store: Store, today: Collection[str], emails: Collection[str] | None) -> dict[str, set[str]]:
    """What the old code answered: every (reader, paper) pair among today's, as sets."""
    wanted = None if emails is None else {e.lower() for e in emails}
    out: dict[str, set[str]] = {}
    for email, ids in store.all_sent_ids().items():
        if (wanted is None or email in wanted) and ids & set(today):
            out[email] = ids & set(today)
    return out


def assert_same(view: Collection[str], expected: set[str], probes: list[str]) -> None:
    for paper_id in probes:
        assert (paper_id in view) == (paper_id in expected), paper_id
    assert sorted(view) == sorted(expected) and len(view) == len(expected)
    assert view == expected and expected == view and not view != expected
    assert view & {probes[0]} == expected & {probes[0]}
    assert set(view) | {"extra"} == expected | {"extra"}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), readers_only=st.booleans())
def test_the_view_answers_what_the_old_sets_did_on_a_random_history(seed: int, readers_only: bool) -> None:
    rng = random.Random(seed)
    numbers = itertools.count()
    with tempfile.TemporaryDirectory() as tmp, Store.open(Path(tmp) / "state.db") as store:
        for _ in range(rng.randint(1, 6)):  # a few days of sends, some refused
            store.record_deliveries(
                (email, f"<{next(numbers)}@example.org>", rng.sample(PAPERS, rng.randint(0, 8)),
                 "550 no such user" if rng.random() < 0.2 else None)
                for email in rng.sample(EMAILS, rng.randint(1, len(EMAILS))))
        today = rng.sample(PAPERS, rng.randint(0, len(PAPERS))) + ["2699.99999"]  # one never sent
        emails = rng.sample(EMAILS, rng.randint(0, 4)) + ["nobody@example.org"] if readers_only else None
        answer = store.sent_among(today, emails)
        expected = old_sets(store, today, emails)
        assert sorted(answer) == sorted(expected) and len(answer) == len(expected)
        assert answer == expected
        for email in EMAILS + ["nobody@example.org"]:
            assert (email.lower() in answer) == (email.lower() in expected)
            assert_same(answer.get(email.lower(), frozenset()), expected.get(email.lower(), set()),
                        PAPERS + ["2699.99999", "never-seen"])
        for a, b in itertools.product(answer, repeat=2):  # two lookups are two views: equal as their sets are
            assert (answer[a] == answer[b]) == (expected[a] == expected[b]), (a, b)
            assert (answer[a] != answer[b]) == (expected[a] != expected[b]), (a, b)


def test_a_view_is_read_only_and_its_set_operations_give_plain_sets(tmp_path: Path) -> None:
    with Store.open(tmp_path / "state.db") as store:
        store.record_deliveries([("ada@example.org", "<1@x>", ["2608.00001", "2608.00002"], None)])
        view = store.sent_among(["2608.00001", "2608.00002", "2608.00003"])["ada@example.org"]
        assert not hasattr(view, "add") and not hasattr(view, "discard")
        assert view - {"2608.00001"} == frozenset({"2608.00002"})
        assert isinstance(view | {"2608.00003"}, frozenset)
        assert repr(view) == "SentPapers(['2608.00001', '2608.00002'])"
        assert 2608.00001 not in view  # a number is not an id


def test_more_ids_than_two_bytes_can_number_are_kept_in_four(tmp_path: Path) -> None:
    today = [f"id{n:06d}" for n in range(70_000)]  # positions past 65,535
    last = today[-1]
    with Store.open(tmp_path / "state.db") as store:
        store.record_deliveries([("ada@example.org", "<1@x>", [today[3], last], None)])
        answer = store.sent_among(today)
    assert answer == {"ada@example.org": {today[3], last}}
    assert last in answer["ada@example.org"] and today[65_535] not in answer["ada@example.org"]


@pytest.mark.parametrize("few", [False, True])
def test_a_reader_with_nothing_among_todays_papers_is_absent(tmp_path: Path, few: bool) -> None:
    with Store.open(tmp_path / "state.db") as store:
        store.record_deliveries([("ada@example.org", "<1@x>", ["2608.00001"], None),
                                 ("bob@example.org", "<2@x>", ["2608.00009"], None)])
        answer = store.sent_among(["2608.00001"], ["ada@example.org", "bob@example.org"] if few else None)
    assert list(answer) == ["ada@example.org"] and "bob@example.org" not in answer
