"""Spelling variants: one word, several spellings (British and American, hyphenated or joined).

A query word also matches its other spellings *that the day's listing holds*
(``Index`` keeps only those): ``colour`` finds ``color``, ``dialog`` finds
``dialogue``, ``optimise`` finds ``optimization``. Rules may make spellings no one
uses ("filtre"); they cost nothing, since no listing holds them. A hyphenated
keyword (``pre-training``) also matches the joined word (``pretraining``), and the
index keeps a hyphenated word of a paper also as the joined word, so both ways hold.
Exact keywords ("...") keep their own spelling.
"""

from __future__ import annotations

import re
from functools import lru_cache

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
    if word.startswith(_OUR_ROOTS):
        for root in _OUR_ROOTS:
            if word.startswith(root):
                return root[:-2] + "r" + word[len(root):]
    base = singular_form(word)
    if base in _IRREGULAR:
        return _IRREGULAR[base] + word[len(base):]
    for pattern, replacement in _RULES if _ANY_RULE.search(word) else ():
        changed = pattern.sub(replacement, word)
        if changed != word:
            return changed
    return word


def _british(word: str) -> set[str]:
    found = ({root + word[len(root) - 1:] for root in _OUR_ROOTS if word.startswith(root[:-2] + "r")}
             if word.startswith(_THEIR_ROOTS) else set())
    base = singular_form(word)
    found |= {b + word[len(base):] for b in _BRITISH.get(base, ())}
    if _ANY_REVERSED.search(word):
        found |= {pattern.sub(b, word) for pattern, b in _REVERSED_RULES if pattern.search(word)}
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
# compiled once (``re.sub`` with a pattern string looks it up in re's cache on every call), one pass
# that says whether any rule applies (most words: none), and the tables read the other way
_RULES = tuple((re.compile(pattern), replacement) for pattern, replacement in _SPELLING_RULES)
_REVERSED_RULES = tuple((re.compile(pattern), replacement) for pattern, replacement in _REVERSED)
_ANY_RULE = re.compile("|".join(f"(?:{pattern})" for pattern, _ in _SPELLING_RULES))
_ANY_REVERSED = re.compile("|".join(f"(?:{pattern})" for pattern, _ in _REVERSED))
_THEIR_ROOTS = tuple(root[:-2] + "r" for root in _OUR_ROOTS)
_BRITISH: dict[str, tuple[str, ...]] = {}
for _british_form, _american_form in _IRREGULAR.items():
    _BRITISH[_american_form] = (*_BRITISH.get(_american_form, ()), _british_form)


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


_HYPHENATED = re.compile(r"[^\W_]+(?:-[^\W_]+)+")
_TOKEN = re.compile(r"[^\W_]+(?:-[^\W_]+)*")


def joined_words(text: str) -> tuple[str, ...] | None:
    """``pre-training data`` -> ``("pretraining", "data")``; None without a hyphenated word."""
    if not _HYPHENATED.search(text):
        return None
    return tuple(t.replace("-", "").lower() for t in _TOKEN.findall(text.rstrip("*")))
