"""No silent empty digest: a keyword that matches no paper is named, with what the papers say instead.

A reader who writes ``dialog systems`` while the listings say "dialogue
system", or ``reinforcment learning``, gets nothing for it, day after day, and
cannot tell why. ``keyword_hints`` finds, for a reader's profile, each wanted
keyword that no paper of their window matches in full (all its words; a paper
with some of them is a partial match, which says nothing about a misspelt word),
and the terms nearby in the listing's own vocabulary:

- each keyword word's neighbours: the same word give or take a plural, a word
  whose stem begins with the other's stem and is at most 3 letters longer
  (``dialog`` → ``dialogue``), or a word within a small edit distance
  (``reinforcment`` → ``reinforcement``, ``optimization`` → ``optimisation``);
- two adjacent keyword words written as one (``pre training`` → ``pretraining``);
- a phrase is suggested only when its words stand together in some paper, and
  suggestions are ranked by how many papers use them (at most ``MAX_SUGGESTIONS``).

It stays cheap: a keyword that matches (nearly all of them) costs one look at
its match codes, which ranking has already computed; the vocabulary is bucketed
by its first letters once per index, and only when some reader needs it, so a
keyword word is compared with the few hundred words of its bucket, never with
every word. Pure, like the ranker: the window (``days``, and the papers outside
it) is the caller's.
"""

from __future__ import annotations

import itertools
import weakref
from collections import defaultdict
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .explain import PARTIAL, match_codes
from .index import Index, Postings, keyword_key
from .profile import Keyword, Profile
from .scoring import consecutive
from .tokens import STOPWORDS, stem, stems_of, surface_form

MAX_SUGGESTIONS = 3
BUCKET = 3  # letters a word and its neighbours share at the start
NEIGHBOURS = 4  # per keyword word, the most used neighbours tried in phrases
FUZZY_MIN = 4  # shorter words only match give or take a plural: "rl" is not "ml"
LONGER_STEM = 3  # dialog -> dialogue: a stem that begins with the other's, at most this much longer


@dataclass(frozen=True, slots=True)
class KeywordHint:
    """A wanted keyword no paper of the last ``days`` days matched in full (1: today's listing only)."""

    keyword: str  # as the reader wrote it
    days: int
    suggestions: tuple[str, ...] = ()  # nearby terms the papers use, most used first
    partly: bool = False  # some papers have some of its words

    def sentence(self) -> str:
        """``“dialog systems” matched nothing in 14 days; papers say “dialogue system”``."""
        when = "in today's listing" if self.days <= 1 else f"in {self.days} days"
        outcome = "matched only partly" if self.partly else "matched nothing"
        text = f"“{_one_line(self.keyword)}” {outcome} {when}"
        if self.suggestions:
            text += "; papers say " + " or ".join(f"“{s}”" for s in self.suggestions)
        return text

    def to_json(self) -> dict[str, Any]:
        return {"keyword": self.keyword, "days": self.days, "suggestions": list(self.suggestions),
                "partly": self.partly}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "KeywordHint":
        return cls(str(data["keyword"]), int(data["days"]), tuple(str(s) for s in data.get("suggestions", ())),
                   bool(data.get("partly", False)))


def keyword_hints(profile: Profile, index: Index, days: int, leave_out: Collection[str] = ()) -> list[KeywordHint]:
    """A hint for each wanted keyword that no paper matches in full; exclusions are never hinted.

    ``leave_out``: ids of the index's papers outside the reader's window (a
    catch-up index holds other readers' older papers): a match there does not count.
    """
    hints = []
    for keyword in profile.wanted:
        full, partly = _matches(index, keyword, leave_out)
        if not full:
            hints.append(KeywordHint(keyword.text, days, suggestions(index, keyword), partly))
    return hints


def _matches(index: Index, keyword: Keyword, leave_out: Collection[str]) -> tuple[bool, bool]:
    """(some paper of the window matches all the keyword's words, some matches only some)."""
    papers = index.papers
    full, partial = _full_and_partial(index, keyword)
    if not leave_out:
        return bool(full), bool(partial)
    return (any(papers[i].id not in leave_out for i in full),
            any(papers[i].id not in leave_out for i in partial))


_FULL: weakref.WeakKeyDictionary[Index, dict[tuple[object, ...], tuple[list[int], list[int]]]] = (
    weakref.WeakKeyDictionary())


def _full_and_partial(index: Index, keyword: Keyword) -> tuple[list[int], list[int]]:
    """The numbers of the papers matching fully, and partly (once per keyword and index: readers share them)."""
    table = _FULL.setdefault(index, {})
    key = keyword_key(keyword)
    found = table.get(key)
    if found is None:
        codes = match_codes(index, keyword)
        matched = codes > 0
        partial = (codes & PARTIAL) > 0
        found = table[key] = ((matched & ~partial).nonzero()[0].tolist(), partial.nonzero()[0].tolist())
    return found


