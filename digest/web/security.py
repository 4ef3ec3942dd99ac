"""What every response of the web app gets: a Host allow-list, security headers, a body cap, CSRF.

Pure ASGI middleware, so it also guards errors and the preview. The Host check
stops DNS rebinding: a page on another name that resolves to 127.0.0.1 gets a 400
and never a reader's address or keywords.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..tokens import BadToken, Signer
from .prefix import route_path

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_BODY = 64 * 1024
WEBHOOK_BODY = 256 * 1024  # an SNS message may be 256 KB (an SES notification with the original headers)
PAGE_CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'")
# The email as sent (archive, preview): its own inline styles and remote images, never a script.
EMAIL_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; font-src https:; "
             "form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = {
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "cross-origin-opener-policy": "same-origin",
    "cache-control": "no-store",
}
# The cookie of forms shown before signed fields (no page sets it any more); over https ``__Host-`` prefixed:
# browsers took it only from this origin, so a sibling subdomain could not plant a nonce of its own.
CSRF_COOKIE = "digest_csrf"
SECURE_CSRF_COOKIE = "__Host-digest_csrf"
FORM_MAX_AGE = 24 * 3600  # seconds a sign-up form may stay open before it must be reloaded


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_NAMES or host.startswith("127.")


def allowed_hosts(bind_host: str, public_url: str = "") -> frozenset[str] | None:
    """Host names a request may name; None: any (bound to a public address without a public URL)."""
    public = {urlsplit(public_url).hostname or ""} - {""} if public_url else set()
    if is_loopback(bind_host):
        return LOOPBACK_NAMES | {bind_host} | public
    return frozenset(public) or None


def client_key(host: str) -> str:
    """Who a per-client limit counts: an IPv4 address, or an IPv6 /64 (one subscriber's whole network)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if ip.version == 6 and ip.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(getattr(ip, "ipv4_mapped", None) or ip)


def host_name(header: str) -> str:
    """``example.org:8026`` -> ``example.org``; ``[::1]:8026`` -> ``::1``."""
    if header.startswith("["):
        return header[1:].partition("]")[0].lower()
    return header.rpartition(":")[0].lower() if header.count(":") == 1 else header.lower()


class Guard:
    """Host allow-list, body cap and security headers around an ASGI app."""

    def __init__(self, app: ASGIApp, hosts: Iterable[str] | None, max_body: int = MAX_BODY) -> None:
        self.app = app
        self.hosts = None if hosts is None else frozenset(hosts)
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        send = self._with_headers(send)
        if self.hosts is not None and host_name(headers.get("host", "")) not in self.hosts:
            await _plain(400, "unknown Host header; open this server by its own name", scope, receive, send)
            return
        length = headers.get("content-length", "0")
        cap = WEBHOOK_BODY if route_path(scope).startswith("/webhooks/") else self.max_body
        if not length.isdigit() or int(length) > cap:
            await _plain(413, f"request body too large (at most {cap // 1024} KB)", scope, receive, send)
            return
        await self.app(scope, self._capped(receive, cap), send)

    def _capped(self, receive: Receive, cap: int) -> Receive:
        seen = 0

        async def capped() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > cap:
                raise HTTPException(413, "request body too large")
            return message

        return capped

    @staticmethod
    def _with_headers(send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k.encode(), v.encode()) for k, v in HEADERS.items() if k.encode() not in present]
                if b"content-security-policy" not in present:
                    extra.append((b"content-security-policy", PAGE_CSP.encode()))
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        return wrapped


async def _plain(status: int, text: str, scope: Scope, receive: Receive, send: Send) -> None:
    await PlainTextResponse(text + "\n", status_code=status)(scope, receive, send)


class Csrf:
    """A form field signed by the server, checked without a cookie: for its reader, or for its client and time.

    A reader's page (a link from their email: preferences, feedback, save...) carries a
    field signed for that reader, and its form's own URL names the reader too: the field
    is taken when both name the same one. A page elsewhere cannot post one: it has
    neither the signing key nor, to read the field from, the link.

    A page for no reader (sign-up) carries a field signed for the client that asked for
    it (``client_key``: its address, an IPv6 /64) and the time: taken from that client
    within ``FORM_MAX_AGE``, by forms for no reader. A page elsewhere can get such a
    field only by asking for the form itself, from its own address, and the field is
    then refused when its visitors' browsers post it (a forged sign-up could anyway
    only ask for a confirmation mail, counted against the sender's network's limit,
    which the address's owner ignores).

    No page sets a cookie, so pages opened at once (two tabs, no cookie yet) cannot
    race for one, the second tab's cookie expiring the first tab's form. A browser's
    word that a POST comes from another site (``Sec-Fetch-Site``) is refused outright.
    A form shown before these fields existed (a field signed for a cookie's nonce) is
    still taken with its cookie.
    """

    def __init__(self, signer: Signer, secure: bool, clock: Callable[[], float] = time.time) -> None:
        self.signer = signer
        self.clock = clock
        self.cookie = SECURE_CSRF_COOKIE if secure else CSRF_COOKIE

    def field(self, request: Request, reader: str | None = None) -> str:
        if reader is not None:
            return self.signer.dumps("csrf", ["reader", reader])
        return self.signer.dumps("csrf", ["client", client_of(request), int(self.clock())])

    def check(self, request: Request, submitted: object, reader: str | None = None) -> None:
        """``reader``: whom the form's URL names (a field signed for them is enough); else the field must be this
        client's and fresh, or (a page shown before these fields) match the cookie."""
        if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            raise forbidden()
        signed = self._payload(submitted)
        if reader is not None and signed == ["reader", reader]:
            return
        if reader is None and self._fresh_for(request, signed):
            return
        nonce = request.cookies.get(self.cookie, "")
        if not nonce or not isinstance(signed, str) or not _same(signed, nonce):
            raise forbidden()

    def _fresh_for(self, request: Request, signed: object) -> bool:
        if not (isinstance(signed, list) and len(signed) == 3 and signed[0] == "client"
                and isinstance(signed[2], int)):
            return False
        return signed[1] == client_of(request) and self.clock() - signed[2] <= FORM_MAX_AGE

    def _payload(self, submitted: object) -> object:
        try:
            return self.signer.loads("csrf", submitted) if isinstance(submitted, str) else None
        except BadToken:
            return None


def client_of(request: Request) -> str:
    return client_key(request.client.host if request.client else "?")


def forbidden() -> HTTPException:
    return HTTPException(403, "This form has expired or did not come from this site. Go back, reload the page "
                              "and try again.")


def _same(signed: str, nonce: str) -> bool:
    """Compared as bytes in constant time: a cookie may hold letters beyond ASCII, which
    ``hmac.compare_digest`` refuses to compare as strings (a TypeError: a 500 for a bad cookie)."""
    return hmac.compare_digest(signed.encode("utf-8", "surrogatepass"), nonce.encode("utf-8", "surrogatepass"))
