"""The reader's past digests: their archive, and each digest's whole ranked list.

``/archive/TOKEN`` (the preferences token, like ``/feed`` and ``/votes``) lists the
reader's kept digests, newest first, a page at a time (``?before=DAY`` for the
older ones), each linked to its "view in browser" page. ``/d/TOKEN/all`` (the
digest's own view token) shows every paper that qualified that day in rank
order, the email's picks first, then the ones its "and N more" only counted,
each with why it matched, its links and the opening of its abstract.

Both only read the store; unknown readers and digests no longer kept get the
friendly 404 of the other pages, damaged links their friendly 400.
"""

from __future__ import annotations

from datetime import date
from functools import partial
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..archive import KEPT_BEYOND, picks_of
from ..render import paper_item, period_text
from ..store import KeptDigest, KeptEntry
from .site import Site

PAGE = 30  # digests listed per archive page (a reader keeps at most DIGEST_ARCHIVE_DAYS of them)


def routes(site: Site) -> list[Route]:
    return [
        Route("/archive/{token}", partial(archive_page, site), methods=["GET"]),
        Route("/d/{token}/all", partial(whole_list, site), methods=["GET"]),
    ]


# the archive --------------------------------------------------------------------------------

async def archive_page(site: Site, request: Request) -> Response:
    rid = site.rid_of("preferences", request.path_params["token"])
    before = _day(request.query_params.get("before"))
    email = await site.email_of(rid)
    found = await site.in_store(lambda store: store.kept_entries(email, before, PAGE + 1))
    digests = [_listed(site, rid, entry) for entry in found[:PAGE]]
    older = f"?before={found[PAGE - 1].sent_on.isoformat()}" if len(found) > PAGE else ""
    return site.page(request, "archive.html", email=email, digests=digests, older=older, paged=before is not None,
                     keeping=site.keeping(), links=site.links(rid))


def _day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPException(400, "This page's address is damaged: open your past digests from the link "
                                 "on your preferences page.") from None


def _listed(site: Site, rid: str, entry: KeptEntry) -> dict[str, Any]:
    view = site.path(f"/d/{site.signer.dumps('view', [rid, entry.sent_on.isoformat()])}")
    return {"day": entry.sent_on, "when": f"{entry.sent_on:%A} {entry.sent_on.day} {entry.sent_on:%B %Y}",
            "papers": entry.papers, "total": entry.total, "view": view, "all": f"{view}/all"}


# one digest's whole list ----------------------------------------------------------------------

async def whole_list(site: Site, request: Request) -> Response:
    token = request.path_params["token"]
    rid, day = site.pair_of("view", token)
    email = await site.email_of(rid)
    kept = await site.in_store(lambda store: store.kept_digest(email, day))
    if kept is None:
        raise HTTPException(404, f"The digest of {day} is not kept any more (digests are kept "
                                 f"{site.keeping()}), or was kept before its whole list was.")
    return site.page(request, "whole.html", **_whole(site, rid, token, kept))


def _whole(site: Site, rid: str, token: str, kept: KeptDigest) -> dict[str, Any]:
    """The page's context: the papers in rank order, the email's picks apart from the papers beyond them."""
    items = [_with_votes(site, rid, paper_item(pick)) for pick in picks_of(kept, beyond=True)]
    listed = len(items)
    total = max(kept.total, listed)
    return {"email": kept.email, "source": kept.source, "period": period_text(kept.since, kept.day),
            "year": kept.day.year, "picked": items[:len(kept.picks)], "beyond": items[len(kept.picks):],
            "total": total, "unlisted": total - listed, "kept_beyond": KEPT_BEYOND,
            "view": site.path(f"/d/{token}"), "links": site.links(rid)}


def _with_votes(site: Site, rid: str, item: dict[str, Any]) -> dict[str, Any]:
    """The paper's "more/fewer like this" links (the same signed feedback links the email carries)."""
    token = site.signer.dumps("feedback", [rid, item["id"]])
    return {**item, "more_url": site.path(f"/feedback/{token}?vote=up"),
            "less_url": site.path(f"/feedback/{token}?vote=down")}
