"""Render a reader's picks into subject, plain text and HTML.

The MJML template is compiled to HTML once per load (MRML, ~1 ms), then filled
by Jinja per reader (~0.4 ms). One Environment, autoescaping HTML (the compiled
template has no name, so it is escaped) but not the ``.txt.j2`` templates.
The preview server and the mailer call the same ``render``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from datetime import date
from pathlib import Path
from typing import Any

import jinja2
import mjml
from markupsafe import Markup, escape

from .errors import TemplateError
from .mime import clean_header, encoded_size
from .model import Subscriber
from .rank import Pick
from .text import stem, words

HTML_TEMPLATE = "digest.mjml.j2"
TEXT_TEMPLATE = "digest.txt.j2"
SUBJECT_TEMPLATE = "subject.txt.j2"
MAX_MESSAGE_BYTES = 100_000  # Gmail clips at ~102 KB
SNIPPET_CHARS = (420, 240)
AUTHORS_SHOWN = 3


def bundled_templates() -> Path:
    """Inside the wheel: digest/templates; in a source checkout: ./templates."""
    here = Path(__file__).resolve().parent
    inside = here / "templates"
    return inside if inside.is_dir() else here.parent / "templates"


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str
    shown: int
    overflow: int


class Renderer:
    def __init__(self, templates_dir: Path | None = None) -> None:
        self.folder = templates_dir or bundled_templates()
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(self.folder),
            autoescape=jinja2.select_autoescape(enabled_extensions=("html", "mjml.j2"), default_for_string=True),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
        )
        self.env.filters["wordwrap"] = self._cached_wordwrap(self.env)
        self._stamp: tuple[float, ...] = ()
        self.load()

    @staticmethod
    def _cached_wordwrap(env: jinja2.Environment) -> Any:
        """Jinja's own ``wordwrap``, remembered: the same abstract is wrapped for many readers."""

        @lru_cache(maxsize=4096)
        def wrap(text: str, width: int = 79, break_long_words: bool = True, wrapstring: str | None = None,
                 break_on_hyphens: bool = True) -> str:
            return jinja2.filters.do_wordwrap(env, text, width, break_long_words, wrapstring, break_on_hyphens)

        def wordwrap(text: Any, *args: Any, **kwargs: Any) -> str:
            return wrap(str(text), *args, **kwargs)

        return wordwrap

    def load(self) -> None:
        """(Re)compile the templates; a broken template is a TemplateError naming it."""
        paths = [self.folder / n for n in (HTML_TEMPLATE, TEXT_TEMPLATE, SUBJECT_TEMPLATE)]
        missing = [p for p in paths if not p.is_file()]
        if missing:
            raise TemplateError(f"template {missing[0]} not found; check DIGEST_TEMPLATES_DIR")
        try:
            compiled = mjml.mjml2html(paths[0].read_text(encoding="utf-8"))
            self.html = self.env.from_string(compiled)
            self.text = self.env.get_template(TEXT_TEMPLATE)
            self.subject = self.env.get_template(SUBJECT_TEMPLATE)
        except ValueError as err:  # MRML parse errors
            raise TemplateError(f"{paths[0]}: MJML does not parse: {err}") from err
        except jinja2.TemplateError as err:
            raise TemplateError(f"{getattr(err, 'filename', None) or paths[0]}: {err}") from err
        self._stamp = tuple(p.stat().st_mtime_ns for p in paths)

    def reload_if_changed(self) -> bool:
        paths = [self.folder / n for n in (HTML_TEMPLATE, TEXT_TEMPLATE, SUBJECT_TEMPLATE)]
        try:
            stamp = tuple(p.stat().st_mtime_ns for p in paths)
        except OSError:
            return False
        if stamp == self._stamp:
            return False
        self.env.cache.clear() if self.env.cache is not None else None
        self.load()
        return True

    def render(self, reader: Subscriber, picks: list[Pick], *, day: date, unsubscribe: str,
               budget: int = MAX_MESSAGE_BYTES) -> Rendered:
        """Render within the size budget: shorter snippets first, then fewer picks."""
        for chars in SNIPPET_CHARS:
            result = self._render(reader, picks, len(picks), day, unsubscribe, chars)
            if encoded_size(result.text, result.html) <= budget:
                return result
        low, high = 0, len(picks)
        best = self._render(reader, picks, 0, day, unsubscribe, SNIPPET_CHARS[-1])
        while low < high:  # the most picks that fit
            middle = (low + high + 1) // 2
            attempt = self._render(reader, picks, middle, day, unsubscribe, SNIPPET_CHARS[-1])
            if encoded_size(attempt.text, attempt.html) <= budget:
                low, best = middle, attempt
            else:
                high = middle - 1
        return best

    def _render(self, reader: Subscriber, picks: list[Pick], shown: int, day: date,
                unsubscribe: str, chars: int) -> Rendered:
        context = self._context(reader, picks, shown, day, unsubscribe, chars)
        try:
            subject = clean_header(self.subject.render(context))
            context["subject"] = subject
            return Rendered(subject, self.text.render(context), self.html.render(context), shown, len(picks) - shown)
        except jinja2.TemplateError as err:
            raise TemplateError(f"rendering the digest failed: {err}") from err

    def _context(self, reader: Subscriber, picks: list[Pick], shown: int, day: date,
                 unsubscribe: str, chars: int) -> dict[str, Any]:
        items = [_item(p, chars) for p in picks[:shown]]
        count = len(picks)
        headline = f"{count} new paper{'s' if count != 1 else ''} matched your keywords" if count else "Nothing new today"
        top = picks[0].paper.title if picks else ""
        return {
            "items": items, "count": count, "overflow": count - shown, "date_text": day.strftime("%a %d %b %Y"),
            "headline": headline, "top_title": clean_header(top)[:80],
            "preheader": f"{headline}: " + "; ".join(i["title"] for i in items[:3]),
            "reader_email": reader.email, "reader_name": reader.name,
            "keywords": ", ".join(reader.keywords), "unsubscribe": unsubscribe,
            "unsubscribe_text": unsubscribe.removeprefix("mailto:").split("?")[0] if unsubscribe else "reply to this email",
            "subject": "",
        }


