"""Followed authors and labs: which of the day's papers are by the people and organisations a reader follows.

A reader's ``authors`` and ``orgs`` (the subscribers file, the preferences page)
pick a paper whatever its keyword score; ``select.rank`` puts those picks first.
This module only finds them, once per index and set of follows.

How an author name matches a name in the listing. Both are normalised the same
way: what brackets hold dropped (an affiliation: "Jane Doe (MIT)"), Unicode NFKD
with the accents (combining marks) dropped, casefolded, a letter with a stroke or a
ligature spelt plain (ł l, ø o, đ d, æ ae), apostrophes removed, and cut into runs
of letters (dots, hyphens, spaces and digits such as footnote marks separate them);
"Family, Given" is turned round to "Given Family", and a trailing Jr/Sr/II/III/IV
is dropped. Each name has one or more readings (``readings``), a family name and
the given names before it, and two names match when a reading of each does:

- their family names are equal, spaces ignored: the last word, or the last two or
  three together ("Le Cun" is "LeCun", "van der Berg" is "Van Der Berg"), always
  leaving at least one given name when the name has more than one word; and
- their first given names agree: equal when both are written out, the same first
  letter when either is an initial ("Y." agrees with "Yann", "J." with "Jane" and
  "John"); a name of one word (a surname alone, a mononym) agrees with any given name.

A family name of several words is read alone, with no given name, when the name
says so: lower-case particles before its last word ("van der Berg", "de la Cruz",
"von Neumann": a particle so written is never a given name), one hyphenated word
("García-Márquez"), or a comma after it ("García Márquez,"). Without one of these
marks "García Márquez" reads as "Ann Lee" does, a given name and a family name: no
rule without a list of names could tell them apart. A capitalised particle may be a
given name ("Le Song", "Van Morrison"): such a name is read both ways.

A name with ä, ö or ü is also read in its German spelling with an e ("Jürgen" as
"Juergen"): the umlaut is the evidence. A name without one is read only as written,
so "Juergen" and "Jurgen" are not matched, nor "Yue" and "Yu" (undoing "ue" wherever
it is written would make one person of many).

So "Yann LeCun", "Y. LeCun", "LeCun, Yann", "Yann Le Cun" and "Yänn Lecun" are one
person, and "A. LeCun" or "Alan LeCun" another. Middle names are not compared;
a family name written first without a comma ("Wang Wei") is not turned round.

A followed name that starts with ``@`` is a Hugging Face user name ("@ylecun"),
matched without regard to case against the authors who claimed the paper there
(``Paper.hf_users``; other listings have none).

An organisation matches ``Paper.organization`` (Hugging Face's name of the
organisation that submitted it), normalised the same way, when it is equal or
appears in it as whole words: "Meta" matches "AI at Meta", not "Metabolic Lab".

The listing's names are read once per index into a table by family name; each
followed name or organisation is then looked up once per index (shared by every
reader who follows it), and each reader's set of follows once per index.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..model import Paper
    from .index import Index

FAMILY_WORDS = 3  # "van der Berg": the most words a family name is tried with
SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv"})
# words that start a family name ("van der Berg", "de la Cruz", "von Neumann", "bin Said")
PARTICLES = frozenset({"van", "von", "der", "den", "de", "del", "della", "di", "da", "das", "dos", "du", "des", "la",
                       "le", "ten", "ter", "zu", "af", "bin", "ibn", "al", "el"})
_LETTERS = re.compile(r"[^\W\d_]+")
_HYPHENATED = re.compile(r"[^\W\d_]+(?:[-\u2010\u2011][^\W\d_]+)+")
_AFFILIATION = re.compile(r"\([^)]*\)?|\[[^\]]*\]?")
_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"})
_WORDS = re.compile(r"\w+")
_APOSTROPHES = re.compile("['\u2019\u02bc`]")
# letters NFKD leaves whole (a stroke or a ligature is no combining mark), as their plain spelling
_PLAIN = str.maketrans({"ł": "l", "ø": "o", "đ": "d", "ð": "d", "ħ": "h", "ŧ": "t", "ı": "i", "æ": "ae", "œ": "oe",
                        "þ": "th"})

MAX_FOLLOWS = 100  # authors, and organisations, one reader may follow
MAX_FOLLOW_CHARS = 100
_HANDLE = re.compile(r"@[A-Za-z0-9][A-Za-z0-9._-]{0,95}")

Entry = tuple[int, tuple[str, ...], str]  # paper number, given names, the name as the listing writes it
Reading = tuple[str, tuple[str, ...]]  # a family name without spaces, the given names before it


@dataclass(frozen=True, slots=True)
class Follows:
    """The authors and organisations one reader follows, as they wrote them."""

    authors: tuple[str, ...] = ()
    orgs: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.authors or self.orgs)


class Following(Protocol):
    @property
    def authors(self) -> tuple[str, ...]: ...

    @property
    def orgs(self) -> tuple[str, ...]: ...


def follows_of(reader: Following) -> Follows | None:
    """The reader's follows, or None when they follow nobody (the ranking is then the keyword ranking)."""
    return Follows(tuple(reader.authors), tuple(reader.orgs)) if reader.authors or reader.orgs else None


