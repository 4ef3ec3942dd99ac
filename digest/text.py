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


# --- spelling variants: one word, several spellings ------------------------------------

_OUR_ROOTS = ("arbour", "ardour", "armour", "behaviour", "candour", "clamour", "colour", "endeavour", "favour",
              "fervour", "flavour", "harbour", "honour", "humour", "labour", "neighbour", "odour", "parlour",
              "rigour", "rumour", "saviour", "savour", "splendour", "tumour", "valour", "vapour", "vigour")
_IRREGULAR = {"programme": "program", "judgement": "judgment", "artefact": "artifact", "ageing": "aging",
              "grey": "gray", "sceptic": "skeptic", "sceptical": "skeptical", "mould": "mold",
              "manoeuvre": "maneuver", "aeroplane": "airplane", "aluminium": "aluminum", "defence": "defense",
              "offence": "offense", "licence": "license", "pretence": "pretense", "analogue": "analog",
              "enrol": "enroll", "fulfil": "fulfill", "skilful": "skillful", "learnt": "learned"}
_SPELLING_RULES = (  # (British pattern, American replacement); each also read the other way
    (r"is(e|es|ed|ing|er|ers|ation|ations|ational|able)$", r"iz\1"),  # optimise, tokeniser, organisation
    (r"ys(e|es|ed|ing|er|ers)$", r"yz\1"),  # analyse, catalyse
    (r"logue(s|d)?$", r"log\1"),  # dialogue, catalogue, monologue
    (r"([tb])re(s)?$", r"\1er\2"),  # centre, metre, fibre
    (r"([tb])red$", r"\1ered"),  # centred
    (r"([tb])ring$", r"\1ering"),  # centring
)


def _american(word: str) -> str:
    for root in _OUR_ROOTS:
        if word.startswith(root):
            return root[:-2] + "r" + word[len(root):]
    base = singular_form(word)
    if base in _IRREGULAR:
        return _IRREGULAR[base] + word[len(base):]
    for pattern, replacement in _SPELLING_RULES:
        changed = re.sub(pattern, replacement, word)
        if changed != word:
            return changed
    return word


def _british(word: str) -> set[str]:
    found = {root + word[len(root) - 1:] for root in _OUR_ROOTS if word.startswith(root[:-2] + "r")}
    base = singular_form(word)
    found |= {b + word[len(base):] for b, a in _IRREGULAR.items() if a == base}
    found |= {re.sub(a, b, word) for a, b in _REVERSED if re.search(a, word)}
    return found


_REVERSED = (
    (r"iz(e|es|ed|ing|er|ers|ation|ations|ational|able)$", r"is\1"),
    (r"yz(e|es|ed|ing|er|ers)$", r"ys\1"),
    (r"log(s)?$", r"logue\1"),
    (r"logged$", r"logued"),
    (r"([tb])er(s)?$", r"\1re\2"),
    (r"([tb])ered$", r"\1red"),
    (r"([tb])ering$", r"\1ring"),
)


@lru_cache(maxsize=100_000)
def spelling_variants(word: str) -> frozenset[str]:
    """``dialog`` -> ``{dialog, dialogue}``: a lowercased word and its other spellings.

    British and American spellings (colour/color, optimise/optimize, centre/center,
    analyse/analyze, dialogue/dialog, a short table of irregular ones). Rules may
    make spellings no one uses ("filtre"): callers keep only the ones a listing holds.
    """
    american = _american(word)
    return frozenset({word, american, *_british(american)})


def singular_form(word: str) -> str:
    """The word without a plain plural ``s`` (``colours`` -> ``colour``)."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def hyphen_words(text: str) -> list[tuple[int, str]]:
    """``pre-training`` -> ``(index of its first part, "pretraining")``: the joined word as written."""
    out: list[tuple[int, str]] = []
    index = 0
    for token in _TOKEN.findall(text):
        parts = [p for p in token.replace("'", "-").split("-") if p]
        if len(parts) > 1 and "-" in token:
            out.append((index, "".join(parts).lower()))
        index += len(parts)
    return out
