"""Tokenising and stemming shared by the index and the queries."""

from __future__ import annotations

import re
from functools import lru_cache

import snowballstemmer

_TOKEN = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*", re.UNICODE)
_STEMMER = snowballstemmer.stemmer("english")

STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
    via also using based new paper propose proposed show""".split()
)


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """Stem one lowercased word; plural acronyms (``llms``) lose their ``s`` first."""
    return _STEMMER.stemWord(word)


def words(text: str) -> list[tuple[str, str]]:
    """``[(raw_lower, stem), ...]``; hyphenated words give their parts."""
    out: list[tuple[str, str]] = []
    for token in _TOKEN.findall(text):
        if "-" in token or "'" in token:
            out.extend(_word(part) for part in token.replace("'", "-").split("-") if part)
        else:
            out.append(_word(token))
    return out


@lru_cache(maxsize=200_000)
def _word(part: str) -> tuple[str, str]:
    if len(part) >= 3 and part[-1] == "s" and part[:-1].isupper():
        part = part[:-1]  # LLMs -> LLM
    lower = part.lower()
    return lower, stem(lower)


def hyphen_joins(text: str) -> list[tuple[int, str]]:
    """``multi-modal`` also indexes ``multimodal``: (index of first part, joined stem)."""
    out: list[tuple[int, str]] = []
    index = 0
    for token in _TOKEN.findall(text):
        if "-" not in token and "'" not in token:
            index += 1
            continue
        parts = [p for p in token.replace("'", "-").split("-") if p]
        if len(parts) > 1 and "-" in token:
            out.append((index, stem("".join(parts).lower())))
        index += len(parts)
    return out


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
