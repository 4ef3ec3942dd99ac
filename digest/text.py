"""Small text helpers for messages and the command line (the ranker's tokenising is ``digest.ranking.tokens``)."""

from __future__ import annotations

import codecs
import unicodedata

_BOMS = (  # UTF-32 LE first: its mark starts with UTF-16 LE's
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)


def bom_encoding(data: bytes) -> str | None:
    """The codec that reads ``data`` by the byte order mark it starts with (``utf-8-sig``, ``utf-16``,
    ``utf-32``: each drops the mark), or None without one."""
    return next((name for bom, name in _BOMS if data.startswith(bom)), None)


def cut_words(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters, cut at a word boundary with an ellipsis.

    A first word longer than the limit is cut inside the word: better than nothing. Text written without
    spaces between words (Chinese, Japanese) is cut at a character: cut back to the last space, a long
    Chinese title after "12 Mar: 3 papers · " was dropped whole.
    """
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    if not text[limit - 1].isspace() and " " in head and not _unspaced(text[limit - 2:limit]):
        head = head.rsplit(" ", 1)[0]
    return head.rstrip(" ,;:·-–—") + "…"


def _unspaced(around: str) -> bool:
    """Whether the characters at a cut are all of a script written without spaces (``unspaced``)."""
    return all(map(unspaced, around))


def unspaced(ch: str) -> bool:
    """A character of a script written without spaces, a line may break after (wide: CJK ideographs, kana;
    not Korean, which spaces its words: its syllables and jamo)."""
    return unicodedata.east_asian_width(ch) in "WF" and not ("\u1100" <= ch <= "\u11ff" or "\u3130" <= ch <= "\u318f"
                                                            or "\uac00" <= ch <= "\ud7a3")


def plural(number: int, word: str) -> str:
    """``1 paper``, ``3 papers``: English nouns with a plain ``s``."""
    return f"{number} {word}" + ("" if number == 1 else "s")
