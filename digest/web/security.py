"""What every response of the web app gets: a Host allow-list, security headers, a body cap, CSRF.

Pure ASGI middleware, so it also guards errors and the preview. The Host check
stops DNS rebinding: a page on another name that resolves to 127.0.0.1 gets a 400
and never a reader's address or keywords.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
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
CSRF_COOKIE = "digest_csrf"
# Over https the cookie is ``__Host-`` prefixed: browsers then take it only from this origin, with
# Secure and Path=/ and no Domain, so a sibling subdomain cannot plant a nonce of its own.
SECURE_CSRF_COOKIE = "__Host-digest_csrf"


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
    """A form field signed for its reader on a reader's pages; a signed double-submit cookie elsewhere.

    A reader's page (a link from their email: preferences, feedback, save...) carries a
    field signed for that reader, and its form's own URL names the reader too: the field
    is taken when both name the same one, whatever the cookie. The pages set no cookie,
    so two links opened at once (no cookie yet, two tabs from the email) cannot race for
    it, the second tab's cookie expiring the first tab's form. A page elsewhere cannot
    post one: it has neither the signing key nor, to read the field from, the link.
    Pages for no reader (sign-up) keep the double-submit: a random cookie, and a field
    that is its signature.
    """

    def __init__(self, signer: Signer, secure: bool) -> None:
        self.signer = signer
        self.secure = secure
        self.cookie = SECURE_CSRF_COOKIE if secure else CSRF_COOKIE

    def field(self, request: Request, reader: str | None = None) -> tuple[str, str | None]:
        """(the form field value, a new cookie nonce to set or None)."""
        if reader is not None:
            return self.signer.dumps("csrf", ["reader", reader]), None
        nonce = request.cookies.get(self.cookie)
        fresh = None
        if not nonce or len(nonce) > 64:
            nonce = fresh = secrets.token_urlsafe(16)
        return self.signer.dumps("csrf", nonce), fresh

    def set_cookie(self, response: Response, fresh: str | None) -> Response:
        """Lax, not Strict: a link clicked in a webmail is a cross-site navigation, which a Strict cookie does not
        come with, so each such page made a new nonce and expired the forms of the reader's other tabs. A
        cross-site POST still comes without it (and without the signed field): forms stay refused from elsewhere."""
        if fresh:
            response.set_cookie(self.cookie, fresh, httponly=True, samesite="lax", secure=self.secure, path="/")
        return response

    def check(self, request: Request, submitted: object, reader: str | None = None) -> None:
        """``reader``: whom the form's URL names (a field signed for them is enough); else the cookie must match
        (a page shown before reader fields existed, still open, is taken too)."""
        signed = self._payload(submitted)
        if reader is not None and signed == ["reader", reader]:
            return
        nonce = request.cookies.get(self.cookie, "")
        if not nonce or not isinstance(signed, str) or not _same(signed, nonce):
            raise HTTPException(403, "This form has expired or did not come from this site. Go back, reload the page and try again.")

    def _payload(self, submitted: object) -> object:
        try:
            return self.signer.loads("csrf", submitted) if isinstance(submitted, str) else None
        except BadToken:
            return None


def _same(signed: str, nonce: str) -> bool:
    """Compared as bytes in constant time: a cookie may hold letters beyond ASCII, which
    ``hmac.compare_digest`` refuses to compare as strings (a TypeError: a 500 for a bad cookie)."""
    return hmac.compare_digest(signed.encode("utf-8", "surrogatepass"), nonce.encode("utf-8", "surrogatepass"))
