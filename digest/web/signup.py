"""Sign-up with double opt-in (``DIGEST_SIGNUP=true``; otherwise these pages are 404).

The form answers the same page whatever the address (no enumeration): a new
address gets a confirmation link, one that already gets the digest a link to its
preferences. Unconfirmed sign-ups get nothing and expire after 48 hours.
Sign-ups are rate-limited per person (every spelling of one address) and per client
(an IPv6 /64) in store-backed counters. The mail goes through the outbox: the page
never waits on SMTP.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from email.utils import format_datetime, make_msgid
from functools import partial

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..addresses import canonical_address, parse_address, parse_mailbox
from ..errors import ConfigError, KeywordError
from ..readers import unmailable
from ..mime import build_text_message, encode_header, format_address
from ..settings import Settings
from ..store import Store
from ..tokens import reader_id
from .pages import MAX_KEYWORDS_TEXT, form_keywords, form_of
from .security import client_of
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
    return site.page(request, "subscribe.html", values={"email": "", "keywords": ""}, sent=False, error="", invalid="")


async def subscribe(site: Site, request: Request) -> Response:
    _enabled(site)
    form = await form_of(site, request)
    typed, text = str(form.get("email", "")).strip(), str(form.get("keywords", ""))
    field = "email"  # the field the error is about: marked invalid, described by the error, and focused
    try:
        email = deliverable(typed).lower()
        field = "keywords"
        keywords = form_keywords(text)
    except KeywordError as err:
        values = {"email": typed[:254], "keywords": text[:MAX_KEYWORDS_TEXT]}
        return site.page(request, "subscribe.html", status=400, values=values, sent=False, error=str(err),
                         invalid=field)
    client = client_of(request)
    if not await site.in_store(lambda store: _allowed(store, client)):
        raise HTTPException(429, "Too many sign-ups from your network; please try again in an hour.")
    base = site.settings.public_url or str(request.base_url).rstrip("/")  # loopback only without it (make_app)
    if await site.in_store(lambda store: _sign_up(site, store, email, keywords, base)):
        site.outbox.wake()
    return site.page(request, "subscribe.html", values={"email": "", "keywords": ""}, sent=True, error="", invalid="")


def deliverable(typed: str) -> str:
    """The address as mail carries it: an IDN domain in punycode; a non-ASCII mailbox name is refused."""
    local = typed.strip().rpartition("@")[0]
    if local and not local.isascii() and "\n" not in typed:
        raise KeywordError("this server cannot yet send to an address with letters beyond ASCII before "
                           "the @; please give another address")
    try:
        return parse_address(typed)
    except ConfigError:
        raise KeywordError("that does not look like an email address") from None


def _allowed(store: Store, client: str) -> bool:
    now = datetime.now(timezone.utc)
    return store.hit(f"client:{client}", now.strftime("%Y-%m-%dT%H"), PER_CLIENT_PER_HOUR)


def _sign_up(site: Site, store: Store, email: str, keywords: list[str], base: str) -> bool:
    """Record the request and queue its mail (True); past the per-address limit, or for a suppressed address
    (it filed a complaint, or its mailbox bounced), silently nothing: the form answers as for any address.

    The limit counts the person (``canonical_address``), whatever the spelling. A
    sign-up not yet confirmed keeps the keywords first typed: a second form resends
    the link and changes nothing.
    """
    now = datetime.now(timezone.utc)
    if not store.hit(f"signup:{canonical_address(email)}", now.strftime("%Y-%m-%d"), PER_ADDRESS_PER_DAY):
        return False
    email = known_spelling(site, store, email)
    if unmailable(store, site.settings.secret_keys, email):  # a complaint or bounces: nothing, until readers resume
        return False
    rid = reader_id(site.signer.secret, email)
    held = store.held_signup(email, now.timestamp())
    if held is not None and store.reader_status(email) in ("pending", "unsubscribed"):
        pending, keywords = True, held
    else:
        pending = store.request_signup(email, rid, keywords, listed=email.lower() in site.roster_emails())
        if pending:
            keywords = store.hold_signup(email, keywords, now.timestamp())
    subject, body = (_confirmation(site, rid, base) if pending
                     else _already(site, rid, base, paused=store.reader_status(email) == "paused"))
    store.queue_mail(email, build_mail(site.settings, email, subject, body, now), now.timestamp())
    return True


def known_spelling(site: Site, store: Store, email: str) -> str:
    """The address as the list already knows this mailbox (``D.A.N+x@gmail.com`` for ``dan@gmail.com``),
    or as typed: one mailbox is one reader, never two digests."""
    wanted = canonical_address(email)
    known = [*site.roster_emails(), *store.known_emails()]
    if email.lower() in (address.lower() for address in known):
        return email
    return next((address for address in known if canonical_address(address) == wanted), email)


def _confirmation(site: Site, rid: str, base: str) -> tuple[str, str]:
    """Nothing the form's sender typed: the keywords would carry their text to any address from ours.

    The confirm page shows them, to the address's owner alone.
    """
    link = f"{base}/confirm/{site.signer.dumps('confirm', rid)}"
    return "Confirm your paper digest subscription", (
        f"Someone (we hope you) asked to receive the research-paper digest at this address. "
        f"To confirm, and to see the keywords asked for, open this link within 48 hours:\n\n"
        f"  {link}\n\nIf it was not you, ignore this email: you will get nothing more.\n")


def _already(site: Site, rid: str, base: str, paused: bool = False) -> tuple[str, str]:
    """To an address the list has: its preferences link (a paused reader is told so, and how to resume)."""
    link = f"{base}/preferences/{site.signer.dumps('preferences', rid)}"
    if paused:
        return "Your paper digest subscription", (
            f"Someone (we hope you) asked to subscribe this address to the research-paper digest. It is "
            f"subscribed, and its digest is paused. Nothing was changed.\n\nTo resume it, or change your "
            f"keywords:\n\n  {link}\n")
    return "Your paper digest subscription", (
        f"Someone (we hope you) asked to subscribe this address to the research-paper digest, "
        f"which it already receives. Nothing was changed.\n\nTo change your keywords or pause it:\n\n"
        f"  {link}\n")


def build_mail(settings: Settings, to: str, subject: str, body: str, now: datetime) -> bytes:
    """The message as the relay gets it (CRLF lines): ``to`` is ASCII (``deliverable``). Its headers are
    written as the digest's are (``digest.mime``): encoded words within 75 characters, lines within 78."""
    sender = parse_mailbox(settings.from_addr)
    return build_text_message([
        ("From", format_address(sender.name, sender.address)),
        ("To", format_address("", to)),
        ("Subject", encode_header(subject)),
        ("Date", format_datetime(now)),
        ("Message-ID", make_msgid(domain=sender.address.rpartition("@")[2] or None)),
        ("Auto-Submitted", "auto-generated"),  # RFC 3834: no vacation reply to a confirmation request
    ], body)


