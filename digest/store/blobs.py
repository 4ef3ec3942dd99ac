"""The archive's compressed blobs: a kept paper's JSON and a digest's HTML, packed and unpacked in one place."""

from __future__ import annotations

import json
import zlib

from ..model import Paper, paper_from_stored


def pack_paper(paper: Paper) -> bytes:
    return zlib.compress(json.dumps(paper.to_json(), ensure_ascii=False, separators=(",", ":")).encode(), 6)


def unpack_paper(blob: bytes) -> Paper:
    return paper_from_stored(json.loads(zlib.decompress(blob).decode()))


def pack_html(html: str) -> bytes:
    """Level 1: 4x smaller for about 0.15 ms a digest; higher levels gain a few percent for twice the time."""
    return zlib.compress(html.encode("utf-8"), 1)


def unpack_html(stored: str | bytes) -> str:
    """A compressed copy (BLOB), or the plain text the archive kept before compression."""
    return zlib.decompress(stored).decode("utf-8") if isinstance(stored, bytes) else stored