def follow_problem(text: str, kind: str) -> str | None:
    """What is wrong with one followed author (``kind`` "authors") or organisation ("orgs"), or None.

    A name needs a letter, a Hugging Face user name (``@ylecun``) letters, digits,
    dots, dashes and underscores; control and bidirectional characters are refused:
    they would reach the digest's "why" line.
    """
    value = text.strip()
    shown = value if len(value) <= 60 else value[:60] + "…"
    if not value:
        return "an empty name"
    if len(value) > MAX_FOLLOW_CHARS:
        return f'"{shown}" is longer than {MAX_FOLLOW_CHARS} characters'
    if any(unicodedata.category(c)[0] == "C" for c in value):
        return f"{shown!r} has control characters"
    if kind == "authors" and value.startswith("@"):
        return None if _HANDLE.fullmatch(value) else f'"{shown}" is not a Hugging Face user name (e.g. @ylecun)'
    if kind == "authors" and not name_words(value):
        return f'"{shown}" is not a name (e.g. "Yann LeCun", "LeCun, Y." or @ylecun)'
    if kind == "orgs" and not org_words(value).strip():
        return f'"{shown}" is not an organisation name (e.g. "Meta AI")'
    return None


def fold(text: str) -> str:
    """NFKD, accents dropped, casefolded, strokes and ligatures spelt out: "Yänn" and "YANN" are "yann",
    "Łukasz" is "lukasz", "Søren" "soren"."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().translate(_PLAIN)


def name_words(name: str) -> tuple[str, ...]:
    """A person's name as words, given names first: "LeCun, Yann" and "Yann LeCun" are ("yann", "lecun")."""
    text = _APOSTROPHES.sub("", fold(without_affiliation(name)))
    family, comma, given = text.partition(",")
    words = _LETTERS.findall(f"{given} {family}" if comma else text)
    while len(words) > 1 and words[-1] in SUFFIXES:
        words.pop()
    return tuple(words)


def without_affiliation(name: str) -> str:
    """The name less what brackets hold: "Jane Doe (MIT)" is "Jane Doe" (a bracket left open runs to the end)."""
    return _AFFILIATION.sub(" ", name) if "(" in name or "[" in name else name


def readings(name: str) -> list[Reading]:
    """Each way to read a person's name: (family name without spaces, the given names before it).

    A name with an umlaut is read in both spellings, "Jürgen" as "jurgen" and as
    "juergen"; a name without one only as written, so "Yue" is never "Yu".
    """
    text = without_affiliation(name)
    found: list[Reading] = []
    for spelling in _spellings(text):
        found.extend(r for r in _readings_of(spelling) if r not in found)
    return found


def _spellings(text: str) -> tuple[str, ...]:
    if text.isascii():
        return (text,)
    text = unicodedata.normalize("NFC", text)  # "u" and a combining diaeresis are "ü"
    german = text.translate(_UMLAUTS)
    return (text, german) if german != text else (text,)


def _readings_of(text: str) -> list[Reading]:
    """The readings of one spelling: a family name alone, given and family names, or both (the module docstring)."""
    words = name_words(text)
    alone: Reading = ("".join(words), ())
    plain = _APOSTROPHES.sub("", text).strip()
    _, comma, given = plain.partition(",")
    if comma and not given.strip() or " " not in plain and _HYPHENATED.fullmatch(plain):
        return [alone] if words else []  # "García Márquez," or "García-Márquez"
    if len(words) > 1 and all(word in PARTICLES for word in words[:-1]):
        return [alone] if plain[:1].islower() else [alone, *family_splits(words)]  # "van der Berg"; "Le Song"
    return family_splits(words)


def family_splits(words: tuple[str, ...]) -> list[tuple[str, tuple[str, ...]]]:
    """Each way to read the name: (family name without spaces, the given names before it)."""
    if len(words) <= 1:
        return [("".join(words), ())] if words else []
    return [("".join(words[-k:]), words[:-k]) for k in range(1, min(FAMILY_WORDS, len(words) - 1) + 1)]


def given_agree(one: tuple[str, ...], other: tuple[str, ...]) -> bool:
    """Whether the first given names can be the same person's: equal, or one an initial of the other."""
    if not one or not other:
        return True
    a, b = one[0], other[0]
    return a[0] == b[0] if len(a) == 1 or len(b) == 1 else a == b


