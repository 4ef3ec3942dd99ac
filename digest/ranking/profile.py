"""Keyword syntax: what a reader writes in ``DIGEST_KEYWORDS`` or the subscribers file.

    reinforcement learning   a phrase: adjacent words score best, scattered words less
    "world model"            exact phrase, no stemming
    -survey                  exclude papers that match
    reward model*            the last word is a prefix
    diffusion^2              weight 2 (default 1)

Keywords are separated by commas or semicolons. Two natural spellings are
understood rather than misread: ``NOT survey`` is ``-survey``, and a trailing
acronym in parentheses means both, ``Reinforcement Learning (RL)`` being the two
keywords ``Reinforcement Learning`` and ``RL``. Other parentheses and the
operators ``OR``, ``AND`` are refused with a hint: a search engine's syntax
would otherwise become one phrase that never matches.

Matching is case-insensitive; plural and inflected forms match through stemming.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from itertools import filterfalse
from operator import attrgetter
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import KeywordError
from ..model import INVISIBLE_MARKS

_WEIGHT = re.compile(r"\^(?P<w>[^\s^]*)$")
_NOT = re.compile(r"^NOT\s+(?=\S)", re.IGNORECASE)
_N = ("N", "n")  # the only characters ``_NOT``'s first matches, case ignored (tests/test_rank_parse.py): most items skip it
_ACRONYM = re.compile(r"^(?P<phrase>[^()]*?\S)\s*\((?P<short>[^()\s]+)\)$")
_OPERATOR = re.compile(r"(?:^|\s)(OR|AND|NOT)(?:\s|$)")
_OPERATOR_HINTS = {
    "OR": "write the alternatives as separate keywords, comma-separated: 'a, b'",
    "AND": "a keyword already wants all its words: write 'a b'",
    "NOT": "write the exclusion as its own keyword: 'a, -b'",
}
WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)


@dataclass(frozen=True, slots=True)
class Keyword:
    text: str  # as the reader wrote it, for explanations
    words: tuple[str, ...]  # lowercased words
    exact: bool = False
    prefix: bool = False
    exclude: bool = False
    weight: float = 1.0


def keyword_key(keyword: Keyword) -> tuple[object, ...]:
    """What makes two keywords score alike (their text and weight do not)."""
    return (keyword.words, keyword.exact, keyword.prefix)


@dataclass(frozen=True, slots=True)
class Profile:
    keywords: tuple[Keyword, ...]
    wanted: tuple[Keyword, ...] = field(init=False)
    excluded: tuple[Keyword, ...] = field(init=False)

    def __post_init__(self) -> None:
        keywords = self.keywords
        excluded = tuple(filter(_EXCLUDE, keywords))
        _set(self, "wanted", tuple(filterfalse(_EXCLUDE, keywords)) if excluded else tuple(keywords))
        _set(self, "excluded", excluded)


def split_keywords(spec: str) -> list[str]:
    """``'a, "b, c"; -d'`` -> ``['a', '"b, c"', '-d']`` (commas and semicolons inside quotes stay)."""
    if '"' not in spec:  # nothing quoted: every comma and semicolon separates
        return [part for part in map(str.strip, spec.replace(";", ",").split(",")) if part]
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in spec:
        if char == '"':
            quoted = not quoted
        if char in ",;" and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


# Bidirectional controls and invisible word breaks, dropped from keywords as from listing text
# (``model.normalize_space``): a right-to-left override would flip the email's footer that names them.
_INVISIBLE = re.compile(f"[{INVISIBLE_MARKS}]")


def composed(text: str) -> str:
    """``text`` with its accents composed (NFC), as listings spell them: "o" and a combining diaeresis, as a PDF or
    a macOS file name pastes it, is the "ö" it shows as, or the keyword would match nothing."""
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def normalize_keywords(spec: str | Sequence[str]) -> list[str]:
    """The keyword items a reader meant, in plain syntax: a string or each item of a list
    is split at commas and semicolons, ``NOT x`` becomes ``-x`` and ``Phrase (ACR)`` two items."""
    items = [spec] if isinstance(spec, str) else list(spec)
    items = [composed(_INVISIBLE.sub("", item)) for item in items]
    return [plain for item in items for part in split_keywords(item) for plain in expansion(part)]


@lru_cache(maxsize=100_000)
def expansion(item: str) -> tuple[str, ...]:
    """``expand_keyword``, cached: readers of one list share most keywords."""
    return tuple(expand_keyword(item))


def expand_keyword(item: str) -> list[str]:
    """``-Reinforcement Learning (RL)^2`` -> ``['-Reinforcement Learning^2', '-RL^2']``; ``NOT x`` -> ``['-x']``."""
    text = item.strip()
    negated = _NOT.match(text) if text[:1] in _N else None
    if "^" not in text and "(" not in text and not text.startswith("-") and not negated:
        return [text]  # most items: no sign, weight or acronym to move
    sign = ""
    if negated or text.startswith("-"):
        sign, text = "-", (text[negated.end():] if negated else text[1:]).strip()
    weight = _WEIGHT.search(text)
    suffix = text[weight.start():] if weight else ""
    text = text[: weight.start()].strip() if weight else text
    acronym = _ACRONYM.match(text) if text.endswith(")") else None  # (the pattern's last character)
    parts = [acronym.group("phrase"), acronym.group("short")] if acronym else [text]
    return [f"{sign}{part}{suffix}" for part in parts]


def parse_profile(spec: str | Sequence[str]) -> Profile:
    if isinstance(spec, str) and '"' not in spec:  # ``split_keywords``' common case, its parts straight to their keywords
        parts = (spec.replace(";", ",") if ";" in spec else spec).split(",")
        keywords: Sequence[Keyword] = sum(map(keywords_of, filter(None, map(str.strip, parts))), ())  # (sum: quickest)
    else:
        items = [spec] if isinstance(spec, str) else spec
        keywords = [k for item in items for part in split_keywords(item) for k in keywords_of(part)]
    if not keywords:
        raise KeywordError("no keywords given; e.g. --keywords 'reinforcement learning, -survey'")
    profile = Profile(_merge_duplicates(keywords))
    if not profile.wanted:
        raise KeywordError(
            "only exclusions given; add at least one keyword to look for (exclusions start with -)"
        )
    return profile


@lru_cache(maxsize=100_000)
def keywords_of(part: str) -> tuple[Keyword, ...]:
    """The keywords one item of a list stands for (``expand_keyword``, each parsed); cached, as they are."""
    return tuple(map(parse_keyword, expand_keyword(part)))


def describe_keyword(keyword: Keyword) -> str:
    """The keyword as understood, in the syntax a reader writes: ``-"world model"^2``, ``reward model*``."""
    words = " ".join(keyword.words)
    text = f'"{words}"' if keyword.exact else words + ("*" if keyword.prefix else "")
    weight = repr(keyword.weight).removesuffix(".0")
    return ("-" if keyword.exclude else "") + text + ("" if keyword.weight == 1 else f"^{weight}")


def describe_profile(profile: Profile) -> str:
    """``reinforcement learning, rl, -survey``: what ``digest check`` shows for a reader."""
    return ", ".join(describe_keyword(k) for k in profile.keywords)


@lru_cache(maxsize=100_000)
def parse_keyword(item: str) -> Keyword:
    """One keyword expression; cached, since readers of one list share most keywords."""
    text = composed(item.strip())
    weight = 1.0
    match = _WEIGHT.search(text) if "^" in text else None
    if match:
        weight = _weight(match.group("w"), item)
        text = text[: match.start()].strip()
    negated = _NOT.match(text) if text[:1] in _N else None
    exclude = text.startswith("-") or negated is not None
    text = text[negated.end():] if negated else text.lstrip("-").strip()
    if text.isascii() and text.replace(" ", "").isalnum():  # plain words (most keywords): no quote, star or pattern
        _refuse_search_syntax(item, text)
        return Keyword(text, tuple(text.lower().split()), False, False, exclude, weight)
    exact = len(text) >= 2 and text.startswith('"') and text.endswith('"')
    text = text.strip('"').strip() if exact else text
    if text.count('"'):
        raise KeywordError(f"keyword {item!r}: unbalanced quote")
    if not exact:
        _refuse_search_syntax(item, text)
    prefix = text.endswith("*") and not exact
    words = tuple(map(str.lower, WORD.findall(text.rstrip("*"))))
    if not words:
        why = " (a lone * would match everything)" if "*" in text else ""
        raise KeywordError(f"keyword {item!r} has no words to match{why}; write a word or a phrase: 'reward model'")
    if "*" in text.rstrip("*"):
        raise KeywordError(f"keyword {item!r}: * is only allowed at the end (reward model*)")
    return Keyword(text, words, exact, prefix, exclude, weight)  # (by position: a third cheaper than by name)


def _refuse_search_syntax(item: str, text: str) -> None:
    """Parentheses and OR/AND/NOT would silently become words of one phrase: say how to write it."""
    if "(" in text or ")" in text:
        raise KeywordError(f"keyword {item!r}: parentheses are understood only around a trailing acronym, "
                           "'reinforcement learning (RL)'; write other alternatives as separate keywords, "
                           "comma-separated")
    operator = _OPERATOR.search(text) if "OR" in text or "AND" in text or "NOT" in text else None
    if operator:
        raise KeywordError(f"keyword {item!r}: {operator.group(1)} is not an operator here; "
                           f"{_OPERATOR_HINTS[operator.group(1)]}")


def _weight(raw: str, item: str) -> float:
    try:
        weight = float(raw)
    except ValueError:
        raise KeywordError(f"keyword {item!r}: weight after ^ must be a number (e.g. ^2)") from None
    if not 0 < weight <= 100:
        raise KeywordError(f"keyword {item!r}: weight must be more than 0 and at most 100 (e.g. ^2)")
    return weight


def _merge_duplicates(keywords: Sequence[Keyword]) -> tuple[Keyword, ...]:
    """The keywords, each only at its first appearance (``RL`` and ``rl`` are one keyword)."""
    if len(set(map(_WORDS, keywords))) == len(keywords):  # most profiles: no words twice
        return tuple(keywords)
    seen: dict[tuple[object, ...], Keyword] = {}
    for k in keywords:
        seen.setdefault((k.words, k.exact, k.prefix, k.exclude), k)
    return tuple(seen.values())


_WORDS = attrgetter("words")
_EXCLUDE = attrgetter("exclude")
_set = object.__setattr__  # a frozen dataclass's fields, set once in ``__post_init__``
