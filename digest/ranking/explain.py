"""Why a paper matches a keyword (``Match``), and which papers an exclusion removes.

Only papers a keyword scores are explained: a trace too faint to score (below
``scoring.MIN_CONTRIBUTION``) is not named as a match.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from operator import itemgetter
from typing import TYPE_CHECKING

from .profile import Keyword
from .scoring import phrase_starts
from .tokens import ABSTRACT_OFFSET

if TYPE_CHECKING:
    from .index import Alternative, Group, Index

STRONGEST = 8  # an exclusion found only in the abstract counts when among this many top terms


@dataclass(frozen=True, slots=True)
class Match:
    keyword: str
    fields: tuple[str, ...]  # "title", "abstract"
    partial: bool = False

    def __str__(self) -> str:
        return f"{self.keyword} (partly)" if self.partial else self.keyword


def explain_all(index: Index, keyword: Keyword) -> dict[int, Match]:
    """Matches for the papers the keyword scores, set-wise.

    Per alternative (the keyword, its acronym or expansion): papers with all its
    words match fully, in the title when every word is there, and in the abstract
    when any word is; papers with some of its words match partly. The first
    alternative that matches wins, unless a later one matches fully.
    """
    domain = set(index.keyword_scores(keyword))
    made: dict[tuple[tuple[str, ...], bool], Match] = {}

    def match(title: bool, abstract: bool, full: bool) -> Match:
        fields = ("title",) * title + ("abstract",) * abstract
        found = made.get((fields, full))
        if found is None:
            found = made[(fields, full)] = Match(keyword.text, fields, partial=not full)
        return found

    best: dict[int, Match] = {}
    for alt in index.alternatives(keyword):
        tables = [group_fields(index, g) for g in alt]
        everywhere = domain.intersection(*tables)
        if keyword.exact:
            everywhere &= set(phrase_starts(index, [index.positions(g) for g in alt], True, keyword.words))
        for i in everywhere:
            if i not in best or best[i].partial:
                flags = [t[i] for t in tables]
                best[i] = match(all(f[0] for f in flags), any(f[1] for f in flags), True)
        if keyword.exact or len(tables) == 1:
            continue
        for i in domain.intersection(set().union(*tables)) - everywhere - best.keys():
            flags = [t[i] for t in tables if i in t]
            best[i] = match(any(f[0] for f in flags), any(f[1] for f in flags), False)
    return {i: m for i, m in best.items() if m.fields}


def group_fields(index: Index, group: Group) -> dict[int, tuple[bool, bool]]:
    """For each paper with the group: (in the title, in the abstract). Cached on the index."""
    table = index.cache["fields"]
    found = table.get(group)
    if found is None:
        found = table[group] = {
            i: (any(p < ABSTRACT_OFFSET for p in pos), any(p >= ABSTRACT_OFFSET for p in pos))
            for i, pos in index.positions(group).items()
        }
    return found


def excluded(index: Index, keyword: Keyword) -> set[int]:
    """Papers about what an exclusion names, not those that mention it in passing.

    The words, together, in the title; or in the abstract when they come back
    (twice or more) and each of them is among the paper's ``STRONGEST`` terms
    (tf-idf), as for a paper that keeps coming back to it. "We survey the
    methods..." once in an abstract is not a survey.
    """
    hit: set[int] = set()
    for alt in index.alternatives(keyword):
        postings = [index.positions(g) for g in alt]
        for i, starts in phrase_starts(index, postings, keyword.exact, keyword.words).items():
            if min(starts) < ABSTRACT_OFFSET or (len(starts) > 1 and _about(index, i, alt)):
                hit.add(i)
    return hit


def _about(index: Index, i: int, alt: Alternative) -> bool:
    doc = index.docs[i]
    if doc.strongest is None:
        top = heapq.nlargest(STRONGEST, index.term_shares(i), key=itemgetter(1))
        doc.strongest = frozenset(st for st, _ in top)
    return all(group & doc.strongest for group in alt)