def _item(pick: Pick, chars: int) -> dict[str, Any]:
    paper = pick.paper
    snippet = shorten(paper.abstract, chars)
    stems = {stem(w) for m in pick.matched for w in re.findall(r"\w+", m.keyword.lower())}
    authors = ", ".join(paper.authors[:AUTHORS_SHOWN]) + (" et al." if len(paper.authors) > AUTHORS_SHOWN else "")
    extras = [f"▲ {paper.upvotes} upvotes"] if paper.upvotes else []
    if paper.organization:
        extras.append(paper.organization)
    if paper.published:
        extras.append(paper.published.isoformat())
    return {
        "rank": pick.rank, "title": paper.title, "url": safe_url(paper.url) or "#", "authors": authors,
        "snippet": highlight(snippet, stems), "snippet_text": snippet,
        "matched": pick.matched_text or "related to your keywords", "score": pick.score,
        "extras": " · ".join(extras), "github": safe_url(paper.github),
    }


def shorten(text: str, chars: int) -> str:
    if len(text) <= chars:
        return text
    cut = text[:chars].rsplit(" ", 1)[0]
    return cut.rstrip(",;:") + " …"


def highlight(text: str, stems: set[str] | frozenset[str]) -> Markup:
    """Escape ``text`` and bold the words whose stem a keyword has."""
    return _highlight(text, frozenset(stems))


@lru_cache(maxsize=8192)  # readers who share a keyword get the same snippet for the same paper
def _highlight(text: str, stems: frozenset[str]) -> Markup:
    out: list[str] = []
    last = 0
    for start, end, word_stem in _stemmed_words(text) if stems else ():
        if word_stem in stems:
            out.append(str(escape(text[last:start])))
            out.append(f"<strong>{escape(text[start:end])}</strong>")
            last = end
    out.append(str(escape(text[last:])))
    return Markup("".join(out))


@lru_cache(maxsize=4096)
def _stemmed_words(text: str) -> tuple[tuple[int, int, str], ...]:
    """(start, end, stem) of each word: a snippet is shared by every reader it is picked for."""
    found = []
    for match in re.finditer(r"[^\W_]+", text):
        tokens = words(match.group())
        if tokens:
            found.append((match.start(), match.end(), tokens[0][1]))
    return tuple(found)


def safe_url(url: str | None) -> str | None:
    """Only http(s) links from a listing reach an href."""
    if url and re.match(r"^https?://[^\s\"'<>]+$", url):
        return url
    return None
