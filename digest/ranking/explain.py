"""Why a paper matches a keyword (``Match``), and which papers an exclusion removes.

Only papers a keyword scores are explained: a trace too faint to score (below
``scoring.MIN_CONTRIBUTION``) is not named as a match.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache, reduce
from typing import TYPE_CHECKING

import numpy as np

from .profile import Keyword
from .scoring import phrase_starts
from .tokens import ABSTRACT_OFFSET

if TYPE_CHECKING:
    from .alternatives import Alternative, Group
    from .index import Index



@dataclass(frozen=True, slots=True)
class Match:
    keyword: str
    fields: tuple[str, ...]  # "title", "abstract"
    partial: bool = False

    def __str__(self) -> str:
        return f"{self.keyword} (partly)" if self.partial else self.keyword


TITLE, ABSTRACT, PARTIAL = 1, 2, 4  # bits of a match code; 0: no match
_NONE = np.int8(0)  # no match, as a code's type


def explain_all(index: Index, keyword: Keyword) -> dict[int, Match]:
    """Every paper's match for ``keyword``."""
    codes = match_codes(index, keyword)
    return {i: match(keyword.text, code) for i, code in zip(codes.nonzero()[0].tolist(), codes[codes > 0].tolist())}


def match_codes(index: Index, keyword: Keyword) -> np.ndarray:
    """Per paper, how it matches ``keyword``: ``TITLE | ABSTRACT``, plus ``PARTIAL`` for some of the words.

    Only papers the keyword scores match. Per alternative (the keyword, its acronym
    or expansion): a paper with all its words matches fully, in the title when every
    word is there, and in the abstract when any word is; a paper with some of its
    words matches partly. The first alternative that matches wins, unless a later
    one matches fully. Worked out from each word's field bits (``group_codes``)
    with a few array operations per keyword (cached on the index); ``match`` turns
    a code into a ``Match`` for the picks only.
    """
    key = (keyword.words, keyword.exact, keyword.prefix)
    found = index.cache["codes"].get(key)
    if found is not None:
        return found
    domain: np.ndarray = index.keyword_column(keyword) != 0  # the papers ``index.keyword_scores`` holds
    codes: np.ndarray | None = None  # None: no alternative has matched a paper yet
    for alt in index.alternatives(keyword):
        codes = _alternative_codes(index, keyword, alt, domain, codes)
    if codes is None:
        codes = np.zeros(len(index.papers), dtype=np.int8)
    index.cache["codes"][key] = codes
    return codes


def _alternative_codes(index: Index, keyword: Keyword, alt: Alternative, domain: np.ndarray,
                       codes: np.ndarray | None) -> np.ndarray:
    """``codes`` with one alternative's matches added (None: the first alternative).

    Per paper, from its words' field bits: all its words there (the least bits not
    0), then every word in the title (the bits and-ed) and any in the abstract (or-ed).
    """
    if codes is None and len(alt) == 1 and not keyword.exact:  # one word, first: its field bits are its codes
        return np.where(domain, group_codes(index, alt[0]), _NONE)
    fields = [group_codes(index, g) for g in alt]
    if len(fields) == 1:
        least = both = either = fields[0]
    else:  # pairwise, without stacking the fields into one array first
        least, both, either = reduce(np.minimum, fields), reduce(np.bitwise_and, fields), reduce(np.bitwise_or, fields)
    everywhere = domain & (least != 0)
    if keyword.exact:
        everywhere &= _exact_papers(index, alt, keyword.words)
    full = (both & TITLE) | (either & ABSTRACT)  # never 0 where every word is there
    if codes is None:
        codes = np.where(everywhere, full, _NONE)
    else:
        codes = np.where(everywhere & ((codes == 0) | (codes >= PARTIAL)), full, codes)
    if keyword.exact or len(alt) == 1:
        return codes
    partly = domain & (either != 0) & ~everywhere & (codes == 0)
    return np.where(partly, either | PARTIAL, codes)


