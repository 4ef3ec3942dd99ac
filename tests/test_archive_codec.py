"""The archive's bytes: a ranked run packed in a few bits a paper comes back as it went in, and what
earlier versions wrote (format 1 records, tails of varints) is still read, through the store's API.

Round trips are property tests over free inputs; the stored forms of before are built byte by byte
from their documented layout and read from a real SQLite file.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from digest.model import Paper
from digest.store import KeptDigest, KeptPick, Store
from digest.store.codec import decode_record, decode_tail, encode_record, encode_tail, keys_of

TERMS = ("diffusion", "reward model", "agents", "survey")
SENT_ON = date(2026, 11, 23)


@dataclass
class Ranked:
    score: float
    rank: int
    matched: tuple[tuple[str, bool], ...]


matches = st.lists(st.tuples(st.sampled_from(TERMS), st.booleans()), max_size=3, unique_by=lambda m: m[0])
runs = st.lists(st.tuples(st.integers(0, 10**7), st.integers(-5000, 60000), matches.map(tuple)), max_size=60)


@given(runs, st.integers(0, 10**6), st.integers(0, 800_000))
def test_a_record_comes_back_as_it_was_written(run: list, total: int, since: int) -> None:
    picks = [Ranked(milli / 1000, rank, found) for rank, (_, milli, found) in enumerate(run, 1)]
    keys = [key for key, _, _ in run]
    record = encode_record(total, since, picks, keys, {term: n for n, term in enumerate(TERMS)})

    again_keys, header, again = decode_record(record, TERMS)

    assert header == (total, since, len(run)) and again_keys == keys == keys_of(record)
    assert again == [(p.score, p.rank, p.matched) for p in picks]


@given(st.lists(st.integers(1, 400), min_size=1, max_size=20))
def test_ranks_that_are_not_one_to_n_are_kept_as_they_are(ranks: list[int]) -> None:
    picks = [Ranked(1.0, rank, ()) for rank in ranks]
    _, _, again = decode_record(encode_record(0, 0, picks, list(range(len(ranks))), {}), TERMS)
    assert [rank for _, rank, _ in again] == ranks


@given(runs, st.integers(0, 500))
def test_a_tail_comes_back_ranked_after_the_last_pick(run: list, last: int) -> None:
    more = [Ranked(milli / 1000, 0, found) for _, milli, found in run]
    keys = [key for key, _, _ in run]

    again_keys, again = decode_tail(encode_tail(more, keys, {t: n for n, t in enumerate(TERMS)}), TERMS, last)

    assert again_keys == keys
    assert again == [(p.score, last + n, p.matched) for n, p in enumerate(more, 1)]


def test_a_long_tail_costs_about_two_and_a_half_bytes_a_paper() -> None:
    """300 papers of a day's 1,000, scores falling by a few thousandths, a handful of match sets."""
    more = [Ranked((9000 - 29 * n) / 1000, 0, ((TERMS[n % 3], n % 5 == 0),)) for n in range(300)]
    keys = [5000 + (n * 337) % 1000 for n in range(300)]
    assert len(encode_tail(more, keys, {t: n for n, t in enumerate(TERMS)})) <= 2.6 * 300


def varints(*values: int) -> bytes:
    out = bytearray()
    for value in values:
        while value >= 0x80:
            out.append((value & 0x7F) | 0x80)
            value >>= 7
        out.append(value)
    return bytes(out)


def test_records_and_tails_written_before_are_still_read(tmp_path: Path) -> None:
    papers = [Paper(id=f"2611.{n:05d}", title=f"Paper {n}", abstract="About it.") for n in range(4)]
    digest = KeptDigest(email="ada@example.org", message_id="<1@x>", sent_on=SENT_ON, source="arXiv cs.LG",
                        day=SENT_ON, templates="t1", total=4, keywords=("diffusion", "agents"),
                        terms=("diffusion", "agents"),
                        picks=(KeptPick(papers[0], 2.5, 1, (("diffusion", False),)),),
                        more=tuple(KeptPick(p, 2.0, n, ()) for n, p in enumerate(papers[1:], 2)))
    with Store.open(tmp_path / "state.db") as store:
        store.archive_digests([digest])
        keys = [store.archive_paper(p, SENT_ON) for p in papers]
        # format 1: total, since, count; per pick key, rank, 32-bit score, matches (count, 2 * term + partly)
        record = bytes([1]) + varints(4, 0, 1, keys[0], 1) + struct.pack("<f", 2.5) + varints(1, 0)
        # a tail of before: count, smallest key; per paper key above it, zigzag drop in thousandths, matches
        base = min(keys[1:])
        tail = varints(3, base, keys[1] - base, 2 * 2000 - 1, 1, 3, keys[2] - base, 0, 0, keys[3] - base, 2 * 500, 0)
        store.db.execute("UPDATE archive_records SET record = :r", {"r": record})
        store.db.execute("UPDATE archive_lists SET tail = :t", {"t": tail})

        again = store.kept_digest("ada@example.org", SENT_ON.isoformat())

    assert again is not None and again.picks == digest.picks
    assert [(p.paper.id, p.score, p.rank, p.matched) for p in again.more] == [
        (papers[1].id, 2.0, 2, (("agents", True),)), (papers[2].id, 2.0, 3, ()), (papers[3].id, 1.5, 4, ())]


def test_a_message_id_of_make_msgid_is_kept_as_three_numbers_and_its_domain_once(tmp_path: Path) -> None:
    from email.utils import make_msgid

    ids = [make_msgid(domain="digest.example.org") for _ in range(3)] + ["<0123.4.5@x.org>", "<odd@x.org>"]
    digests = [KeptDigest(email=f"r{n}@example.org", message_id=mid, sent_on=SENT_ON, source="arXiv cs.LG",
                          day=SENT_ON, templates="t1", keywords=("diffusion",), terms=("diffusion",))
               for n, mid in enumerate(ids)]
    with Store.open(tmp_path / "state.db") as store:
        store.archive_digests(digests)
        columns = [row[0] for row in store.db.execute("SELECT message_id FROM archive_records ORDER BY reader")]
        editions = store.db.execute("SELECT count(*) FROM archive_editions").fetchone()[0]
        again = [store.kept_digest(f"r{n}@example.org", SENT_ON.isoformat()) for n in range(len(ids))]

    assert [kept.message_id for kept in again if kept] == ids
    assert columns == ["", "", "", "<0123.4.5@x.org>", "<odd@x.org>"]  # a leading zero would not come back
    assert editions == 2  # with the domain, and without


def test_a_profile_written_before_as_an_object_is_still_read(tmp_path: Path) -> None:
    digest = KeptDigest(email="Ada@Example.org", message_id="<1@x>", sent_on=SENT_ON, source="arXiv cs.LG",
                        day=SENT_ON, templates="t1", name="Ada", keywords=('"reward model"',), terms=("reward model",),
                        authors=("Ada Lovelace",))
    with Store.open(tmp_path / "state.db") as store:
        store.archive_digests([digest])
        store.db.execute("UPDATE archive_profiles SET value = :v", {"v": '{"email":"Ada@Example.org","name":"Ada",'
                         '"keywords":["\\"reward model\\""],"terms":["reward model"],"authors":["Ada Lovelace"]}'})
        before = store.kept_digest("ada@example.org", SENT_ON.isoformat())
        store.archive_digests([replace(digest, sent_on=SENT_ON.replace(day=24))])
        now = store.kept_digest("ada@example.org", "2026-11-24")

    assert before == digest
    assert now == replace(digest, sent_on=SENT_ON.replace(day=24))