def suggestions(index: Index, keyword: Keyword) -> tuple[str, ...]:
    """The phrases near the keyword that papers use, most used first (at most ``MAX_SUGGESTIONS``)."""
    vocabulary = vocabulary_of(index)
    own = stems_of(" ".join(keyword.words))
    found: dict[str, tuple[int, int]] = {}
    for slots in _segmentations(keyword.words):
        for phrase in _phrases(vocabulary, slots):
            papers = vocabulary.papers_with(phrase.keys)
            if papers and phrase.text not in found and stems_of(phrase.text) != own:  # not the keyword itself
                found[phrase.text] = (papers, phrase.distance)
    ranked = sorted(found, key=lambda text: (-found[text][0], found[text][1], text))
    return tuple(ranked[:MAX_SUGGESTIONS])


@dataclass(frozen=True, slots=True)
class _Phrase:
    text: str  # as suggested: stopwords as the reader wrote them
    keys: tuple[str, ...]  # the surface forms that must stand together (stopwords left out)
    distance: int  # how far from the keyword (ties between equally used phrases)


def _segmentations(words: Sequence[str]) -> Iterator[list[str]]:
    """The keyword's words, then with each two adjacent words written as one (``pre training``)."""
    yield list(words)
    for at in range(len(words) - 1):
        if words[at] not in STOPWORDS and words[at + 1] not in STOPWORDS:
            yield [*words[:at], words[at] + words[at + 1], *words[at + 2:]]


def _phrases(vocabulary: "Vocabulary", slots: Sequence[str]) -> Iterator[_Phrase]:
    """Every phrase made of a neighbour of each word (stopwords kept as written, not looked up)."""
    choices: list[Sequence[tuple[str, str | None, int]]] = []
    for word in slots:
        if word in STOPWORDS:
            choices.append([(word, None, 0)])
            continue
        near = vocabulary.neighbours(word)
        if not near:
            return
        choices.append(near)
    for combination in itertools.product(*choices):
        yield _Phrase(" ".join(text for text, _, _ in combination),
                      tuple(key for _, key, _ in combination if key is not None),
                      sum(d for _, _, d in combination))


class Vocabulary:
    """The index's words by their first letters, each with how many papers use it (made on first need)."""

    def __init__(self, index: Index) -> None:
        self.surface: Mapping[str, Postings] = index.surface
        self.buckets: dict[str, list[tuple[str, str]]] = defaultdict(list)  # (written form, surface key)
        shown: dict[str, str] = {}
        for raw in index.vocabulary:
            key = surface_form(raw)
            if key not in shown or raw == key:  # "system" over "systems"; "analysis", not "analysi"
                shown[key] = raw
        for key, raw in shown.items():
            self.buckets[key[:BUCKET]].append((raw, key))
        self._near: dict[str, list[tuple[str, str, int]]] = {}

    def papers(self, key: str) -> int:
        return len(self.surface.get(key, ()))

    def papers_with(self, keys: Sequence[str]) -> int:
        """How many papers have these words standing together."""
        if len(keys) <= 1:
            return self.papers(keys[0]) if keys else 0
        postings = [self.surface.get(key, {}) for key in keys]
        return len(consecutive(postings)) if all(postings) else 0

    def neighbours(self, word: str) -> list[tuple[str, str, int]]:
        """(written form, surface key, distance) of the most used words near ``word``, itself included."""
        found = self._near.get(word)
        if found is None:
            found = self._near[word] = self._find(word)
        return found

    def _find(self, word: str) -> list[tuple[str, str, int]]:
        own = surface_form(word)
        near: list[tuple[str, str, int]] = []
        for raw, key in self.buckets.get(own[:BUCKET], ()):
            # as written, or give or take a plural: "modle" is one edit from "models" as "model"
            distance = 0 if key == own else _nearest(_closeness(word, raw), _closeness(own, key))
            if distance is not None:
                near.append((raw, key, distance))
        near.sort(key=lambda item: (item[2] > 0, -self.papers(item[1]), item[2], item[0]))
        return near[:NEIGHBOURS]


def _closeness(word: str, other: str) -> int | None:
    """How far ``other`` is from ``word`` if it is near (a longer stem, a typo, a spelling), else None."""
    if len(word) < FUZZY_MIN or len(other) < FUZZY_MIN:
        return None
    mine, theirs = stem(word), stem(other)
    if mine == theirs:
        return 1
    short, long_ = sorted((mine, theirs), key=len)
    if len(short) >= FUZZY_MIN and long_.startswith(short) and len(long_) - len(short) <= LONGER_STEM:
        return 1
    limit = 1 if len(word) < 8 else 2
    if abs(len(word) - len(other)) > limit:
        return None
    distance = edit_distance(word, other, limit)
    return distance if distance <= limit else None


def _nearest(*distances: int | None) -> int | None:
    return min((d for d in distances if d is not None), default=None)


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance (a swap of two letters is one edit), or ``limit + 1`` when over it."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], previous2[j - 2] + 1)
        if min(row) > limit:
            return limit + 1
        previous2, previous = previous, row
    return previous[-1]


_VOCABULARIES: weakref.WeakKeyDictionary[Index, Vocabulary] = weakref.WeakKeyDictionary()


def vocabulary_of(index: Index) -> Vocabulary:
    """The index's bucketed vocabulary, made once per index and shared by every reader."""
    found = _VOCABULARIES.get(index)
    if found is None:
        found = _VOCABULARIES[index] = Vocabulary(index)
    return found


def _one_line(text: str) -> str:
    return " ".join(text.split())
