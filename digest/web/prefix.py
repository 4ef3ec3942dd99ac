"""Serving under DIGEST_PUBLIC_URL's path (``https://example.org/papers``) behind a reverse proxy.

The path is taken once from the setting (``root_of``); every link, form action,
stylesheet and redirect of the pages starts with it. Requests are answered both ways
a proxy forwards them: with the path stripped (nginx ``location /papers/ { proxy_pass
http://127.0.0.1:8026/; }``, Caddy ``handle_path``) or kept (``proxy_pass
http://127.0.0.1:8026;``, Caddy ``handle``). ``Prefix`` gives the app either as ASGI
says a mounted app gets it: ``root_path`` the prefix and ``path`` beginning with it, so
Starlette routes on what follows. A request whose path begins with the prefix is
taken as kept, so the prefix may not begin like one of the pages' own paths
(``/d``, ``/static``...): ``clash`` finds that, and ``digest serve`` refuses it.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send


def root_of(public_url: str) -> str:
    """DIGEST_PUBLIC_URL's path as links carry it, without a last slash: ``/papers``; '' for none."""
    return urlsplit(public_url).path.rstrip("/")


def route_path(scope: Scope) -> str:
    """The path within the app (what the routes match): the request's path after ``root_path``."""
    path, root = str(scope.get("path", "")), str(scope.get("root_path", ""))
    return path[len(root):] if root and path.startswith(root) else path


def first_segment(path: str) -> str:
    return path.lstrip("/").split("/", 1)[0]


def clash(root: str, paths: Iterable[str]) -> str | None:
    """The first segment ``root`` shares with a page's path (a stripped request for that page would read as
    kept), or None."""
    first = first_segment(unquote(root))
    return first if first and any(first_segment(path) == first for path in paths) else None


class Prefix:
    """Requests taken with the prefix stripped or kept; the app sees both alike (``root_path`` the prefix)."""

    def __init__(self, app: ASGIApp, root: str) -> None:
        self.app = app
        self.root = unquote(root)  # as ASGI's path is: percent-decoded
        self.raw_root = root.encode("ascii")  # as raw_path is (DIGEST_PUBLIC_URL is ASCII)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.root and scope["type"] in ("http", "websocket"):
            scope = {**scope, **self._mounted(scope), "root_path": self.root}
        await self.app(scope, receive, send)

    def _mounted(self, scope: Scope) -> dict[str, object]:
        """The path as kept (unchanged when the proxy kept it)."""
        path = scope["path"]
        if path == self.root or path.startswith(self.root + "/"):
            return {}
        raw = scope.get("raw_path")
        return {"path": self.root + path, **({"raw_path": self.raw_root + raw} if raw is not None else {})}
