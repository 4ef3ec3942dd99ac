"""Titles as people read them: inline HTML, LaTeX and markdown emphasis turned into Unicode text.

Journal feeds (Nature's) give titles as HTML: ``<i>p</i>53``, ``CO<sub>2</sub>``,
``Ca<sup>2+</sup>``, ``&amp;``. A pair of known inline tags (``<i>``, ``<b>``, ``<em>``,
``<sub>``, ``<span class="nocase">``, ...) gives way to the words it holds, sub- and
superscript digits and signs become ``₂`` and ``⁺`` (other text stays as it is), and then
HTML entities are read. Anything else in angle brackets (``Reward models for <robots>``,
a lone ``<b>``) is text, as is the result: the renderer escapes it like any title.

arXiv and Hugging Face give titles as their authors typed them: ``$\\mathcal{O}(n)$``,
``Schr\\"odinger``, ``**Bold** claims``. The conversion is pylatexenc's
``LatexNodes2Text`` (math kept as text: ``$\\mathcal{O}(n)$`` is ``𝒪(n)``), run only on
titles that hold a ``$`` or a backslash. Characters that are special to LaTeX but
ordinary in titles (``100% of``, ``A & B``, ``C#``, ``~10x``) are escaped first, so a
``%`` does not comment out the rest of the title. A ``$`` that opens no ``$x$`` span
(no space inside either dollar: ``$5 and $10`` is money) stays a dollar sign. On any error (pylatexenc gives up on deep nesting) the text stays
as it was.
"""

from __future__ import annotations

import html
import html.entities
import logging
import re
from functools import lru_cache
from typing import Any

MAX_LATEX = 1000  # characters: no title is longer, and nothing longer is parsed
_INLINE_TAGS = "i|b|em|strong|u|s|sub|sup|span|sc|scp|small|big|tt|code|font"
# a known tag, its attributes (bounded) and its close, around text holding no tag: the innermost pair
_INLINE_PAIR = re.compile(rf"<({_INLINE_TAGS})(?:\s[^<>]{{0,200}})?>([^<]*)</\1\s*>", re.I)
_BREAK = re.compile(r"<br\s*/?>", re.I)
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_SUBSCRIPT = str.maketrans("0123456789+-−=()", "₀₁₂₃₄₅₆₇₈₉₊₋₋₌₍₎")
_SUPERSCRIPT = str.maketrans("0123456789+-−=()", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁻⁼⁽⁾")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|__(?=\S)(.+?)(?<=\S)__")
_ITALIC = re.compile(r"(?<![\w*])\*(?=[^\s*])([^*]+?)(?<=[^\s*])\*(?![\w*])")
_CODE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
_ORDINARY = re.compile(r"(?<!\\)([%&#~])")
_ESCAPES = {"%": r"\%", "&": r"\&", "#": r"\#", "~": r"\textasciitilde{}"}
_MATH = re.compile(r"(?<!\\)\$(?=[^\s$])((?:\\\$|[^$])*?)(?<=[^\s\\])\$")
_DOLLAR = re.compile(r"(?<!\\)\$")


def readable_title(title: str) -> str:
    """``title`` without inline HTML, LaTeX markup or markdown emphasis; the same text when it has none."""
    text = strip_markdown(strip_inline_html(title))
    if ("$" in text or "\\" in text) and len(text) <= MAX_LATEX:
        text = latex_to_text(text)
    return text if text.strip() else title  # "` `" is no title: keep what was typed


def strip_inline_html(text: str) -> str:
    """Known inline tags, in pairs, replaced by what they hold (innermost first), ``<br>`` by a space, and
    then HTML entities read; ``<robots>`` and a ``<b>`` that is never closed stay as they are."""
    if "<" not in text and "&" not in text:
        return text
    text = _BREAK.sub(" ", text)
    for _ in range(text.count("<")):  # each pass takes one level of tags away
        text, found = _INLINE_PAIR.subn(_pair_content, text)
        if not found:
            break
    return _ENTITY.sub(_entity, text)


def _entity(match: re.Match[str]) -> str:
    """The character of an entity HTML knows; any other (``&notreal;``, not ``¬real;``) stays as written."""
    reference = match.group()
    known = reference.startswith("&#") or reference[1:] in html.entities.html5
    return html.unescape(reference) if known else reference


def _pair_content(match: re.Match[str]) -> str:
    tag, content = match.group(1).lower(), match.group(2)
    scripts = {"sub": _SUBSCRIPT, "sup": _SUPERSCRIPT}.get(tag)
    if scripts and content and all(ord(c) in scripts for c in content):
        return content.translate(scripts)
    return content


def strip_markdown(text: str) -> str:
    """``**bold**``, ``__bold__``, ``*italic*`` and backticks dropped; a lone ``*`` (``A*``) stays."""
    if "*" not in text and "`" not in text and "__" not in text:
        return text
    text = _BOLD.sub(lambda m: m.group(1) or m.group(2), text)
    text = _ITALIC.sub(r"\1", text)
    return _CODE.sub(r"\1", text)


@lru_cache(maxsize=4096)
def latex_to_text(text: str) -> str:
    """Unicode text for LaTeX markup; ``text`` itself when pylatexenc fails on it."""
    source = _dollars_outside_math(_ORDINARY.sub(lambda m: _ESCAPES[m.group(1)], text))
    try:
        converted = _converter().latex_to_text(source)
    except Exception:  # noqa: BLE001 - any failure of a third-party parser leaves the title as written
        return text
    if "%s" in converted and "%s" not in text:  # a macro it could not fill in (``\frac{`` cut short)
        return text
    return " ".join(converted.split()) or text


def _dollars_outside_math(text: str) -> str:
    """A ``$`` that opens no ``$x$`` span (``$5 and $10``, a lone one) is a dollar sign."""
    out, last = [], 0
    for match in _MATH.finditer(text):
        out += [_DOLLAR.sub(r"\\$", text[last:match.start()]), match.group()]
        last = match.end()
    return "".join([*out, _DOLLAR.sub(r"\\$", text[last:])])


@lru_cache(maxsize=1)
def _converter() -> Any:
    from pylatexenc.latex2text import LatexNodes2Text  # imported when a title needs it: not at start-up

    quiet = logging.getLogger("pylatexenc")  # it logs each malformed title as a WARNING on stderr
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    return LatexNodes2Text(math_mode="text")
