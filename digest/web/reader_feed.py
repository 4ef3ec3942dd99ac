"""The reader's own pages beyond the email's links: a private Atom feed and their votes.

Both are reached by the reader's preferences token (the link in every digest):
``/feed/TOKEN`` lists their kept digests, one entry per digest (as the email and
"view in browser" show them: a feed reader then marks one item read a day, and a
paper picked on two days is not two unrelated items); ``/votes/TOKEN`` lists their
up and down votes, each with a CSRF-checked button that removes it.

A bad or forged feed token answers 404 and nothing else: feed readers poll
unattended, and the page says no more than "not found".
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date
from functools import partial
from urllib.parse import quote

from markupsafe import escape
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ..store import KeptDigest
from ..tokens import BadToken
from .pages import form_of
from .site import Site

ATOM = "http://www.w3.org/2005/Atom"
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff\ud800-\udfff]")  # not allowed in XML 1.0


def routes(site: Site) -> list[Route]:
    return [
        Route("/feed/{token}", partial(feed, site), methods=["GET"]),
        Route("/votes/{token}", partial(votes_page, site), methods=["GET"]),
        Route("/votes/{token}", partial(remove_vote, site), methods=["POST"]),
    ]


def clean(text: str) -> str:
    """Untrusted text as XML 1.0 can carry it: the characters it forbids are dropped."""
    return NOT_XML.sub("", text)


# the feed ---------------------------------------------------------------------------------

async def feed(site: Site, request: Request) -> Response:
    try:
        rid = site.signer.reader("preferences", request.path_params["token"])
    except BadToken:
        raise HTTPException(404, "Not found.") from None
    email = await site.email_of(rid)
    kept = await site.in_store(lambda store: store.kept_digests_of(email))
    base = site.settings.public_url or str(request.base_url).rstrip("/")
    body = atom(site, rid, base, f"{base}/feed/{request.path_params['token']}", kept)
    return Response(body, media_type="application/atom+xml; charset=utf-8",
                    headers={"cache-control": "private, max-age=300"})


def atom(site: Site, rid: str, base: str, self_url: str, kept: list[KeptDigest]) -> bytes:
    """The Atom document (RFC 4287): newest digest first; every text escaped by ElementTree."""
    root = ET.Element("feed", xmlns=ATOM)
    ET.SubElement(root, "id").text = self_url
    ET.SubElement(root, "title").text = "Paper digest"
    ET.SubElement(root, "updated").text = _stamp(max((k.sent_on for k in kept), default=date(2000, 1, 1)))
    ET.SubElement(root, "link", rel="self", href=self_url, type="application/atom+xml")
    ET.SubElement(ET.SubElement(root, "author"), "name").text = "Paper digest"
    for digest in sorted(kept, key=lambda k: k.sent_on, reverse=True):
        root.append(_entry(site, rid, base, digest))
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _entry(site: Site, rid: str, base: str, digest: KeptDigest) -> ET.Element:
    entry = ET.Element("entry")
    ET.SubElement(entry, "id").text = "mid:" + quote(clean(digest.message_id).strip("<>"), safe="@!$&'()*+,;=-._~")
    ET.SubElement(entry, "title").text = f"Digest for {digest.sent_on.isoformat()}"
    ET.SubElement(entry, "updated").text = _stamp(digest.sent_on)
    view = f"{base}/d/{site.signer.dumps('view', [rid, digest.sent_on.isoformat()])}"
    ET.SubElement(entry, "link", rel="alternate", type="text/html", href=view)
    ET.SubElement(entry, "content", type="html").text = _picks_html(digest)
    return entry


def _picks_html(digest: KeptDigest) -> str:
    """The picks as an HTML list (escaped here; ElementTree escapes the whole once more as XML text)."""
    items = []
    for pick in digest.picks:
        title = escape(clean(pick.paper.title))
        url = pick.paper.url or ""
        safe = url.startswith(("https://", "http://"))
        items.append(f'<li><a href="{escape(clean(url))}">{title}</a></li>' if safe else f"<li>{title}</li>")
    return "<ol>" + "".join(items) + "</ol>" if items else "<p>No papers matched.</p>"


def _stamp(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


# votes ------------------------------------------------------------------------------------

async def votes_page(site: Site, request: Request) -> Response:
    rid = site.rid_of("preferences", request.path_params["token"])
    email = await site.email_of(rid)
    kept = await site.in_store(lambda store: store.votes(email))
    removed = request.query_params.get("removed") == "1"
    return site.page(request, "votes.html", reader=rid, email=email, votes=list(reversed(kept)), removed=removed,
                     links=site.links(rid))


async def remove_vote(site: Site, request: Request) -> Response:
    """Delete one vote (POST/redirect/GET: a reload does not post again)."""
    token = request.path_params["token"]
    rid = site.rid_of("preferences", token)
    email = await site.email_of(rid)
    form = await form_of(site, request, rid)
    paper_id = str(form.get("paper", ""))
    if not paper_id:
        raise HTTPException(400, "Choose a vote to remove with its button.")
    await site.in_store(lambda store: store.remove_vote(email, paper_id))
    return RedirectResponse(site.path(f"/votes/{token}?removed=1"), status_code=303)
