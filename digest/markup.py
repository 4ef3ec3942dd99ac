"""Inline HTML read as its words: what journal feeds, Zotero and JATS put in titles and abstracts.

Nature's feed writes ``<i>p</i>53``, ``CO<sub>2</sub>``, ``Ca<sup>2+</sup>``, ``&amp;``; Zotero keeps
``<i>``, ``<sub>`` and ``<span class="nocase">`` in titles; abstracts fetched by DOI carry JATS
(``<jats:p>``, ``<jats:italic>``, MathML). ``strip_inline_html`` reads such text where it may or may not
be markup at all: only a pair of known tags is markup (``Reward models for <robots>`` and a ``<b>``
never closed stay text), an inline pair gives way to what it holds, a block pair (``<p>``, ``<div>``,
``<jats:sec>``) and ``<br>`` to a space around it. Sub- and superscript digits and signs become ``₂``
and ``⁺``, other text stays as it is (``T<sub>eff</sub>`` is ``Teff``). Then HTML's entities are read,
once: ``&amp;lt;i&amp;gt;`` is the text ``<i>``, never a tag.

``html_to_text`` reads a field that is HTML whatever it holds (a journal's RSS description): there every
tag is markup, an unknown one (``<img>``, ``<li>``) gives way to a space, and what ``<script>`` and
``<style>`` hold goes. arXiv's plain abstracts are never read so: ``x<y`` and ``<1%`` are what they say.

The result is text, and the renderer escapes it like any other. One pass over the tags, in time
linear in the text's length, however deeply they nest: a library export runs this on every field.
"""

from __future__ import annotations

import html
import html.entities
import re
from dataclasses import dataclass

_INLINE = frozenset("i b em strong u s sub sup span sc scp small big tt code font a abbr cite q var".split()) | (
    frozenset(f"jats:{name}" for name in "italic bold sub sup sc underline monospace inline-formula".split()))
_BLOCK = frozenset({"p", "div"})
_HIDDEN = frozenset({"script", "style"})  # in an HTML field: what they hold is no text
# a tag (attributes bounded), or in an HTML field a comment, <!DOCTYPE ...> or <?...?>
_TAG = re.compile(r"<(/?)([A-Za-z][\w.:-]{0,40})(?:\s[^<>]{0,500})?(/?)>|<[!?][^<>]{0,2000}>")
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
    return _read(text, _Pairs())


def html_to_text(html: str) -> str:
    """A field that is HTML (an RSS description, an Atom summary of type ``html``) as plain text: every tag
    is markup, read as ``strip_inline_html`` reads the known ones, and any other gives way to a space
    (``<img>``, ``<li>``, a tag left open or closed twice); comments go, and so does what ``<script>`` and
    ``<style>`` hold. Text written as ``&lt;b&gt;`` is the text ``<b>``: entities are read once, last."""
    if "<" not in html and "&" not in html:
        return html
    return _read(html, _HTMLPairs())


def _read(text: str, pairs: _Pairs) -> str:
    text = _BREAK.sub(" ", text)
    last = 0
    for match in _TAG.finditer(text):
        pairs.text(text[last:match.start()])
        pairs.tag(match)
        last = match.end()
    pairs.text(text[last:])
    return _ENTITY.sub(_entity, "".join(pairs.finished()))


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
        closing, name, alone = match.group(1), (match.group(2) or "").lower(), match.group(3)
        if name and not closing and not alone and self.markup(name):
            self.open.append(_Open(name, len(self.out)))
            self.out.append(match.group())
        elif name and closing and self.open and self.open[-1].name == name:
            self._close(self.open.pop())
        else:
            self.other(match.group())

    def markup(self, name: str) -> bool:
        """Whether an opening tag of this name may start a pair."""
        return _kind(name) is not None

    def other(self, tag: str) -> None:
        """A tag that is not part of a pair: text, where markup is only what it is sure to be."""
        self.text(tag)

    def finished(self) -> list[str]:
        return self.out

    def _close(self, pair: _Open) -> None:
        """The pair's tags go, a block's leaving a space each side, and a sub- or superscript of digits and
        signs is written as one: the enclosing tag then holds a ``₂``, which is no digit to convert again."""
        scripts = _SCRIPTS.get(pair.name.rpartition(":")[2])
        if pair.name in _HIDDEN:
            del self.out[pair.at:]
            self.text(" ")
        elif scripts and pair.scriptable and not pair.empty:
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


class _HTMLPairs(_Pairs):
    """In a field that is HTML, every tag is markup: one that makes no pair is a space."""

    def markup(self, name: str) -> bool:
        return _kind(name) is not None or name in _HIDDEN

    def other(self, tag: str) -> None:
        self.text(" ")

    def finished(self) -> list[str]:
        """The output, a tag never closed being a space (what it holds stays, even a ``<script>``'s: text)."""
        for pair in self.open:
            self.out[pair.at] = " "
        return self.out


def _entity(match: re.Match[str]) -> str:
    """The character of an entity HTML knows; any other (``&notreal;``, not ``¬real;``) stays as written."""
    reference = match.group()
    known = reference.startswith("&#") or reference[1:] in html.entities.html5
    return html.unescape(reference) if known else reference