@lru_cache(maxsize=100_000)
def match(keyword: str, code: int) -> Match:
    """The ``Match`` a code stands for (shared: a match is a value)."""
    fields = ("title",) * bool(code & TITLE) + ("abstract",) * bool(code & ABSTRACT)
    return Match(keyword, fields, partial=bool(code & PARTIAL))


@lru_cache(maxsize=100_000)
def matches_by_code(keyword: str) -> tuple[Match | None, ...]:
    """Every ``Match`` of ``keyword``, by code (None for 0): a walk indexes it rather than call ``match``.

    Made for every new keyword of a run (thousands), seven at a time: each is the
    ``Match`` that ``match`` gives (equal to it), its fields set by the slots'
    own setters rather than by the frozen class's ``__init__``, at half the cost.
    """
    return (None, *[_made(keyword, fields, partial) for fields, partial in _KINDS])


_KINDS = [(("title",) * bool(code & TITLE) + ("abstract",) * bool(code & ABSTRACT), bool(code & PARTIAL))
          for code in range(1, (TITLE | ABSTRACT | PARTIAL) + 1)]  # each code's fields and whether partial
_SET_KEYWORD, _SET_FIELDS, _SET_PARTIAL = (Match.__dict__[name].__set__ for name in ("keyword", "fields", "partial"))


def _made(keyword: str, fields: tuple[str, ...], partial: bool) -> Match:
    """``Match(keyword, fields, partial)``, the slots set directly."""
    found = object.__new__(Match)
    _SET_KEYWORD(found, keyword)
    _SET_FIELDS(found, fields)
    _SET_PARTIAL(found, partial)
    return found


def group_codes(index: Index, group: Group) -> np.ndarray:
    """Per paper, where the group stands: ``TITLE`` and/or ``ABSTRACT`` bits (0: nowhere). Cached on the index."""
    table = index.cache["fields"]
    found = table.get(group)
    if found is None:
        found = np.zeros(len(index.papers), dtype=np.int8)
        numbers, in_title, in_all = index.counts(group)
        found[numbers] = TITLE * (in_title > 0) + ABSTRACT * (in_all > in_title)
        table[group] = found
    return found


def _exact_papers(index: Index, alt: Alternative, raw_words: tuple[str, ...]) -> np.ndarray:
    """Papers where the alternative stands as written (cached per alternative and words)."""
    table = index.cache["exact"]
    found = table.get((alt, raw_words))
    if found is None:
        found = np.zeros(len(index.papers), dtype=bool)
        found[list(phrase_starts(index, [index.positions(g) for g in alt], True, raw_words))] = True
        table[(alt, raw_words)] = found
    return found


def excluded(index: Index, keyword: Keyword) -> set[int]:
    """Papers about what an exclusion names, not those that mention it in passing.

    The words, together, in the title; or in the abstract when they come back
    (twice or more) and each of them is among the paper's ``index.STRONGEST`` terms
    (tf-idf), as for a paper that keeps coming back to it. "We survey the
    methods..." once in an abstract is not a survey.
    """
    hit: set[int] = set()
    for alt in index.alternatives(keyword):
        if len(alt) == 1 and not keyword.exact:  # one word: its counts say as much as its positions
            hit.update(_one_word_excluded(index, alt))
            continue
        postings = [index.positions(g) for g in alt]
        for i, starts in phrase_starts(index, postings, keyword.exact, keyword.words).items():
            if min(starts) < ABSTRACT_OFFSET or (len(starts) > 1 and about(index, i, alt)):
                hit.add(i)
    return hit


def _one_word_excluded(index: Index, alt: Alternative) -> list[int]:
    """``excluded`` for an alternative of one word: in the title, or twice or more and among the strongest terms."""
    numbers, in_title, in_all = index.counts(alt[0])
    repeated = numbers[(in_title == 0) & (in_all > 1)].tolist()
    return numbers[in_title > 0].tolist() + [i for i in repeated if about(index, i, alt)]


def about(index: Index, i: int, alt: Alternative) -> bool:
    """Whether each group of the alternative has a stem among paper ``i``'s strongest terms."""
    strongest = index.strongest_terms(i)
    return all(group & strongest for group in alt)
