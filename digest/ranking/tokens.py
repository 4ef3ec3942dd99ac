"""Tokenising and stemming, shared by the index, the queries and the reader model."""

from __future__ import annotations

import re
from functools import lru_cache

import snowballstemmer

ABSTRACT_OFFSET = 10_000  # an index position at or above this is in the abstract
_TOKEN = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*", re.UNICODE)
_PART = re.compile(r"[^\W_]+")  # a token's parts are exactly the runs of letters and digits
_PIECE = re.compile(r"[^\W_]+|(?<=[^\W_])[-'](?=[^\W_])")  # the parts, and the marks that join them into tokens
_JOINS = ("-", "'")
_STEMMER = snowballstemmer.stemmer("english")
if hasattr(_STEMMER, "maxCacheSize"):  # PyStemmer: our caches keep what is worth keeping; its own, when full,
    _STEMMER.maxCacheSize = 0  # costs more to keep up than stemming again (3 ms for the listing's words, 10 ms)
_ALNUM = bytes(range(48, 58)) + bytes(range(65, 91)) + bytes(range(97, 123))  # what ``[^\W_]`` is in ASCII
_SPACED = bytes(c if c in _ALNUM else 32 for c in range(256))
_MARKED = bytes(c if c in _ALNUM or c in b"-'" else 32 for c in range(256))

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


def stems(words: list[str]) -> list[str]:
    """``stem`` of each word, in one call (uncached: for words seen once, as when building the index)."""
    return _STEMMER.stemWords(words)


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
    lower = as_word(part)
    return lower, stem(lower)


def as_word(part: str) -> str:
    """A part of a token as ``words`` gives it: lowercased, a plural acronym (``LLMs``) without its ``s``."""
    if len(part) >= 3 and part[-1] == "s" and part[:-1].isupper():
        part = part[:-1]  # LLMs -> LLM
    return part.lower()


def parts(text: str) -> tuple[list[str], list[tuple[int, str]]]:
    """The parts ``words`` splits the text into, as written, and ``hyphen_words`` (from one pass over the text).

    ASCII text (nearly every abstract) is split by C string methods, a third of
    the pattern's time; other text by the pattern, whose letters and digits are
    Unicode's. Both give the same parts (tests/test_index_build.py).
    """
    if text.isascii():
        return _ascii_parts(text)
    if "-" not in text:
        return _PART.findall(text), []
    pieces = _PIECE.findall(text)
    if "-" not in pieces:  # dashes, none inside a word
        return [p for p in pieces if p != "'"] if "'" in pieces else pieces, []
    return [p for p in pieces if p not in _JOINS], _joined(pieces)


def _ascii_parts(text: str) -> tuple[list[str], list[tuple[int, str]]]:
    """``parts`` of an ASCII text: every byte that is not a letter or digit made a space, then split."""
    spaced = text.encode("ascii").translate(_SPACED)
    return spaced.decode("ascii").split(), _ascii_joins(text, spaced) if "-" in text else []


def _ascii_joins(text: str, spaced: bytes) -> list[tuple[int, str]]:
    """``hyphen_words`` of an ASCII text (``spaced``: the text with only its letters and digits left).

    Each hyphen between two letters or digits lies in a run of letters, digits
    and marks; the run's tokens are found by the pattern, and its first part's
    number by counting the parts before the run.
    """
    marked = text.encode("ascii").translate(_MARKED)  # letters, digits and the marks that may join them
    joins: list[tuple[int, str]] = []
    counted = before = 0  # ``before`` parts start before byte ``counted``
    hyphen = marked.find(b"-")
    while hyphen != -1:
        if not (0 < hyphen < len(marked) - 1 and spaced[hyphen - 1] != 32 != spaced[hyphen + 1]):
            hyphen = marked.find(b"-", hyphen + 1)  # a dash, or a mark beside another
            continue
        start = marked.rfind(b" ", 0, hyphen) + 1
        end = marked.find(b" ", hyphen)
        end = len(marked) if end == -1 else end
        before += len(spaced[counted:start].split())
        counted = start
        run = text[start:end]
        if "'" in run or "--" in run or run[0] == "-" or run[-1] == "-":
            joins += [(before + at, word) for at, word in _joined(_PIECE.findall(text, start, end))]
        else:  # one token, its parts joined by single hyphens (nearly every run)
            joins.append((before, run.replace("-", "").lower()))
        hyphen = marked.find(b"-", end)
    return joins


def _joined(pieces: list[str]) -> list[tuple[int, str]]:
    """``hyphen_words`` from the text's pieces: every token with a hyphen, as (index of its first part, joined word).

    In ``pieces`` a mark always stands between the two parts it joins, so a
    token is a run of part, mark, part, ... and its parts are every other piece.
    """
    out: list[tuple[int, str]] = []
    end = 0  # the pieces before this one are in tokens already seen
    while True:
        try:
            at = pieces.index("-", end)
        except ValueError:
            return out
        start = at - 1
        while start and pieces[start - 1] in _JOINS:
            start -= 2
        stop = at + 1
        while stop + 1 < len(pieces) and pieces[stop + 1] in _JOINS:
            stop += 2
        before = pieces[:start]
        out.append((start - before.count("-") - before.count("'"), "".join(pieces[start:stop + 1:2]).lower()))
        end = stop + 1


def hyphen_joins(text: str) -> list[tuple[int, str]]:
    """``multi-modal`` also indexes ``multimodal``: (index of first part, joined stem)."""
    if "-" not in text:
        return []
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


@lru_cache(maxsize=200_000)
def surface_form(word: str) -> str:
    """The key of the surface index: the word as written, give or take a plural."""
    return singular(word) or word


def singular(word: str | None) -> str | None:
    """The word without a plural ending: a reader's own form, give or take number."""
    if word is None or len(word) < 4 or not word.endswith("s") or word.endswith("ss"):
        return word
    return word[:-3] + "y" if word.endswith("ies") else word[:-1]


def stems_of(text: str) -> str:
    """The text's stems, stopwords left out, space-separated: ``large language models`` -> ``larg languag model``."""
    return " ".join(st for raw, st in words(text) if raw not in STOPWORDS)


def hyphen_words(text: str) -> list[tuple[int, str]]:
    """``hyphen_joins`` with the joined word as written: ``pre-training`` -> ``pretraining``."""
    if "-" not in text:
        return []
    out: list[tuple[int, str]] = []
    index = 0
    for token in _TOKEN.findall(text):
        parts = [p for p in token.replace("'", "-").split("-") if p] if ("-" in token or "'" in token) else [token]
        if len(parts) > 1 and "-" in token:
            out.append((index, "".join(parts).lower()))
        index += len(parts)
    return out
