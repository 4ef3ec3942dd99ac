"""The web apps: the reader's side (``digest serve``) and the local preview (``digest preview``).

One Starlette stack, one guard (Host allow-list, security headers, body cap) and
one server (``digest.web.server``) for both.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Match, Route

from ..errors import ConfigError, DigestError, StoreError
from ..settings import Settings
from . import history, pages, reader_feed, reading, signup, webhooks
from .prefix import Prefix, clash
from .security import EMAIL_CSP, Guard, allowed_hosts, is_loopback
from .site import HERE, Site
from .sns import Certificates

log = logging.getLogger("digest.web")
TITLES = {400: "That did not work", 403: "Please try again", 404: "Not found", 405: "Not allowed",
          413: "Too much", 429: "Slow down", 500: "Something went wrong"}


def make_app(settings: Settings, bind_host: str = "127.0.0.1", mailer_factory: Any = None,
             certificates: Certificates | None = None, http: httpx.Client | None = None) -> Prefix:
    """The reader's side; needs DIGEST_SECRET_KEY (a ConfigError says how to make one), a
    state store it can open (a damaged one fails here, in one line, not in every request),
    beyond loopback DIGEST_PUBLIC_URL (links are made from it, never from a request's Host; the pages
    are served under its path, ``digest.web.prefix``), and with DIGEST_SIGNUP a DIGEST_FROM to send the
    confirmations from. ``certificates``: where the SES webhook gets SNS's signing keys (``digest.web.sns``);
    ``http``: the one client the app fetches them with (``sns.certificate_client()`` by default), which the app
    closes when it stops."""
    if not is_loopback(bind_host) and not settings.public_url:
        raise ConfigError(f"DIGEST_PUBLIC_URL is required to serve on {bind_host} (beyond this machine): set it to "
                          "the address readers open, e.g. DIGEST_PUBLIC_URL=https://digest.example.org")
    if settings.signup and not settings.from_addr:  # as a send refuses to start without it
        raise ConfigError("DIGEST_SIGNUP=true sends confirmation emails, so DIGEST_FROM must be set: the sender "
                          "address, e.g. DIGEST_FROM=Digest <digest@example.org>")
    site = Site(settings, mailer_factory, certificates, http)
    try:
        routes = site_routes(site)
        check_root(site.root, routes)
        check_store(settings)
    except BaseException:
        site.close()
        raise
    app = Starlette(
        routes=routes,
        lifespan=partial(lifespan, site),
        exception_handlers={HTTPException: partial(error_page, site), ClientDisconnect: disconnected,
                            DigestError: partial(digest_error, site)},
    )
    return Prefix(Guard(app, allowed_hosts(bind_host, settings.public_url)), site.root)


def site_routes(site: Site) -> list[Route]:
    return [
        Route("/", partial(index, site), methods=["GET"]),
        Route("/static/site.css", stylesheet, methods=["GET"]),
        Route("/favicon.ico", lambda request: Response(status_code=204), methods=["GET"]),
        *pages.routes(site),
        *history.routes(site),
        *reader_feed.routes(site),
        *reading.routes(site),
        *signup.routes(site),
        *webhooks.routes(site),
    ]


def check_root(root: str, routes: list[Route]) -> None:
    """DIGEST_PUBLIC_URL's path may not begin as a page's own does (``digest.web.prefix``: ambiguous requests)."""
    clashing = clash(root, (route.path for route in routes))
    if clashing is not None:
        raise ConfigError(f"DIGEST_PUBLIC_URL's path {root} begins with /{clashing}/, as one of the reader "
                          "pages' own paths does, so requests behind a proxy would be ambiguous; serve the pages "
                          "under another path, e.g. https://example.org/digest")


@asynccontextmanager
async def lifespan(site: Site, app: Starlette) -> AsyncIterator[None]:
    """The outbox is sent from this process while it serves (``digest.web.outbox``); the app's HTTP client is
    closed when it stops."""
    site.outbox.start()
    try:
        yield
    finally:
        site.outbox.stop()
        site.close()


def check_store(settings: Settings) -> None:
    """Open the state store once before serving (the pages read and write it on every request)."""
    from ..store import Store

    try:
        with Store.open(settings.state_db):
            pass
    except StoreError as err:
        raise StoreError(f"cannot serve the reader pages: {err}") from err


async def index(site: Site, request: Request) -> Response:
    return site.page(request, "index.html")


async def stylesheet(request: Request) -> Response:
    return FileResponse(HERE / "static" / "site.css", media_type="text/css", headers={"cache-control": "max-age=3600"})


async def error_page(site: Site, request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    detail = exc.detail if status != 405 else "This page only takes the buttons on it."
    page = site.page(request, "message.html", status=status, title=TITLES.get(status, "Error"), text=detail)
    if status == 405:  # says what the URL takes (RFC 9110): every route of the path, not Starlette's first
        page.headers["Allow"] = ", ".join(sorted(allowed_methods(request)))
    return page


def allowed_methods(request: Request) -> set[str]:
    methods: set[str] = set()
    for route in request.app.routes:
        if isinstance(route, Route) and route.matches(request.scope)[0] != Match.NONE:
            methods |= route.methods or set()
    return methods


async def digest_error(site: Site, request: Request, exc: Exception) -> Response:
    log.error("web: %s", exc)  # e.g. the store cannot be opened: the operator's log says why
    return site.page(request, "message.html", status=500, title=TITLES[500],
                     text="The server could not do that just now; please try again later.")


async def disconnected(request: Request, exc: Exception) -> Response:
    """The client went away mid-request: nothing to answer, nothing to log."""
    return Response(status_code=400)


def make_preview_app(preview: Any) -> Guard:
    """``digest preview``: the email exactly as sent on /, its text on /text, the message on /eml."""
    async def html(request: Request) -> Response:
        return HTMLResponse(await _call(preview.rendered, "html"), headers={"content-security-policy": EMAIL_CSP})

    async def text(request: Request) -> Response:
        return Response(await _call(preview.rendered, "text"), media_type="text/plain; charset=utf-8")

    async def eml(request: Request) -> Response:
        return Response(await _call(preview.message), media_type="message/rfc822")

    app = Starlette(routes=[Route("/", html), Route("/index.html", html), Route("/text", text), Route("/eml", eml)],
                    exception_handlers={ClientDisconnect: disconnected, DigestError: _preview_error})
    return Guard(app, allowed_hosts("127.0.0.1"))


async def _call(render: Any, part: str | None = None) -> Any:
    from starlette.concurrency import run_in_threadpool

    result = await run_in_threadpool(render)
    return getattr(result, part) if part else result


async def _preview_error(request: Request, exc: Exception) -> Response:
    return Response(f"digest: error: {exc}\n", status_code=500, media_type="text/plain; charset=utf-8")
