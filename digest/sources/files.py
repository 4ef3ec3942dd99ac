"""Listing files on disk, read without holding more of them in memory than needed.

JSON Lines is read one line at a time, and past ``DIGEST_MAX_PAPERS`` papers its lines are only
counted, so a 200 MB file costs what 5,000 papers cost. The other formats must be
parsed whole; they are read only up to ``DIGEST_HTTP_MAX_BYTES``, the same bound a
response from the web has, and past ``DIGEST_MAX_PAPERS`` their items are only counted too.
"""

from __future__ import annotations

import codecs
import io
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import BinaryIO, Protocol

from ..errors import ListingError
from ..model import Listing
from .json_formats import Warnings, parse_jsonl
from .parse import no_papers, parse_listing, sniff_encoding

SNIFF_BYTES = 64 * 1024
MAX_LINE_BYTES = 1_000_000  # a paper is a few kB; a longer line is skipped, not held


def load_listing_file(
    path: Path,
    *,
    today: date | None = None,
    announce_types: frozenset[str] | None = None,
    max_papers: int | None = None,
    max_bytes: int | None = None,
) -> Listing:
    source = str(path)
    with _open(path) as handle:
        head = _sniff(handle, source)
        if is_json_lines(head):
            return _stream_jsonl(_Replay(head, handle), source, max_papers)
        limit = max_bytes if max_bytes is not None else -1
        rest = _read(handle, max(limit + 1 - len(head), 0) if limit >= 0 else -1, source)
    data = head + rest
    if max_bytes is not None and len(data) > max_bytes:
        raise ListingError(source, f"larger than {describe_size(max_bytes)} (DIGEST_HTTP_MAX_BYTES), "
                           "the limit for a listing read whole; save it as JSON Lines "
                           "(digest papers --json) or raise DIGEST_HTTP_MAX_BYTES")
    return parse_listing(data, source, today=today, announce_types=announce_types, max_papers=max_papers)


def _sniff(handle: BinaryIO, source: str) -> bytes:
    """The start of the file: ``SNIFF_BYTES``, or, when that holds only part of a first line that opens a JSON
    object, all of that line (up to ``MAX_LINE_BYTES``) and some of the next: a first paper with 3,000 authors
    (a collaboration's) is a 90 kB line, and its file is JSON Lines all the same."""
    head = _read(handle, SNIFF_BYTES, source)
    start = head.removeprefix(codecs.BOM_UTF8).lstrip()
    if start.startswith(b"{") and b"\n" not in start:
        head += _readline(handle, source) + _read(handle, SNIFF_BYTES, source)
    return head


def is_json_lines(head: bytes) -> bool:
    """UTF-8 whose first line is a whole JSON object, with more after it."""
    if sniff_encoding(head) not in ("utf-8", "utf-8-sig"):
        return False
    text = head.removeprefix(codecs.BOM_UTF8).lstrip()
    first, newline, rest = text.partition(b"\n")
    if not newline or not first.rstrip().startswith(b"{") or not rest.strip():
        return False
    try:
        return isinstance(json.loads(first), dict)
    except (ValueError, RecursionError):
        return False


class _Readable(Protocol):
    def readline(self, size: int = -1, /) -> bytes: ...


class _Replay:
    """A file read again from its start, ``head``, which was read already: no seek back to it, which
    a pipe (``--source /dev/stdin``, ``--source <(curl ...)``) cannot do."""

    def __init__(self, head: bytes, handle: BinaryIO) -> None:
        self.head, self.handle = io.BytesIO(head), handle

    def readline(self, size: int = -1, /) -> bytes:
        line = self.head.readline(size)
        if line.endswith(b"\n") or 0 <= size <= len(line):
            return line
        return line + self.handle.readline(size - len(line) if size >= 0 else -1)


def _stream_jsonl(handle: _Readable, source: str, max_papers: int | None) -> Listing:
    collected = Warnings()
    papers, warnings = parse_jsonl(_lines(handle, source, collected), max_papers, collected)
    if not papers:
        raise no_papers(source, warnings)
    return Listing(source=source, papers=papers, warnings=warnings)


def _lines(handle: _Readable, source: str, warnings: Warnings) -> Iterator[str]:
    """Decoded lines; one too long or not UTF-8 becomes a blank line and a warning."""
    number = 0
    while True:
        raw = _readline(handle, source)
        if not raw:
            return
        number += 1
        if len(raw) > MAX_LINE_BYTES:
            _skip_rest_of_line(handle, raw, source)
            warnings.add(f"line {number} skipped: longer than {describe_size(MAX_LINE_BYTES)}")
            yield ""
            continue
        try:
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as err:
            warnings.add(f"line {number} skipped: not valid UTF-8 (bad byte at column {err.start + 1})")
            yield ""


def _readline(handle: _Readable, source: str) -> bytes:
    try:
        return handle.readline(MAX_LINE_BYTES + 1)
    except OSError as err:
        raise ListingError(source, f"cannot read: {err.strerror or err}") from err


def _skip_rest_of_line(handle: _Readable, raw: bytes, source: str) -> None:
    while raw and not raw.endswith(b"\n"):
        raw = _readline(handle, source)


def _open(path: Path) -> BinaryIO:
    source = str(path)
    try:
        return path.open("rb")
    except FileNotFoundError as err:
        raise ListingError(source, "no such file; check the path given to --source") from err
    except IsADirectoryError as err:
        raise ListingError(source, "is a directory; give a listing file") from err
    except PermissionError as err:
        raise ListingError(source, "permission denied") from err
    except OSError as err:
        raise ListingError(source, f"cannot read: {err.strerror or err}") from err


def _read(handle: BinaryIO, size: int, source: str) -> bytes:
    try:
        return handle.read(size)
    except IsADirectoryError as err:
        raise ListingError(source, "is a directory; give a listing file") from err
    except OSError as err:
        raise ListingError(source, f"cannot read: {err.strerror or err}") from err


def describe_size(size: int) -> str:
    for unit, factor in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if size >= factor:
            return f"{size / factor:.3g} {unit}"
    return f"{size} bytes"
