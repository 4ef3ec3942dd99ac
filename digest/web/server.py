"""Uvicorn, configured once for ``serve``, ``preview`` and ``digest run``'s in-process server.

Idle keep-alive connections close after 5 s, a connection that sends no whole request
(head and body) within 10 s is closed, one client holds at most 32 connections
(``connections``), at most 100 requests are handled at once (the next gets a 503;
idle connections and bodies still arriving do not count), no access log (links carry tokens), and a client
that disconnects mid-response is not an error. A stop lets requests in flight finish
for 5 s (``shutdown_grace``). The app's lifespan runs (the reader's side sends its
outbox from it).
"""

from __future__ import annotations

import errno
import signal
import socket
import sys
import threading
from dataclasses import dataclass
from typing import Any

import uvicorn

from ..errors import ConfigError
from ..settings import Settings
from .connections import IN_FLIGHT, ConnectionLimits, InFlight, protocol_for


def bind(host: str, port: int, *, fallback: bool = False) -> socket.socket:
    """A listening socket; with ``fallback``, a busy port gives way to a free one (and says so)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        if not (fallback and err.errno == errno.EADDRINUSE):
            sock.close()
            raise ConfigError(f"cannot listen on {host}:{port} ({err.strerror}); {_bind_fix(err)}") from None
        sock.bind((host, 0))
        print(f"digest: note: port {port} is busy; using {sock.getsockname()[1]} instead", file=sys.stderr)
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _bind_fix(err: OSError) -> str:
    """A port taken (or kept for root) is the port's fault; a name that does not resolve, or an address that is
    not this machine's, the host's."""
    if isinstance(err, socket.gaierror) or err.errno == errno.EADDRNOTAVAIL:
        return "check --host: an address of this machine (127.0.0.1, or 0.0.0.0 for all of them)"
    return "choose another --port"


def make_server(app: Any, limits: ConnectionLimits | None = None, in_flight: int = IN_FLIGHT) -> uvicorn.Server:
    limits = limits or ConnectionLimits()
    config = uvicorn.Config(
        InFlight(app, in_flight), http=protocol_for(limits), log_config=None,
        access_log=False, server_header=False, timeout_keep_alive=limits.keep_alive, limit_concurrency=None,
        proxy_headers=True, forwarded_allow_ips="127.0.0.1", lifespan="on",
        timeout_graceful_shutdown=limits.shutdown_grace,
    )
    return uvicorn.Server(config)


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}/"


class _Terminated(Exception):
    """SIGTERM: uvicorn's, re-raised once it has stopped (or one that came before its handlers did)."""


def _terminated(number: int, frame: Any) -> None:
    raise _Terminated


def run(app: Any, sock: socket.socket) -> None:
    """Serve until SIGTERM/SIGINT (uvicorn's own handlers: finish what is in flight, then stop), then return.

    Uvicorn raises the signal it caught again once it has stopped, for the handler it found: SIGTERM's
    default killed the process (status -15, 143 to a shell: a failure to a service manager) after a clean
    stop. Here that SIGTERM just ends the serving; SIGINT's raises KeyboardInterrupt, for the caller.
    """
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        make_server(app).run(sockets=[sock])
    except _Terminated:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        sock.close()


@dataclass
class ServerHandle:
    """A server running in a thread of this process; ``stop()`` ends it."""

    server: uvicorn.Server
    thread: threading.Thread
    url: str
    port: int

    def stop(self, timeout: float = 10) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


def start_in_thread(app: Any, host: str, port: int, limits: ConnectionLimits | None = None) -> ServerHandle:
    return start_on(app, bind(host, port), limits)


def start_on(app: Any, sock: socket.socket, limits: ConnectionLimits | None = None) -> ServerHandle:
    """Serve ``app`` on ``sock`` (bound already) in a thread of this process."""
    server = make_server(app, limits)
    thread = threading.Thread(target=_serve, args=(server, sock), name="digest-web", daemon=True)
    thread.start()
    handle = ServerHandle(server, thread, url_of(sock), sock.getsockname()[1])
    while not server.started and thread.is_alive():
        thread.join(0.01)
    return handle


def _serve(server: uvicorn.Server, sock: socket.socket) -> None:
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


def ready_to_serve(app_settings: Settings, host: str = "127.0.0.1", port: int = 8026) -> tuple[Any, socket.socket]:
    """The reader's side built and its port bound, not served yet (``start_on`` serves it): ``digest run
    --serve`` says a setting or a port that fails in one line, before the daemon says it starts."""
    from .app import make_app

    return make_app(app_settings, bind_host=host), bind(host, port)


def serve_in_thread(app_settings: Settings, host: str = "127.0.0.1", port: int = 8026) -> ServerHandle:
    """The reader's side in a thread; ``port=0`` takes a free one."""
    return start_on(*ready_to_serve(app_settings, host, port))
