"""Inline HTML read as its words: what journal feeds, Zotero and JATS put in titles and abstracts.

Nature's feed writes ``<i>p</i>53``, ``CO<sub>2</sub>``, ``Ca<sup>2+</sup>``, ``&amp;``; Zotero keeps
``<i>``, ``<sub>`` and ``<span class="nocase">`` in titles; abstracts fetched by DOI carry JATS
(``<jats:p>``, ``<jats:italic>``, MathML). ``strip_inline_html`` reads such text where it may or may not
be markup at all: only a pair of known tags is markup (``Reward models for <robots>`` and a ``<b>``
never closed stay text), an inline pair gives way to what it holds, a block pair (``<p>``, ``<div>``,
``<jats:sec>``) and ``<br>`` to a space around it. Sub- and superscript digits and signs become ``₂``
and ``⁺``, other text stays as it is (``T<sub>eff</sub>`` is ``Teff``). Then HTML's entities are read,
once: ``&amp;lt;i&amp;gt;`` is the text ``<i>``, never a tag.

The result is text, and the renderer escapes it like any other. One pass over the tags, in time
linear in the text's length, however deeply they nest: a library export runs this on every field.
"""

from __future__ import annotations

import html
import html.entities
import re
from dataclasses import dataclass

_INLINE = frozenset("i b em strong u s sub sup span sc scp small big tt code font".split()) | frozenset(
    f"jats:{name}" for name in "italic bold sub sup sc underline monospace inline-formula".split())
_BLOCK = frozenset({"p", "div"})
_TAG = re.compile(r"<(/?)([A-Za-z][\w.:-]{0,40})(?:\s[^<>]{0,500})?>")
_BREAK = re.compile(r"<br\s*/?>", re.I)
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_SCRIPTS = {
    "sub": str.maketrans("0123456789+-−=()", "₀₁₂₃₄₅₆₇₈₉₊₋₋₌₍₎"),
    "sup": str.maketrans("0123456789+-−=()", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁻⁼⁽⁾"),
}
_SCRIPTABLE = frozenset(_SCRIPTS["sub"])  # code points, as str.maketrans keys them


def strip_inline_html(text: str) -> str:
    """``text`` with each pair of known tags replaced by what it holds, ``<br>`` by a space, and then HTML's
    entities read; ``<robots>`` and a ``<b>`` that is never closed stay as they are."""
    if "<" not in text and "&" not in text:
        return text
    text = _BREAK.sub(" ", text)
    pairs, last = _Pairs(), 0
    for match in _TAG.finditer(text):
        pairs.text(text[last:match.start()])
        pairs.tag(match)
        last = match.end()
    pairs.text(text[last:])
    return _ENTITY.sub(_entity, "".join(pairs.out))


def _kind(name: str) -> str | None:
    """``inline``, ``block`` or None (not markup) for a tag's lower-case name."""
    if name in _INLINE or name.startswith("mml:"):
        return "inline"
    return "block" if name in _BLOCK or name.startswith("jats:") else None


@dataclass
class _Open:
    """A known tag not closed yet."""

    name: str
    at: int  # where its tag sits in the output
    empty: bool = True  # it holds nothing yet
    scriptable: bool = True  # all it holds is digits and signs that a sub- or superscript has


class _Pairs:
    """The output, with the known tags still open: a close that matches the innermost one makes a pair."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self.open: list[_Open] = []

    def text(self, text: str) -> None:
        if not text:
            return
        if self.open:
            inner = self.open[-1]
            inner.empty = False
            inner.scriptable = inner.scriptable and all(ord(c) in _SCRIPTABLE for c in text)
        self.out.append(text)

    def tag(self, match: re.Match[str]) -> None:
        closing, name = match.group(1), match.group(2).lower()
        if not closing and _kind(name):
            self.open.append(_Open(name, len(self.out)))
            self.out.append(match.group())
        elif closing and self.open and self.open[-1].name == name:
            self._close(self.open.pop())
        else:
            self.text(match.group())

    def _close(self, pair: _Open) -> None:
        """The pair's tags go, a block's leaving a space each side, and a sub- or superscript of digits and
        signs is written as one: the enclosing tag then holds a ``₂``, which is no digit to convert again."""
        scripts = _SCRIPTS.get(pair.name.rpartition(":")[2])
        if scripts and pair.scriptable and not pair.empty:
            held = "".join(self.out[pair.at + 1:])  # never joined before: it held digits and signs only
            del self.out[pair.at:]
            self.text(held.translate(scripts))
        elif _kind(pair.name) == "block":
            self.out[pair.at] = " "
            self.text(" ")
        else:
            self.out[pair.at] = ""
            if self.open:
                outer = self.open[-1]
                outer.empty, outer.scriptable = outer.empty and pair.empty, outer.scriptable and pair.scriptable


def _entity(match: re.Match[str]) -> str:
    """The character of an entity HTML knows; any other (``&notreal;``, not ``¬real;``) stays as written."""
    reference = match.group()
    known = reference.startswith("&#") or reference[1:] in html.entities.html5
    return html.unescape(reference) if known else reference
