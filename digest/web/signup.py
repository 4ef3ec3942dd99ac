"""Sign-up with double opt-in (``DIGEST_SIGNUP=true``; otherwise these pages are 404).

The form answers the same page whatever the address (no enumeration): a new
address gets a confirmation link, one that already gets the digest a link to its
preferences. Unconfirmed sign-ups get nothing and expire after 48 hours.
Sign-ups are rate-limited per address and per client in store-backed counters.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from functools import partial

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import ConfigError, DigestError, KeywordError
from ..ranking.profile import normalize_keywords, parse_profile
from ..addresses import parse_address
from ..store import Store
from ..tokens import reader_id
from .pages import MAX_KEYWORDS, MAX_KEYWORDS_TEXT, form_of
from .site import Site

log = logging.getLogger("digest.web")
PER_ADDRESS_PER_DAY = 3
PER_CLIENT_PER_HOUR = 10


def routes(site: Site) -> list[Route]:
    return [
        Route("/subscribe", partial(subscribe_page, site), methods=["GET"]),
        Route("/subscribe", partial(subscribe, site), methods=["POST"]),
        Route("/confirm/{token}", partial(confirm_page, site), methods=["GET"]),
        Route("/confirm/{token}", partial(confirm, site), methods=["POST"]),
    ]


def _enabled(site: Site) -> None:
    if not site.settings.signup:
        raise HTTPException(404, "Sign-up is not open on this server.")


async def subscribe_page(site: Site, request: Request) -> Response:
    _enabled(site)
    return site.page(request, "subscribe.html", values={"email": "", "keywords": ""}, sent=False, error="")


def parse_signup(email: str, text: str) -> list[str]:
    try:
        parse_address(email)
    except ConfigError:
        raise KeywordError("that does not look like an email address") from None
    if len(text) > MAX_KEYWORDS_TEXT:
        raise KeywordError(f"keywords are too long (at most {MAX_KEYWORDS_TEXT} characters)")
    keywords = normalize_keywords(text.splitlines())
    if len(keywords) > MAX_KEYWORDS:
        raise KeywordError(f"too many keywords (at most {MAX_KEYWORDS})")
    parse_profile(keywords)
    return keywords


async def subscribe(site: Site, request: Request) -> Response:
    _enabled(site)
    form = await form_of(site, request)
    email, text = str(form.get("email", "")).strip(), str(form.get("keywords", ""))
    try:
        keywords = parse_signup(email, text)
    except KeywordError as err:
        values = {"email": email[:254], "keywords": text[:MAX_KEYWORDS_TEXT]}
        return site.page(request, "subscribe.html", status=400, values=values, sent=False, error=str(err))
    client = request.client.host if request.client else "?"
    if not await site.in_store(lambda store: _allowed(store, client, email)):
        raise HTTPException(429, "Too many sign-ups from your network; please try again in an hour.")
    base = site.settings.public_url or str(request.base_url).rstrip("/")
    await site.in_store(lambda store: _sign_up(site, store, email, keywords, base))
    return site.page(request, "subscribe.html", values={"email": "", "keywords": ""}, sent=True, error="")


def _allowed(store: Store, client: str, email: str) -> bool:
    now = datetime.now(timezone.utc)
    return store.hit(f"client:{client}", now.strftime("%Y-%m-%dT%H"), PER_CLIENT_PER_HOUR)


def _sign_up(site: Site, store: Store, email: str, keywords: list[str], base: str) -> None:
    """Record the request and mail the address; past the per-address limit, silently nothing."""
    today = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    if not store.hit(f"signup:{email.lower()}", today, PER_ADDRESS_PER_DAY):
        return
    rid = reader_id(site.signer.secret, email)
    if store.request_signup(email, rid, keywords, listed=email.lower() in site.roster_emails()):
        link = f"{base}/confirm/{site.signer.dumps('confirm', rid)}"
        body = (f"Someone (we hope you) asked to receive the research-paper digest at this address, "
                f"for these keywords:\n\n  {', '.join(keywords)}\n\nTo confirm, open this link within 48 hours:\n\n"
                f"  {link}\n\nIf it was not you, ignore this email: you will get nothing more.\n")
        subject = "Confirm your paper digest subscription"
    else:
        link = f"{base}/preferences/{site.signer.dumps('preferences', rid)}"
        body = (f"Someone (we hope you) asked to subscribe this address to the research-paper digest, "
                f"which it already receives. Nothing was changed.\n\nTo change your keywords or pause it:\n\n"
                f"  {link}\n")
        subject = "Your paper digest subscription"
    _mail(site, email, subject, body)


def _mail(site: Site, to: str, subject: str, body: str) -> None:
    message = EmailMessage()
    message["From"] = site.settings.from_addr
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(timezone.utc))
    message["Message-ID"] = make_msgid(domain=parseaddr(site.settings.from_addr)[1].rpartition("@")[2] or None)
    message.set_content(body)
    mailer = site.make_mailer()
    try:
        mailer.send(parseaddr(site.settings.from_addr)[1], to, message.as_bytes())
    except DigestError as err:  # the visitor sees the same page; the operator sees why
        log.warning("sign-up confirmation not sent: %s", err)
    finally:
        mailer.close()


async def confirm_page(site: Site, request: Request) -> Response:
    """A GET only shows a button: mail scanners that follow links must not confirm."""
    _enabled(site)
    site.rid_of("confirm", request.path_params["token"])
    return site.page(request, "confirm.html", done=False, links={})


async def confirm(site: Site, request: Request) -> Response:
    _enabled(site)
    rid = site.rid_of("confirm", request.path_params["token"])
    await form_of(site, request)
    email = await site.email_of(rid)
    await site.in_store(lambda store: store.confirm_signup(email))
    return site.page(request, "confirm.html", done=True, links=site.links(rid))
