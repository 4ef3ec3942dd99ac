"""Render a reader's picks into subject, plain text and HTML.

The MJML template is compiled to HTML once per load (MRML, ~1 ms), then filled
by Jinja per reader (~0.4 ms). One Environment, autoescaping HTML (the compiled
template has no name, so it is escaped) but not the ``.txt.j2`` templates.
The preview server and the mailer call the same ``render``.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, urlsplit

import jinja2
import mjml
from markupsafe import Markup, escape

from .errors import KeywordError, TemplateError
from .languages import ENGLISH, is_english, language_tag
from .ranking.authors import name_list
from .ranking.hints import KeywordHint
from .ranking.profile import parse_keyword
from .mime import Bodies, clean_header
from .model import HF_SUMMARY_BY, Listing, Paper, Subscriber, arxiv_id, encodable, web_url
from .ranking.select import Pick
from .ranking.tokens import stem, words
from .text import cut_words, plural, unspaced
from .titles import latex_to_text
from .tokens import ReaderLinks

HTML_TEMPLATE = "digest.mjml.j2"
TEXT_TEMPLATE = "digest.txt.j2"
SUBJECT_TEMPLATE = "subject.txt.j2"
# A line's indentation in the compiled template: HTML shows a line break and spaces as one space, as it
# shows a line break alone, so it goes (the template holds no <pre>); repeated for each paper, it was
# about 4% of a 20-paper email, which Gmail's clipping counts.
_INDENT = re.compile(r"\n[ \t]+")
MAX_MESSAGE_BYTES = 100_000  # Gmail clips at ~102 KB
SNIPPET_CHARS = (420, 240)
SUMMARY_CHARS = 300  # a summary longer than this is cut at a word, with an ellipsis
THUMBNAIL_SIZE = (192, 104)  # CSS pixels, fixed (no layout shift); object-fit: cover crops other shapes
AUTHORS_SHOWN = 3
SUBJECT_CHARS = 78
MATHS_CHARS = 200  # an inline formula longer than this stays as written
HINTS_SHOWN = 5  # keyword notes in an email at most: an operator's list of 400 keywords must not fill it
FOOTER_SHOWN = 10  # keywords, exclusions and followed names the footer names each; the rest it counts


def bundled_templates() -> Path:
    """Inside the wheel: digest/templates; in a source checkout: ./templates."""
    here = Path(__file__).resolve().parent
    inside = here / "templates"
    return inside if inside.is_dir() else here.parent / "templates"


def template_version(sources: Iterable[bytes]) -> str:
    """What the archive records a digest was rendered with: a re-render from other templates differs."""
    return hashlib.sha256(b"\0".join(sources)).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str
    shown: int
    overflow: int
    links: ReaderLinks | None = None  # the reader's signed links, when the digest carries them
    bodies: Bodies = field(init=False, repr=False, compare=False)  # text and HTML encoded: measured, then sent

    def __post_init__(self) -> None:
        object.__setattr__(self, "bodies", Bodies.encode(self.text, self.html))


class Renderer:
    def __init__(self, templates_dir: Path | None = None, *, thumbnails: bool = True) -> None:
        self.folder = templates_dir or bundled_templates()
        self.thumbnails = thumbnails  # DIGEST_THUMBNAILS
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(self.folder),
            autoescape=jinja2.select_autoescape(enabled_extensions=("html", "mjml.j2"), default_for_string=True),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
        )
        self.env.filters["wordwrap"] = self._cached_wordwrap(self.env)
        self.env.filters["prose"] = wrap_prose
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
            compiled = mjml.mjml2html(paths[0].read_text(encoding="utf-8"), fonts={})  # no remote fonts
            self.html = self.env.from_string(_INDENT.sub("\n", compiled))
            self.text = self.env.get_template(TEXT_TEMPLATE)
            self.subject = self.env.get_template(SUBJECT_TEMPLATE)
        except ValueError as err:  # MRML parse errors
            raise TemplateError(f"{paths[0]}: MJML does not parse: {err}") from err
        except jinja2.TemplateError as err:
            raise TemplateError(f"{getattr(err, 'filename', None) or paths[0]}: {err}") from err
        self._stamp = tuple(p.stat().st_mtime_ns for p in paths)
        self.version = template_version(p.read_bytes() for p in paths)

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
               source: str = "", total: int | None = None, budget: int = MAX_MESSAGE_BYTES,
               links: ReaderLinks | None = None, since: date | None = None,
               hints: Sequence[KeywordHint] = (), listed: int | None = None, in_browser: bool = False,
               today: date | None = None) -> Rendered:
        """Render within the size budget: shorter snippets first, then fewer picks.

        ``day`` and ``source`` describe the listing ("Hugging Face Daily Papers",
        12 Mar); ``total`` is how many papers matched before ``DIGEST_MAX_ITEMS``
        cut the picks (default: just the picks). ``links`` (with
        ``DIGEST_PUBLIC_URL``) are the reader's own signed links: view in browser,
        more/less like this under each paper, preferences and unsubscribe. ``since``: the
        first day a catch-up digest covers ("Papers from 9–13 Mar"; None or ``day``: one day).
        ``hints``: the reader's keywords that matched nothing (``ranking.hints``), one line each.
        ``listed``: how many papers the reader's listing held (None: not known); with none at all (a weekend, a
        holiday, under DIGEST_SEND_EMPTY) the email says no papers were listed, not that none of them matched.
        ``in_browser``: for the "view in browser" page itself, which has no "View in your browser" link to itself.
        ``today``: the day it is sent (the app's clock): a listing of another year says its year ("4 Mar 2025").
        """
        frame = _Frame(reader, picks, day, unsubscribe, source or DEFAULT_SOURCE, max(total or 0, len(picks)), links,
                       since if since is not None and since < day else None, self.thumbnails, tuple(hints),
                       listed == 0 and not picks, in_browser, today.year if today else None)
        for chars in SNIPPET_CHARS:
            result = self._render(frame, len(picks), chars)
            if result.bodies.size() <= budget:
                return result
        low, high = 0, len(picks)
        best = self._render(frame, 0, SNIPPET_CHARS[-1])
        while low < high:  # the most picks that fit
            middle = (low + high + 1) // 2
            attempt = self._render(frame, middle, SNIPPET_CHARS[-1])
            if attempt.bodies.size() <= budget:
                low, best = middle, attempt
            else:
                high = middle - 1
        return best

    def _render(self, frame: _Frame, shown: int, chars: int) -> Rendered:
        context = _context(frame, shown, chars)
        try:
            subject = cut_words(clean_header(self.subject.render(context)), SUBJECT_CHARS)
            context["subject"] = subject
            return Rendered(subject, self.text.render(context), self.html.render(context), shown, frame.total - shown,
                            frame.links)
        except jinja2.TemplateError as err:
            raise TemplateError(f"rendering the digest failed: {err}") from err


@dataclass(frozen=True, slots=True)
class _Frame:
    """What one reader's render is about, whatever the size budget leaves of it."""

    reader: Subscriber
    picks: list[Pick]
    day: date
    unsubscribe: str
    source: str
    total: int
    links: ReaderLinks | None = None
    since: date | None = None  # a catch-up digest covers since..day
    thumbnails: bool = True
    hints: tuple[KeywordHint, ...] = ()  # keywords that matched nothing, and what the papers say
    nothing_listed: bool = False  # the listing had no papers at all: nothing could match
    in_browser: bool = False  # the "view in browser" page: no link to itself
    this_year: int | None = None  # the year it is sent in: a day of another year is shown with its year


def _context(frame: _Frame, shown: int, chars: int) -> dict[str, Any]:
    language = language_tag(frame.reader.language)
    items = [_item(p, chars, frame.links, frame.thumbnails, language) for p in frame.picks[:shown]]
    top = frame.picks[0].paper.title if frame.picks else ""
    headline = NOTHING_LISTED if frame.nothing_listed else _headline(shown, frame.total)
    return {
        "items": items, "count": frame.total, "shown": shown, "overflow": frame.total - shown,
        "overflow_reason": _overflow_reason(shown, len(frame.picks)),
        "count_text": _count_text(shown, frame.total), "headline": headline, "nothing_listed": frame.nothing_listed,
        "source_text": frame.source, "date_text": f"{frame.day.day} {frame.day:%b %Y}",
        "day_text": period_text(frame.since, frame.day, frame.this_year), "weekday_text": f"{frame.day:%A}",
        "period_text": f"Papers from {period_text(frame.since, frame.day, frame.this_year)}" if frame.since else "",
        "top_title": clean_header(top),
        "preheader": _preheader(frame, headline, items),
        "reader_email": frame.reader.email, "reader_name": frame.reader.name,
        # a preview for keywords alone (no DIGEST_TO) has no address: "because you follow", not "because  follows"
        "follower": f"{frame.reader.email} follows" if frame.reader.email else "you follow",
        "keywords": readable_keywords(frame.reader.keywords, most=FOOTER_SHOWN), "subject": "",
        "followed_names": _first(name_list, (*frame.reader.authors, *frame.reader.orgs), FOOTER_SHOWN),
        **_unsubscribe_words(frame.unsubscribe),
        "view_url": frame.links.view if frame.links and not frame.in_browser else "",
        "preferences_url": frame.links.preferences if frame.links else "",
        "hints": hint_lines(frame.hints),
        "archive_url": frame.links.archive if frame.links else "",
        "feed_url": frame.links.feed if frame.links else "",
        "all_url": frame.links.whole_list if frame.links and frame.total > shown else "",
    }


def hint_lines(hints: Sequence[KeywordHint]) -> list[str]:
    """A line per keyword that matched nothing, the first ``HINTS_SHOWN - 1`` and a count of the rest when
    there are more than ``HINTS_SHOWN`` (the preferences page lists them all)."""
    if len(hints) <= HINTS_SHOWN:
        return [hint.sentence() for hint in hints]
    rest = hints[HINTS_SHOWN - 1:]
    partly = sum(hint.partly for hint in rest)
    counts = [f"{len(rest) - partly} more matched nothing" if len(rest) > partly else "",
              f"{partly} more matched only partly" if partly else ""]
    return [hint.sentence() for hint in hints[:HINTS_SHOWN - 1]] + [
        "Of your keywords, " + " and ".join(count for count in counts if count)]


def period_text(since: date | None, day: date, this_year: int | None = None) -> str:
    """``13 Mar``, or for a catch-up ``9–13 Mar``, ``28 Feb–3 Mar``, ``30 Dec 2026–2 Jan 2027``.

    ``this_year``: the year it is now; a day of another one says its year (``4 Mar 2025``, ``9–13 Mar 2025``).
    """
    year = f" {day.year}" if this_year is not None and day.year != this_year else ""
    if since is None or since >= day:
        return f"{day.day} {day:%b}{year}"
    if since.year != day.year:
        return f"{since.day} {since:%b %Y}–{day.day} {day:%b %Y}"
    if since.month != day.month:
        return f"{since.day} {since:%b}–{day.day} {day:%b}{year}"
    return f"{since.day}–{day.day} {day:%b}{year}"


def _count_text(shown: int, total: int) -> str:
    """``3 papers``, ``1 paper``, ``20 of 30 papers``."""
    noun = "paper" if total == 1 else "papers"
    return f"{shown} of {total} {noun}" if shown < total else f"{total} {noun}"


NOTHING_LISTED = "No new papers were listed"
DEFAULT_SOURCE = "Paper digest"  # the header's name when the listing's source is not known


def _preheader(frame: _Frame, headline: str, items: list[dict[str, Any]]) -> str:
    """The line an inbox shows after the subject: the first titles; when there are none, what the subject
    does not say already: whose listing it was and for when, and on a day whose papers did not match, the
    first keyword that matched nothing and what the papers say instead."""
    if items:
        return f"{headline}: " + "; ".join(item["title"] for item in items[:3])
    source = frame.source if frame.source != DEFAULT_SOURCE else "The listing"
    when = period_text(frame.since, frame.day, frame.this_year)
    when = when if frame.since else f"{frame.day:%A} {when}"
    if frame.nothing_listed:
        return f"{source} listed no papers for {when} (a weekend or a holiday, perhaps): nothing to match your keywords"
    if frame.hints:
        return frame.hints[0].sentence()
    return f"{source} for {when}: none of its papers matched your keywords"


def _headline(shown: int, total: int) -> str:
    if not total:
        return "Nothing new matched your keywords"
    if shown < total:
        return f"The best {shown} of {total} papers that matched your keywords"
    return f"{plural(total, 'paper')} matched your keywords"


def _overflow_reason(shown: int, picked: int) -> str:
    if shown < picked:
        return "to keep this email readable in every mail app"
    return f"your digest shows at most {plural(picked, 'paper')}"


def _unsubscribe_words(unsubscribe: str) -> dict[str, str]:
    """How to stop: the link, its kind, and a sentence for the text part."""
    if unsubscribe.startswith("mailto:"):
        address = unsubscribe.removeprefix("mailto:").split("?")[0]
        words = f'send an email with the subject "unsubscribe" to {address}'
        return {"unsubscribe": unsubscribe, "unsubscribe_kind": "mailto", "unsubscribe_text": address,
                "unsubscribe_words": words}
    if unsubscribe:
        return {"unsubscribe": unsubscribe, "unsubscribe_kind": "link", "unsubscribe_text": unsubscribe,
                "unsubscribe_words": f"open this link: {unsubscribe}"}
    return {"unsubscribe": "", "unsubscribe_kind": "reply", "unsubscribe_text": "",
            "unsubscribe_words": "reply to this email and ask to be removed"}


def paper_item(pick: Pick, chars: int = SNIPPET_CHARS[0]) -> dict[str, Any]:
    """One paper as the digest shows it (title, authors, abstract's opening with the matched words
    bold, why it matched, its links), for a page that lists more papers than an email holds."""
    return {**_item(pick, chars, None, thumbnails=False), "id": pick.paper.id}


def _item(pick: Pick, chars: int, reader_links: ReaderLinks | None = None, thumbnails: bool = True,
          language: str = ENGLISH) -> dict[str, Any]:
    paper = pick.paper
    feedback = reader_links.feedback.get(paper.id) if reader_links else None
    snippet = shorten(readable_maths(paper.abstract), chars)
    stems = {stem(w) for m in pick.matched for w in re.findall(r"\w+", m.keyword.lower())}
    extras = [paper.venue] if paper.venue else []
    if paper.upvotes:
        extras.append(f"▲ {plural(paper.upvotes, 'upvote')}")
    if paper.organization:
        extras.append(paper.organization)
    if paper.published:
        extras.append(paper.published.isoformat())
    links = paper_links(paper)
    return {
        "rank": pick.rank, "title": paper.title, "authors": _authors(paper),
        "snippet": highlight(snippet, stems), "snippet_text": snippet,
        **_summary(paper, stems, language), **_thumbnail(paper, thumbnails),
        "stars": _stars(paper.stars) if links["github"] else "",
        # a followed author's paper may match no keyword: its "Followed: by ..." line says why it is there; one
        # the reader's votes or library lifted says which paper it is like
        "matched": "; ".join(part for part in (", ".join(_readable_match(m) for m in pick.matched), pick.because)
                             if part) or ("" if pick.followed else "related to your keywords"),
        "followed": pick.followed,
        "score": pick.score, "extras": " · ".join(extras), **links,
        "more_url": feedback.up if feedback else "", "less_url": feedback.down if feedback else "",
        "save_url": feedback.save if feedback else "",
    }


def _summary(paper: Paper, stems: set[str], language: str = ENGLISH) -> dict[str, Any]:
    """A short summary, shown instead of the abstract's opening, and who wrote it: the label
    says whose words these are ("Summary by Hugging Face", or the LLM's model name).

    ``language``: the reader's summary language as a BCP 47 tag (``languages.language_tag``), the one the LLM
    wrote in; Hugging Face's summaries are English. ``summary_lang`` is the tag a summary that is not in the
    email's English carries (``""``: a language with no tag known), else None: no ``lang`` of its own.
    """
    if not paper.summary:
        return {"summary": "", "summary_text": "", "summary_by": "", "summary_lang": None}
    text = cut_words(readable_maths(paper.summary), SUMMARY_CHARS)
    written_in = ENGLISH if paper.summary_by == HF_SUMMARY_BY else language
    return {"summary": highlight(text, stems), "summary_text": text, "summary_by": paper.summary_by or "a model",
            "summary_lang": None if is_english(written_in) else written_in}


def _thumbnail(paper: Paper, shown: bool) -> dict[str, Any]:
    """The listing's picture of the paper (https only), with alt text naming the paper."""
    url = paper.thumbnail if shown and paper.thumbnail and paper.thumbnail.startswith("https://") else None
    if not web_url(url):
        return {"thumbnail": "", "thumbnail_alt": "", "thumbnail_width": 0, "thumbnail_height": 0}
    width, height = THUMBNAIL_SIZE
    return {"thumbnail": url or "", "thumbnail_alt": f"Thumbnail of {cut_words(paper.title, 80)}",
            "thumbnail_width": width, "thumbnail_height": height}


def _stars(stars: int | None) -> str:
    """``★ 505``, ``★ 1.2k``, ``★ 12k``: GitHub's own short form."""
    if stars is None:
        return ""
    if stars < 1000:
        return f"★ {stars}"
    short = f"{stars / 1000:.1f}".removesuffix(".0") if stars < 10_000 else str(round(stars / 1000))
    return f"★ {short}k"


def _authors(paper: Paper) -> str:
    if not paper.authors:
        count = paper.authors_count
        return f"{count} authors" if count and count > 1 else ""
    named = paper.authors[:AUTHORS_SHOWN]
    more = max(len(paper.authors), paper.authors_count or 0) > len(named)
    return name_list(named) + (" et al." if more else "")


def paper_links(paper: Paper) -> dict[str, str | None]:
    """Somewhere real to go: the paper's page, else a title search; a PDF when the arXiv id is known.

    Saved Daily Papers pages carry neither ids nor URLs; a link to ``#`` (as
    before) is a dead end, so the title becomes an exact-title arXiv search.
    """
    known = arxiv_id(paper.id)
    arxiv = known if known == paper.id else None
    page = web_url(paper.url) or (f"https://arxiv.org/abs/{arxiv}" if arxiv else None)
    search = None if page else f"https://arxiv.org/search/?query={quote_plus(paper.title)}&searchtype=title"
    return {
        "url": page or search, "url_label": "Abstract" if page else "Search arXiv for this title",
        "pdf": f"https://arxiv.org/pdf/{arxiv}" if arxiv else None, "github": web_url(paper.github),
    }


def readable_keywords(keywords: Sequence[str], most: int | None = None) -> str:
    """The reader's keywords as a person reads them: ``reward model…, RLHF; not: survey``.

    No syntax: no ``-``, ``*`` or ``^2``; exact phrases keep their quotes. ``most``: of the wanted and of the
    excluded keywords, name that many and count the rest (``a, b and 398 more``): an operator's list of 400
    keywords repeated whole in the footer was a wall of text that took room in the size budget from the papers.
    """
    wanted: list[str] = []
    excluded: list[str] = []
    for item in keywords:
        try:
            keyword = parse_keyword(item)
        except KeywordError:
            continue
        text = keyword.text.rstrip("*") + ("…" if keyword.prefix else "")
        (excluded if keyword.exclude else wanted).append(f"“{text}”" if keyword.exact else text)
    shown = _first(", ".join, wanted, most)
    return f"{shown}; not: {_first(', '.join, excluded, most)}" if excluded else shown


def _first(join: Callable[[Sequence[str]], str], items: Sequence[str], most: int | None) -> str:
    """``items`` joined, or with more than ``most`` of them the first ``most`` and a count of the others."""
    if most is None or len(items) <= most:
        return join(items)
    return f"{join(items[:most])} and {len(items) - most} more"


def _readable_match(match: Any) -> str:
    text = str(match.keyword)
    text = text[:-1] + "…" if text.endswith("*") else text
    return f"{text} (partly)" if match.partial else text


def describe_listing(listing: Listing, today: date) -> tuple[str, date]:
    """("Hugging Face Daily Papers", its day) for the header, from the listing's source and papers.

    The day is the one the listing names (``Listing.day``: the Daily Papers day
    it was published for, which is later than its papers' arXiv dates), else the
    one its source names (``hf:2026-03-12``), else the latest publication date
    among its papers, else ``today``.
    """
    specs = [part.strip() for part in listing.source.split(", ") if part.strip()]
    # encodable: a file name that is not UTF-8 comes from the command line as "\\udcff"
    labels = list(dict.fromkeys(encodable(_source_label(spec)) for spec in specs))
    named = [day for spec in specs if (day := _named_day(spec))]
    published = [p.published for p in listing.papers if p.published and p.published <= today]
    return " + ".join(labels) or "Paper digest", listing.day or max(named or published, default=today)


def _source_label(spec: str) -> str:
    if spec == "hf" or spec.startswith("hf:"):
        return "Hugging Face Daily Papers"
    if spec.startswith("arxiv:"):
        return "arXiv " + ", ".join(spec.removeprefix("arxiv:").split("+"))
    if spec == "sample":
        return "Sample papers"
    if spec.startswith(("http://", "https://")):
        return urlsplit(spec).hostname or spec
    return Path(spec).name or spec


def _named_day(spec: str) -> date | None:
    try:
        return date.fromisoformat(spec.removeprefix("hf:")) if spec.startswith("hf:") else None
    except ValueError:
        return None


_LINK = re.compile(r"\w+://|www\.", re.IGNORECASE)
_NO_LINE_START = "，。、；：！？）】」』〉》”’・ー々ぁぃぅぇぉっゃゅょァィゥェォッャュョ"  # kept on the line before (kinsoku)


@lru_cache(maxsize=4096)  # the same abstract is wrapped for many readers
def wrap_prose(text: str, width: int = 72) -> str:
    """An abstract or summary in lines of at most ``width`` columns for the text part.

    A link is never cut (a mail app links a URL up to the line break): a longer one has a line of its own.
    Chinese, Japanese and Korean characters take two columns in a monospaced font; Chinese and Japanese,
    written without spaces, may break between any two characters (Korean breaks at its spaces, as English
    does); a word longer than the line that is no link is cut at characters.
    """
    lines: list[str] = []
    line, used = "", 0
    for word in text.split():
        size = _columns(word)
        if line and used + 1 + size <= width:
            line, used = f"{line} {word}", used + 1 + size
        elif _LINK.search(word) or (size <= width and not any(map(unspaced, word))):
            lines += [line] if line else []
            line, used = word, size
        else:
            line, used = _fill(lines, line, used, word, width)
    return "\n".join(lines + ([line] if line else []))


def _fill(lines: list[str], line: str, used: int, word: str, width: int) -> tuple[str, int]:
    """``word`` added a piece at a time (a wide character, a run of narrow ones, or each character of a run
    longer than the line), starting lines in ``lines`` as it goes; the line left open and its columns."""
    for n, piece in enumerate(_pieces(word, width)):
        gap = 1 if line and n == 0 else 0
        size = _columns(piece)
        if line and used + gap + size > width:
            lines.append(line)
            line, used, gap = "", 0, 0
        line, used = line + " " * gap + piece, used + gap + size
    return line, used


def _pieces(word: str, width: int) -> list[str]:
    runs: list[str] = []
    for ch in word:
        if runs and ch in _NO_LINE_START:
            runs[-1] += ch
        elif unspaced(ch) or not runs or unspaced(runs[-1][-1]):
            runs.append(ch)
        else:
            runs[-1] += ch
    return [piece for run in runs for piece in (list(run) if _columns(run) > width else [run])]


def _columns(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


# inline maths as arXiv abstracts write it: no space inside either dollar, so "$5 and $10" is money
_MATHS = re.compile(r"(?<![\\$])\$(?=[^\s$])((?:\\\$|[^$]){1,%d}?)(?<=[^\s\\])\$(?!\$)" % MATHS_CHARS)


@lru_cache(maxsize=4096)  # the same abstract is shown to many readers
def readable_maths(text: str) -> str:
    """``text`` with each inline ``$...$`` read as Unicode text, as a title's is (``$\\alpha$`` is ``α``,
    ``$\\tilde{O}(\\sqrt{T})$`` is ``Õ(√(T))``); everything outside the dollars stays as written."""
    return _MATHS.sub(lambda found: latex_to_text(found.group()), text) if "$" in text else text


def shorten(text: str, chars: int) -> str:
    """The abstract's opening in ``chars``, cut at a word; text written without spaces (Chinese, Japanese)
    at a character: cut back to its last space, an abstract after "探索 exploration " kept those two words."""
    if len(text) <= chars:
        return text
    cut = text[:chars] if unspaced(text[chars - 1]) and unspaced(text[chars]) else text[:chars].rsplit(" ", 1)[0]
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


