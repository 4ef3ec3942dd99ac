"""The bytes of an archive record and of a whole list's tail (``archive``): a few bits a paper.

A ranked run of papers (a digest's picks, or the papers beyond them) is packed as
a short header of varints and then a bit stream, per paper:

- its key above the run's smallest, in as many bits as the largest needs
  (a day's papers are stored together, so their keys are close);
- its score's drop from the one before, in thousandths (the ranker's precision),
  zigzag and exponential-Golomb coded with the order that makes the run shortest
  (scores fall with the rank: mostly a few bits);
- which of the run's distinct sets of matched keywords it has, by number (a
  reader's papers share a handful of them), the sets themselves in the header.

A record starts with its format: 1 (what this version wrote before: varints and a
32-bit float per pick) is still read; 2 is the header (total, since, count), flags
(the ranks are not 1..n, and follow; the Message-ID's three numbers follow, its domain
kept once per edition), then the packed picks. A tail written before
is a count then varints per paper; one packed starts with a zero byte (an old tail
never does: its count is at least 1) and its format.
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Sequence
from typing import Protocol

OLD, PACKED = 1, 2  # record formats
TAIL = b"\x00\x02"  # a packed tail's first bytes

Matches = tuple[tuple[str, bool], ...]
Unpacked = tuple[float, int, Matches]  # (score, rank, matches) of one paper


class Ranked(Protocol):
    @property
    def score(self) -> float: ...
    @property
    def rank(self) -> int: ...
    @property
    def matched(self) -> Matches: ...


def encode_record(total: int, since: int, picks: Sequence[Ranked], keys: Sequence[int],
                  index: dict[str, int], message: tuple[int, int, int] | None = None) -> bytes:
    """Format 2: the header; flags (the ranks are not 1..n: they follow; the Message-ID's three numbers
    follow, ``message``); then the picks packed."""
    out = bytearray([PACKED])
    for value in (total, since, len(picks)):
        varint(out, value)
    ranks = [pick.rank for pick in picks]
    numbered = ranks == list(range(1, len(picks) + 1))
    varint(out, (not numbered) | (message is not None) << 1)
    for value in ([] if numbered else ranks) + list(message or ()):
        varint(out, value)
    out += pack(picks, keys, index)
    return bytes(out)


def encode_tail(more: Sequence[Ranked], keys: Sequence[int], index: dict[str, int]) -> bytes:
    """The papers beyond the picks, packed (their ranks follow the last pick's)."""
    return TAIL + pack(more, keys, index)


def header(record: bytes) -> tuple["Varints", tuple[int, int, int]]:
    """A reader placed after the header, and the header: (total, since, how many picks)."""
    if record[0] not in (OLD, PACKED):
        raise ValueError(f"archive record format {record[0]} is newer than this digest")
    reader = Varints(record, 1)
    return reader, (reader.next(), reader.next(), reader.next())


def decode_record(record: bytes, terms: Sequence[str]) -> tuple[list[int], tuple[int, int, int], list[Unpacked]]:
    """Keys, the header and (score, rank, matches) of the picks."""
    return _decode_record(record, terms)[:3]  # type: ignore[return-value]


def message_numbers(record: bytes) -> tuple[int, int, int] | None:
    """The three numbers of the Message-ID a record carries (None: it is kept as text beside the record)."""
    return _decode_record(record, None)[3]


def _decode_record(record: bytes, terms: Sequence[str] | None) -> tuple[list[int], tuple[int, int, int], list[Unpacked],
                                                                 tuple[int, int, int] | None]:
    reader, head = header(record)
    count = head[2]
    if record[0] == OLD:
        keys, picks = [], []
        for _ in range(count):
            keys.append(reader.next())
            rank = reader.next()
            picks.append((reader.float32(), rank, _old_matches(reader, terms)))
        return keys, head, picks, None
    flags = reader.next()
    ranks = [reader.next() for _ in range(count)] if flags & 1 else list(range(1, count + 1))
    message = (reader.next(), reader.next(), reader.next()) if flags & 2 else None
    keys, scores, matches = unpack(reader, terms)
    return keys, head, [(score, rank, found) for score, rank, found in zip(scores, ranks, matches)], message


def keys_of(record: bytes) -> list[int]:
    """The paper keys of a record, in rank order (what ``decode_record`` reads, without the reader's terms)."""
    return _decode_record(record, None)[0]


def decode_tail(tail: bytes, terms: Sequence[str], last: int) -> tuple[list[int], list[Unpacked]]:
    """Keys and (score, rank, matches) of the papers beyond the picks, ranked after ``last``."""
    if tail[:2] == TAIL:
        keys, scores, matches = unpack(Varints(tail, 2), terms)
        return keys, [(score, last + n, found) for n, (score, found) in enumerate(zip(scores, matches), 1)]
    reader = Varints(tail, 0)  # written before: varints per paper
    count, base = reader.next(), reader.next()
    keys, papers, milli = [], [], 0
    for number in range(count):
        keys.append(base + reader.next())
        milli -= unzigzag(reader.next())
        papers.append((milli / 1000, last + number + 1, _old_matches(reader, terms)))
    return keys, papers


# a ranked run, packed ---------------------------------------------------------------------

def pack(papers: Sequence[Ranked], keys: Sequence[int], index: dict[str, int]) -> bytes:
    """Header varints (count, base key, key bits, first score, the Golomb order, the match sets), then bits."""
    out = bytearray()
    varint(out, len(papers))
    if not papers:
        return bytes(out)
    base = min(keys)
    width = (max(keys) - base).bit_length()
    millis = [round(p.score * 1000) for p in papers]
    drops = [zigzag(before - now) for before, now in zip(millis, millis[1:])]
    order = _best_order(drops)
    sets: dict[Matches, int] = {}  # each distinct set of matches, numbered in order of appearance
    codes = [sets.setdefault(p.matched, len(sets)) for p in papers]
    for value in (base, width, zigzag(millis[0]), order, len(sets)):
        varint(out, value)
    for found in sets:
        varint(out, len(found))
        for keyword, partly in found:
            varint(out, 2 * index[keyword] + partly)
    return bytes(out) + _bits(keys, base, width, drops, order, codes, (len(sets) - 1).bit_length())


def _bits(keys: Sequence[int], base: int, width: int, drops: Sequence[int], order: int, codes: Sequence[int],
          set_width: int) -> bytes:
    """Per paper its key, its drop (exponential-Golomb: as many zeros as the bits after the first, then the
    bits of drop + 2**order) and its set of matches, most significant bit first: shifted into an integer a
    few hundred bits at a time (one integer for all would be copied whole at each shift)."""
    parts: list[str] = []
    value, size, step = (keys[0] - base) << set_width | codes[0], width + set_width, 1 << order
    for key, drop, code in zip(keys[1:], drops, codes[1:]):
        shifted = drop + step
        golomb = 2 * shifted.bit_length() - order - 1
        value = (((value << width | key - base) << golomb | shifted) << set_width) | code
        size += width + golomb + set_width
        if size > 512:
            parts.append(f"{value:0{size}b}")
            value = size = 0
    parts.append(f"{value:0{size}b}" if size else "")
    digits = "".join(parts)
    digits += "0" * (-len(digits) % 8)
    return int(digits, 2).to_bytes(len(digits) // 8, "big") if digits else b""


def unpack(reader: "Varints", terms: Sequence[str] | None) -> tuple[list[int], list[float], list[Matches]]:
    count = reader.next()
    if not count:
        return [], [], []
    base, width, first, order, many = (reader.next() for _ in range(5))
    sets = [tuple(_term(terms, code) for code in [reader.next() for _ in range(reader.next())]) for _ in range(many)]
    data = reader.data[reader.position:]
    bits = format(int.from_bytes(data, "big"), f"0{8 * len(data)}b") if data else ""
    set_width = (many - 1).bit_length()
    keys, scores, matches = [], [], []
    milli, at, step = unzigzag(first), 0, 1 << order
    for number in range(count):
        keys.append(base + int(bits[at:at + width] or "0", 2))
        at += width
        if number:
            one = bits.index("1", at)  # the drop's zeros end where its bits begin
            end = 2 * one - at + order + 1
            milli -= unzigzag(int(bits[one:end], 2) - step)
            at = end
        scores.append(milli / 1000)
        matches.append(sets[int(bits[at:at + set_width] or "0", 2)])
        at += set_width
    return keys, scores, matches


def _best_order(drops: Sequence[int]) -> int:
    """The exponential-Golomb order that codes ``drops`` shortest, among those near their mean's size."""
    guess = (sum(drops) // len(drops)).bit_length() if drops else 0
    if len(drops) < 32:  # a digest's picks: a few bits more or less
        return max(guess - 1, 0)
    counts = Counter(drops)
    return min(range(max(guess - 1, 0), guess + 2),
               key=lambda k: sum(n * (2 * (d + (1 << k)).bit_length() - k - 1) for d, n in counts.items()))


# varints ------------------------------------------------------------------------------------

def varint(out: bytearray, value: int) -> None:
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def zigzag(value: int) -> int:
    return 2 * value if value >= 0 else -2 * value - 1


def unzigzag(value: int) -> int:
    return value // 2 if value % 2 == 0 else -(value + 1) // 2


class Varints:
    def __init__(self, data: bytes, position: int) -> None:
        self.data, self.position = data, position

    def next(self) -> int:
        value = shift = 0
        while True:
            byte = self.data[self.position]
            self.position += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7

    def float32(self) -> float:
        (value,) = struct.unpack_from("<f", self.data, self.position)
        self.position += 4
        return float(value)


def _old_matches(reader: Varints, terms: Sequence[str] | None) -> Matches:
    return tuple(_term(terms, code) for code in [reader.next() for _ in range(reader.next())])


def _term(terms: Sequence[str] | None, code: int) -> tuple[str, bool]:
    """A match's keyword and whether partly (no keyword text where only the keys are wanted: ``terms`` None)."""
    return (terms[code >> 1] if terms is not None else "", bool(code & 1))
