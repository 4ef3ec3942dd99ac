"""A real HTTP server on 127.0.0.1 that plays back scripted, recorded responses,
and misbehaves on request: trickled headers or body, endless chunked bodies, gzip bombs."""

from __future__ import annotations

import functools
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MISBEHAVE_FOR_AT_MOST = 20.0  # seconds: a trickling reply gives up then, so no thread outlives a test run


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before the status line: for read timeouts
    etag: str | None = None  # answer 304 when the request's If-None-Match equals it
    header_drip: float = 0.0  # seconds between single bytes of the status line and headers
    drip: float = 0.0  # seconds between single bytes of the body
    chunks: Callable[[], Iterable[bytes]] | None = None  # a chunked body, which may never end

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

    scheme = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server_address[1]}"

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
        if reply.header_drip or reply.drip or reply.chunks:
            self._misbehave(reply)
            return
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

    def _misbehave(self, reply: Reply) -> None:
        """Write the reply by hand: byte by byte, or as chunks that may never end."""
        self.close_connection = True
        framing = ("Transfer-Encoding", "chunked") if reply.chunks else ("Content-Length", str(len(reply.body)))
        lines = [f"HTTP/1.1 {reply.status} {HTTPStatus(reply.status).phrase}",
                 *(f"{k}: {v}" for k, v in reply.headers.items()), "Connection: close", ": ".join(framing)]
        try:
            _trickle(self.wfile, ("\r\n".join(lines) + "\r\n\r\n").encode(), reply.header_drip)
            if reply.chunks:
                for piece in reply.chunks():
                    self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
            else:
                _trickle(self.wfile, reply.body, reply.drip)
        except OSError:  # the client gave up, as it should
            pass

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass


def _trickle(out, data: bytes, every: float) -> None:
    if not every:
        out.write(data)
        return
    stop = time.monotonic() + MISBEHAVE_FOR_AT_MOST
    for i in range(len(data)):
        if time.monotonic() > stop:
            return
        out.write(data[i : i + 1])
        time.sleep(every)


def endless(piece: bytes = b"x" * 65536, every: float = 0.0) -> Callable[[], Iterator[bytes]]:
    """A chunked body that never ends (well: not before ``MISBEHAVE_FOR_AT_MOST`` seconds)."""

    def chunks() -> Iterator[bytes]:
        stop = time.monotonic() + MISBEHAVE_FOR_AT_MOST
        while time.monotonic() < stop:
            yield piece
            if every:
                time.sleep(every)

    return chunks


@functools.cache
def gzip_bomb(size: int = 50_000_000) -> bytes:
    """``size`` zero bytes, gzipped: about a thousandth of that on the wire."""
    packer = zlib.compressobj(6, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(1_000_000)
    parts = [packer.compress(block) for _ in range(size // len(block))]
    return b"".join(parts) + packer.compress(bytes(size % len(block))) + packer.flush()


def start(tls: ssl.SSLContext | None = None) -> PlaybackServer:
    """A server on a free port of 127.0.0.1; with ``tls``, it speaks HTTPS."""
    server = PlaybackServer()
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
        server.scheme = "https"
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server
