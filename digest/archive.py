"""The archive's two ends: what a send keeps of a digest, and the page re-rendered from it.

A digest's HTML is a function of the reader (address, name, keywords), the
picks (papers, ranks, scores, matched keywords; followed authors and labs), how many matched, the listing's
source and day, the first day a catch-up covers, the templates, and the reader's
signed links; the links are deterministic for the same key, reader, papers and
day. So the send keeps those (``keep``, a few hundred bytes in the store) and
"view in browser" renders them again with the same ``Renderer.render`` call
(``Reprinter``): the page is byte for byte the HTML part that was sent, less its
"View in your browser" link to the page itself, as long
as the templates (their version is kept), ``DIGEST_PUBLIC_URL`` and
``DIGEST_SECRET_KEY`` are unchanged. After a template change a page is rendered
with the current templates: the same papers, today's look.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import date

from .errors import KeywordError
from .ranking.hints import KeywordHint
from .ranking.profile import parse_keyword
from .model import Subscriber
from .ranking.authors import follows_of, reasons_for
from .ranking.explain import Match
from .ranking.select import Pick
from .render import Renderer
from .settings import Settings
from .store import KeptDigest, KeptPick
from .tokens import links_for

log = logging.getLogger("digest")
KEPT_BEYOND = 500  # papers kept beyond a digest's picks for the reader's whole list (any more are only counted)


def keep(reader: Subscriber, picks: Sequence[Pick], *, message_id: str, sent_on: date, source: str, day: date,
         templates: str, total: int | None = None, since: date | None = None,
         hints: Sequence[KeywordHint] = (), more: Sequence[Pick] = (), nothing_listed: bool = False) -> KeptDigest:
    """What the archive keeps of one digest: the arguments of its render call, nothing rendered.

    ``more``: the papers that matched beyond the picks, in rank order (the reader's whole list);
    ``nothing_listed``: the listing had no papers at all (the email said so).
    """
    return KeptDigest(
        email=reader.email, message_id=message_id, sent_on=sent_on, source=source, day=day, templates=templates,
        picks=tuple(_kept(p) for p in picks), more=tuple(_kept(p) for p in more),
        total=total or 0, since=since, name=reader.name, keywords=tuple(reader.keywords),
        terms=_terms(reader.keywords), authors=tuple(reader.authors), orgs=tuple(reader.orgs),
        hints=tuple(hint.to_json() for hint in hints), nothing_listed=nothing_listed, language=reader.language)


def _kept(pick: Pick) -> KeptPick:
    return KeptPick(pick.paper, pick.score, pick.rank, tuple((m.keyword, m.partial) for m in pick.matched))


def picks_of(kept: KeptDigest, beyond: bool = False) -> list[Pick]:
    """The kept picks as the renderer takes them; ``beyond``: followed by the papers that matched beyond them."""
    every = (*kept.picks, *kept.more) if beyond else kept.picks
    follows = follows_of(Subscriber(email=kept.email, keywords=kept.keywords, authors=kept.authors, orgs=kept.orgs))
    followed = reasons_for([p.paper for p in every], follows) if follows else {}  # what the send said
    return [Pick(p.paper, p.score, tuple(Match(keyword, (), partial=partly) for keyword, partly in p.matched),
                 rank=p.rank, followed=followed.get(n, "")) for n, p in enumerate(every)]


def _terms(keywords: Sequence[str]) -> tuple[str, ...]:
    """The keyword texts the ranker reports matches by, so that a match is kept as a small number."""
    texts = []
    for item in keywords:
        try:
            texts.append(parse_keyword(item).text)
        except KeywordError:
            continue
    return tuple(dict.fromkeys(texts))


def render_kept(renderer: Renderer, settings: Settings, kept: KeptDigest, in_browser: bool = False) -> str:
    """The HTML of a kept digest: ``Digest.render``'s call, with the kept arguments and the reader's links.

    ``in_browser``: for the "view in browser" page, the same HTML without its "View in your browser" link
    (on that page it would open the page itself).
    """
    reader = Subscriber(email=kept.email, keywords=kept.keywords, name=kept.name, authors=kept.authors,
                        orgs=kept.orgs, language=kept.language)
    picks = picks_of(kept)
    links = links_for(settings, kept.email, [p.paper.id for p in picks], day=kept.sent_on)
    return renderer.render(reader, picks, day=kept.day, source=kept.source, total=kept.total,
                           unsubscribe=links.unsubscribe, links=links, since=kept.since,
                           hints=[KeywordHint.from_json(hint) for hint in kept.hints],
                           listed=0 if kept.nothing_listed else None, in_browser=in_browser,
                           today=kept.sent_on).html


class Reprinter:
    """Renders kept digests for "view in browser"; the renderer is built on first use, then reused."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._renderer: Renderer | None = None
        self._lock = threading.Lock()  # pages render on the web server's thread pool

    def page(self, kept: KeptDigest) -> str:
        with self._lock:
            renderer = self._current()
            if kept.templates != renderer.version:
                log.info("the digest of %s was rendered with other templates (%s, now %s): showing it with today's",
                         kept.sent_on, kept.templates, renderer.version)
            return render_kept(renderer, self.settings, kept, in_browser=True)

    def _current(self) -> Renderer:
        if self._renderer is None:
            self._renderer = Renderer(self.settings.templates_dir, thumbnails=self.settings.thumbnails)
        else:
            self._renderer.reload_if_changed()
        return self._renderer
