"""Keyword syntax: what a reader writes in ``DIGEST_KEYWORDS`` or the subscribers file.

    reinforcement learning   a phrase: adjacent words score best, scattered words less
    "world model"            exact phrase, no stemming
    -survey                  exclude papers that match
    reward model*            the last word is a prefix
    diffusion^2              weight 2 (default 1)

Matching is case-insensitive; plural and inflected forms match through stemming.
"""

from __future__ import annotations

import re
from functools import lru_cache
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .errors import KeywordError

_WEIGHT = re.compile(r"\^(?P<w>[^\s^]*)$")
WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)


@dataclass(frozen=True, slots=True)
class Keyword:
    text: str  # as the reader wrote it, for explanations
    words: tuple[str, ...]  # lowercased words
    exact: bool = False
    prefix: bool = False
    exclude: bool = False
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class Profile:
    keywords: tuple[Keyword, ...]
    wanted: tuple[Keyword, ...] = field(init=False)
    excluded: tuple[Keyword, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "wanted", tuple(k for k in self.keywords if not k.exclude))
        object.__setattr__(self, "excluded", tuple(k for k in self.keywords if k.exclude))


def split_keywords(spec: str) -> list[str]:
    """``'a, "b, c", -d'`` -> ``['a', '"b, c"', '-d']`` (commas inside quotes stay)."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in spec:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def parse_profile(spec: str | Sequence[str]) -> Profile:
    items = split_keywords(spec) if isinstance(spec, str) else [s.strip() for s in spec if s.strip()]
    keywords = tuple(parse_keyword(item) for item in items)
    if not keywords:
        raise KeywordError("no keywords given; e.g. --keywords 'reinforcement learning, -survey'")
    if not any(not k.exclude for k in keywords):
        raise KeywordError(
            "only exclusions given; add at least one keyword to look for (exclusions start with -)"
        )
    return Profile(_merge_duplicates(keywords))


@lru_cache(maxsize=100_000)
def parse_keyword(item: str) -> Keyword:
    """One keyword expression; cached, since readers of one list share most keywords."""
    text = item.strip()
    weight = 1.0
    match = _WEIGHT.search(text)
    if match:
        weight = _weight(match.group("w"), item)
        text = text[: match.start()].strip()
    exclude = text.startswith("-")
    text = text.lstrip("-").strip()
    exact = len(text) >= 2 and text.startswith('"') and text.endswith('"')
    text = text.strip('"').strip() if exact else text
    if text.count('"'):
        raise KeywordError(f"keyword {item!r}: unbalanced quote")
    prefix = text.endswith("*") and not exact
    words = tuple(w.lower() for w in WORD.findall(text.rstrip("*")))
    if not words:
        raise KeywordError(f"keyword {item!r} has no words to match (a lone * matches everything)")
    if "*" in text.rstrip("*"):
        raise KeywordError(f"keyword {item!r}: * is only allowed at the end (reward model*)")
    return Keyword(text=text, words=words, exact=exact, prefix=prefix, exclude=exclude, weight=weight)


def _weight(raw: str, item: str) -> float:
    try:
        weight = float(raw)
    except ValueError:
        raise KeywordError(f"keyword {item!r}: weight after ^ must be a number (e.g. ^2)") from None
    if not 0 < weight <= 100:
        raise KeywordError(f"keyword {item!r}: weight must be between 0 and 100")
    return weight


def _merge_duplicates(keywords: Iterable[Keyword]) -> tuple[Keyword, ...]:
    seen: dict[tuple[object, ...], Keyword] = {}
    for k in keywords:
        seen.setdefault((k.words, k.exact, k.prefix, k.exclude), k)
    return tuple(seen.values())