async def confirm_page(site: Site, request: Request) -> Response:
    """A GET only shows a button: mail scanners that follow links must not confirm."""
    _enabled(site)
    rid = site.rid_of("confirm", request.path_params["token"])
    email = await site.email_of(rid)
    status = await site.in_store(lambda store: store.reader_status(email))
    if status in ("active", "paused"):  # confirmed already: the back button, or the mail's link opened again
        return site.page(request, "confirm.html", reader=rid, done=True, confirmed=status, links=site.links(rid))
    keywords = await site.in_store(lambda store: store.held_signup(email, datetime.now(timezone.utc).timestamp()))
    return site.page(request, "confirm.html", reader=rid, done=False, links={}, email=email,
                     keywords=keywords or [])


async def confirm(site: Site, request: Request) -> Response:
    _enabled(site)
    rid = site.rid_of("confirm", request.path_params["token"])
    await form_of(site, request, rid)
    email = await site.email_of(rid)
    await site.in_store(lambda store: _confirm(store, email))
    return site.page(request, "confirm.html", reader=rid, done=True, links=site.links(rid))


def _confirm(store: Store, email: str) -> None:
    """Activate with the keywords held since the sign-up (a re-subscription's new ones)."""
    keywords = store.held_signup(email, datetime.now(timezone.utc).timestamp())
    if store.confirm_signup(email, keywords):
        store.release_signup(email)