def same_person(followed: str, listed: str) -> bool:
    """Whether a followed name and a listing's author name match (the rule in the module docstring)."""
    listed_readings = readings(listed)
    return any(family == other and given_agree(given, other_given)
               for family, given in readings(followed)
               for other, other_given in listed_readings)


def org_words(name: str) -> str:
    """An organisation as its words, spaced and padded: " ai at meta " (whole-word containment is ``in``)."""
    return f" {' '.join(_WORDS.findall(_APOSTROPHES.sub('', fold(name))))} "


def org_matches(followed: str, organization: str) -> bool:
    words = org_words(followed)
    return words.strip() != "" and words in org_words(organization)


class Listed:
    """The papers' authors by family name, their HF user names and organisations: read once, on first use."""

    def __init__(self, papers: Sequence[Paper]) -> None:
        self.by_family: dict[str, list[Entry]] = defaultdict(list)
        self.by_user: dict[str, list[int]] = defaultdict(list)
        self.by_org: dict[str, list[int]] = defaultdict(list)
        for i, paper in enumerate(papers):
            for author in paper.authors:
                for family, given in readings(author):
                    self.by_family[family].append((i, given, author))
            for user in paper.hf_users:
                self.by_user[user.casefold()].append(i)
            if paper.organization:
                self.by_org[paper.organization].append(i)

    def author(self, followed: str) -> dict[int, str]:
        """Papers by this followed author: paper number -> the name as the listing writes it."""
        if followed.startswith("@"):
            return {i: followed for i in self.by_user.get(followed[1:].casefold(), ())}
        found: dict[int, str] = {}
        for family, given in readings(followed):
            for i, other, written in self.by_family.get(family, ()):
                if i not in found and given_agree(given, other):
                    found[i] = written
        return found

    def org(self, followed: str) -> dict[int, str]:
        """Papers from this followed organisation: paper number -> the organisation as the listing writes it."""
        return {i: name for name, numbers in self.by_org.items() if org_matches(followed, name) for i in numbers}


def followed_papers(index: Index, follows: Follows) -> dict[int, str]:
    """The papers by what the reader follows, and why: {paper number: "by Yann LeCun; from Meta AI"}.

    Cached on the index per set of follows; each name and organisation per index.
    """
    cache = index.cache["follows"]
    key = ("reader", frozenset(follows.authors), frozenset(follows.orgs))
    found = cache.get(key)
    if found is None:
        found = cache[key] = _reasons(lambda kind, item: _lookup(index, kind, item), follows)
    return found


def reasons_for(papers: Sequence[Paper], follows: Follows) -> dict[int, str]:
    """``followed_papers`` for a few papers without an index (the archive's page of a sent digest)."""
    listed = Listed(papers)
    return _reasons(lambda kind, item: listed.author(item) if kind == "author" else listed.org(item), follows)


def _reasons(lookup: Callable[[str, str], dict[int, str]], follows: Follows) -> dict[int, str]:
    names = _collect(lookup, "author", follows.authors)
    orgs = _collect(lookup, "org", follows.orgs)
    return {i: reason(names.get(i, ()), orgs.get(i, ())) for i in sorted({*names, *orgs})}


def name_list(names: Sequence[str]) -> str:
    """People's names in a line: ``Ada Lovelace, Alan Turing``; ``Liskov, Barbara; Hopper, Grace`` when one
    is written "Last, First" (a journal's feed, a BibTeX export), where commas alone would not say who is who."""
    return ("; " if any("," in name for name in names) else ", ").join(names)


def reason(names: Sequence[str], orgs: Sequence[str]) -> str:
    """Why a paper was picked for a follow: "by Yann LeCun, Léon Bottou; from Meta AI"."""
    parts = [f"by {name_list(names)}"] if names else []
    return "; ".join(parts + [f"from {org}" for org in orgs])


def prepare(index: Index, follows: Iterable[Follows | None]) -> None:
    """Every reader's follows looked up now (before forking workers that would each redo them)."""
    for found in follows:
        if found:
            followed_papers(index, found)


def _collect(lookup: Callable[[str, str], dict[int, str]], kind: str,
             followed: Iterable[str]) -> dict[int, tuple[str, ...]]:
    """Per paper, what of ``followed`` it is by, as the listing writes it, in the reader's order."""
    out: dict[int, list[str]] = defaultdict(list)
    for item in followed:
        for i, written in lookup(kind, item).items():
            if written not in out[i]:
                out[i].append(written)
    return {i: tuple(found) for i, found in out.items()}


def _lookup(index: Index, kind: str, item: str) -> dict[int, str]:
    cache = index.cache["follows"]
    key = (kind, item)
    found = cache.get(key)
    if found is None:
        listed = cache.get("listed")
        if listed is None:
            listed = cache["listed"] = Listed(index.papers)
        found = cache[key] = listed.author(item) if kind == "author" else listed.org(item)
    return found
