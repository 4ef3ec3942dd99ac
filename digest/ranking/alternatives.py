"""What a keyword can match in a listing (``Index.alternatives``): the stem groups of its words, and those
of its joined spelling, its acronym or its expansion.

A query word matches a group of stems: its own, its singular's and, with the
spelling rule, those of its other spellings that the listing holds; the last word
of a prefix keyword (``agent*``) every word of the listing that starts so. A
keyword's alternatives are worked out once per listing, a word's group once.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Container, Mapping

from .profile import Keyword, keyword_key
from .rules import Rules
from .spelling import joined_words, spelling_variants
from .tokens import STOPWORDS, singular, stem, stems_of

Group = frozenset[str]  # stems that count as one query word (a prefix expands to many)
Alternative = tuple[Group, ...]


class Alternatives:
    """A listing's keywords' alternatives, each worked out the first time it is asked for."""

    def __init__(self, stems: Container[str], vocabulary: Mapping[str, tuple[str, ...]],
                 acronyms: Mapping[str, str], rules: Rules) -> None:
        self.stems, self.vocabulary, self.acronyms, self.rules = stems, vocabulary, acronyms, rules
        self.expansions = {stems_of(v): k for k, v in acronyms.items()}
        self.sorted_vocabulary = sorted(vocabulary)
        self._found: dict[tuple[object, ...], list[Alternative]] = {}
        self._joined: dict[tuple[tuple[object, ...], Alternative], tuple[str, ...]] = {}
        self._groups: dict[str, Group] = {}

    def of(self, keyword: Keyword) -> list[Alternative]:
        """The stem groups a keyword can match: itself, and its acronym or expansion."""
        key = keyword_key(keyword)
        found = self._found.get(key)
        if found is None:
            found = self._found[key] = self._find(keyword)
        return found

    def words(self, keyword: Keyword, alt: Alternative) -> tuple[str, ...]:
        """The query words an alternative stands for as written: the keyword's, or its joined form's."""
        return self._joined.get((keyword_key(keyword), alt), keyword.words)

    def _find(self, keyword: Keyword) -> list[Alternative]:
        main = self._groups_of(keyword.words, keyword.prefix)
        alts = [main] if main else []
        written = joined_words(keyword.text) if self.rules.spelling and not keyword.exact else None
        if written:  # pre-training: also pretraining
            alt = self._groups_of(written, keyword.prefix)
            if alt and alt != main:
                self._joined[(keyword_key(keyword), alt)] = written
                alts.append(alt)
        if keyword.exact or keyword.prefix:
            return alts
        joined = " ".join(keyword.words)
        joined = joined if joined in self.acronyms else (singular(joined) or joined)
        if joined in self.acronyms:
            alts.append(tuple(frozenset([s]) for s in stems_of(self.acronyms[joined]).split()))
        acronym = self.expansions.get(stems_of(joined))
        if acronym:
            alts.append((frozenset([stem(acronym)]),))
        return [a for a in alts if a]

    def _groups_of(self, raw_words: tuple[str, ...], prefix: bool) -> Alternative:
        kept = [w for w in raw_words if w not in STOPWORDS] or list(raw_words)
        groups = [self._group(w) for w in kept]
        if prefix:
            last = kept[-1]
            groups[-1] = frozenset(s for raw in self._words_starting(last) for s in self.vocabulary[raw])
            if not groups[-1]:
                return ()  # no word of the listing starts so: the keyword matches nothing, not its other words
        return tuple(g for g in groups if g)

    def _group(self, word: str) -> Group:
        """The stems one query word matches: its own, its singular's and (the spelling rule)
        those of its other spellings that the listing holds (keywords share words: once a word)."""
        found = self._groups.get(word)
        if found is None:
            found = self._groups[word] = self._stems_of(word)
        return found

    def _stems_of(self, word: str) -> Group:
        forms = {word, singular(word) or word}
        own = {stem(f) for f in forms}
        if not self.rules.spelling:
            return frozenset(own)
        variants = {stem(v) for f in forms for v in spelling_variants(f)} - own
        return frozenset(own | {st for st in variants if st in self.stems})

    def _words_starting(self, prefix: str) -> list[str]:
        words_ = self.sorted_vocabulary
        start = bisect_left(words_, prefix)
        end = start
        while end < len(words_) and words_[end].startswith(prefix):
            end += 1
        return words_[start:end]
