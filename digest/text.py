"""Small text helpers for messages and the command line (the ranker's tokenising is ``digest.ranking.tokens``)."""

from __future__ import annotations


def cut_words(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters, cut at a word boundary with an ellipsis.

    A first word longer than the limit is cut inside the word: better than nothing.
    """
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    if not text[limit - 1].isspace() and " " in head:
        head = head.rsplit(" ", 1)[0]
    return head.rstrip(" ,;:·-–—") + "…"


def plural(number: int, word: str) -> str:
    """``1 paper``, ``3 papers``: English nouns with a plain ``s``."""
    return f"{number} {word}" + ("" if number == 1 else "s")
