"""The reader's reading list: "Save" under each paper of a digest, the list, and its BibTeX and RIS exports.

``/save/TOKEN`` names the reader and the paper (signed for saving only): its
GET only asks (mail scanners open every link in a message), its CSRF-checked POST
saves. ``/reading/TOKEN`` (the preferences token, like ``/feed`` and ``/votes``)
lists the saved papers, each removable with a CSRF-checked button, and links
``/reading/TOKEN.bib`` and ``/reading/TOKEN.ris`` (``digest.citations``).

A damaged or foreign list token answers the friendly 404 page and nothing else,
as the feed does: the exports are fetched by reference managers, unattended.
"""

from __future__ import annotations

from functools import partial

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ..citations import BIBTEX_TYPE, RIS_TYPE, to_bibtex, to_ris
from ..model import Paper
from ..store import Store
from ..tokens import BadToken
from .pages import form_of
from .site import Site

EXPORTS = {"bib": (BIBTEX_TYPE, to_bibtex), "ris": (RIS_TYPE, to_ris)}


def routes(site: Site) -> list[Route]:
    return [
        Route("/save/{token}", partial(save_page, site), methods=["GET"]),
        Route("/save/{token}", partial(save, site), methods=["POST"]),
        *(Route(f"/reading/{{token}}.{kind}", partial(export, site, kind), methods=["GET"]) for kind in EXPORTS),
        Route("/reading/{token}", partial(reading_page, site), methods=["GET"]),
        Route("/reading/{token}", partial(remove, site), methods=["POST"]),
    ]


# save ---------------------------------------------------------------------------------------

async def save_page(site: Site, request: Request) -> Response:
    """Ask first: a GET (a link scanner's, a preview's) saves nothing."""
    rid, paper_id = site.pair_of("save", request.path_params["token"])
    email = await site.email_of(rid)
    paper, saved = await site.in_store(lambda store: (store.paper_to_save(email, paper_id),
                                                      store.is_saved(email, paper_id)))
    return site.page(request, "save.html", reader=rid, paper=_known(paper), already=saved, recorded=False,
                     links=site.links(rid))


async def save(site: Site, request: Request) -> Response:
    rid, paper_id = site.pair_of("save", request.path_params["token"])
    email = await site.email_of(rid)
    await form_of(site, request, rid)
    paper = await site.in_store(lambda store: store.save_paper(email, paper_id))
    return site.page(request, "save.html", reader=rid, paper=_known(paper), already=False, recorded=True,
                     links=site.links(rid))


def _known(paper: Paper | None) -> Paper:
    if paper is None:
        raise HTTPException(404, "This paper is not kept here any more, so it cannot be saved; "
                                 "its own link in the digest still opens it.")
    return paper


# the list -----------------------------------------------------------------------------------

def _reader(site: Site, token: str) -> str:
    """The reader id of a list token; a damaged one is the 404 page (as the feed answers)."""
    try:
        return site.signer.reader("preferences", token)
    except BadToken:
        raise HTTPException(404, "There is no reading list at this address. Open your preferences from the "
                                 "link in your latest digest and follow “Your reading list”.") from None


async def reading_page(site: Site, request: Request) -> Response:
    rid = _reader(site, request.path_params["token"])
    email = await site.email_of(rid)
    saved = await site.in_store(lambda store: store.reading_list(email))
    return site.page(request, "reading.html", reader=rid, email=email, saved=saved, links=site.links(rid),
                     removed=request.query_params.get("removed") == "1")


async def remove(site: Site, request: Request) -> Response:
    """Take one paper off the list (POST/redirect/GET: a reload does not post again)."""
    token = request.path_params["token"]
    rid = _reader(site, token)
    email = await site.email_of(rid)
    form = await form_of(site, request, rid)
    paper_id = str(form.get("paper", ""))
    if not paper_id:
        raise HTTPException(400, "Choose a paper to remove with its button.")
    await site.in_store(lambda store: store.unsave_paper(email, paper_id))
    return RedirectResponse(site.path(f"/reading/{token}?removed=1"), status_code=303)


async def export(site: Site, kind: str, request: Request) -> Response:
    """The list as a file a reference manager imports, the latest saved first."""
    email = await site.email_of(_reader(site, request.path_params["token"]))
    media_type, write = EXPORTS[kind]

    def papers(store: Store) -> list[Paper]:
        return [saved.paper for saved in store.reading_list(email)]

    body = write(await site.in_store(papers))
    return Response(body.encode("utf-8"), media_type=media_type,
                    headers={"content-disposition": f'attachment; filename="reading-list.{kind}"',
                             "cache-control": "private, no-store"})
