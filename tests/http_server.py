"""A real HTTP server on 127.0.0.1 that plays back scripted, recorded responses."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before the status line: for read timeouts
    etag: str | None = None  # answer 304 when the request's If-None-Match equals it

    @classmethod
    def json(cls, body: bytes | str, **kwargs) -> "Reply":
        data = body.encode() if isinstance(body, str) else body
        headers = {"Content-Type": "application/json; charset=utf-8", **kwargs.pop("headers", {})}
        return cls(body=data, headers=headers, **kwargs)


@dataclass
class Request:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: float


Route = list[Reply] | Callable[[Request], Reply]


class PlaybackServer(ThreadingHTTPServer):
    """Routes map ``/path`` or ``/path?query`` to replies, used in order (the last repeats)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def route(self, target: str, *replies: Reply) -> None:
        self.routes[target] = list(replies)

    def handler(self, target: str, function: Callable[[Request], Reply]) -> None:
        self.routes[target] = function

    def requests_to(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    def reply_for(self, raw_path: str, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            route = self.routes.get(raw_path) or self.routes.get(request.path)
            if route is None:
                return Reply(404, b'{"error":"not found"}', {"Content-Type": "application/json"})
            if callable(route):
                return route(request)
            return route.pop(0) if len(route) > 1 else route[0]


class _Handler(BaseHTTPRequestHandler):
    server: PlaybackServer

    def do_GET(self) -> None:  # noqa: N802
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        request = Request(parts.path, query, {k.lower(): v for k, v in self.headers.items()}, time.monotonic())
        reply = self.server.reply_for(self.path, request)
        if reply.delay:
            time.sleep(reply.delay)
        if reply.etag and request.headers.get("if-none-match") == reply.etag:
            self.send_response(304)
            self.send_header("ETag", reply.etag)
            self.end_headers()
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.etag:
            self.send_header("ETag", reply.etag)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        try:
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass


def start() -> PlaybackServer:
    server = PlaybackServer()
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server
