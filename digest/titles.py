"""Titles as people read them: inline HTML, LaTeX and markdown emphasis turned into Unicode text.

Journal feeds (Nature's) give titles as HTML: ``<i>p</i>53``, ``CO<sub>2</sub>``,
``Ca<sup>2+</sup>``, ``&amp;``. A pair of known tags gives way to the words it holds, and
sub- and superscript digits become ``₂`` and ``⁺`` (``digest.markup``, which reads a Zotero
library's titles the same way). Anything else in angle brackets (``Reward models for <robots>``,
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

import logging
import re
from functools import lru_cache
from typing import Any

from .markup import strip_inline_html

MAX_LATEX = 1000  # characters: no title is longer, and nothing longer is parsed
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
