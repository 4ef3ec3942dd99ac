"""What keeps idle sockets from starving the app: a deadline for each request, a cap per client.

uvicorn waits for ever for a connection's first request, and its
``limit_concurrency`` counts open connections, so a few hundred sockets that never
send anything used to turn every page into a 503. Here a connection must deliver a
whole request, head and body, within ``first_request`` seconds of opening (and of
each response; a keep-alive connection that says nothing is closed sooner, by
uvicorn's keep-alive timeout, ``keep_alive``), and one client address (an IPv6 /64) holds at most
``per_client`` connections: one more closes that client's oldest connection with no
request in flight. The reverse proxy's own address (loopback) is not capped: it
speaks for everyone, and caps its clients itself. How many requests run at once is
``InFlight``'s business, not the connections': it counts a request once its body
has arrived, so bodies sent a byte at a time hold sockets, never the app.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any, ClassVar

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from .security import HEADERS, PAGE_CSP, WEBHOOK_BODY, client_key

FIRST_REQUEST = 10.0
KEEP_ALIVE = 5  # seconds an idle keep-alive connection stays open (uvicorn's timeout_keep_alive)
SHUTDOWN_GRACE = 5  # seconds a stop lets requests in flight finish (uvicorn's timeout_graceful_shutdown)
PER_CLIENT = 32
IN_FLIGHT = 100

log = logging.getLogger("digest.web")


@dataclass(frozen=True)
class ConnectionLimits:
    first_request: float = FIRST_REQUEST
    keep_alive: int = KEEP_ALIVE
    shutdown_grace: int = SHUTDOWN_GRACE
    per_client: int = PER_CLIENT
    exempt: frozenset[str] = field(default_factory=lambda: frozenset({"127.0.0.1", "::1"}))


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the deadline and the cap (one subclass per server: ``protocol_for``)."""

    limits: ClassVar[ConnectionLimits] = ConnectionLimits()
    open_by_client: ClassVar[dict[str, dict["GuardedH11Protocol", None]]] = {}

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline: asyncio.TimerHandle | None = None
        self._restart_deadline()
        host = self.client[0] if self.client else ""
        self._client = "" if host in self.limits.exempt else client_key(host)
        if not self._client:
            return
        mine = self.open_by_client.setdefault(self._client, {})
        mine[self] = None  # dicts keep order: the first is the oldest
        if len(mine) > self.limits.per_client:
            oldest_waiting = next((c for c in mine if c is not self and c.waiting()), self)
            oldest_waiting.close_now()

    def waiting(self) -> bool:
        """No request in flight: nothing is lost by closing it."""
        return self.cycle is None or self.cycle.response_complete

    def close_now(self) -> None:
        self._forget()
        if not self.transport.is_closing():
            self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._restart_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._forget()
        super().connection_lost(exc)

    def _restart_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self.loop.call_later(self.limits.first_request, self._past_deadline)

    def _past_deadline(self) -> None:
        if self.waiting() or self.receiving_body():  # no complete request since the deadline was set
            self.close_now()

    def receiving_body(self) -> bool:
        """A request head came, its body has not all come, and nothing has been answered yet."""
        cycle = self.cycle
        return cycle is not None and cycle.more_body and not cycle.response_started

    def _forget(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        mine = self.open_by_client.get(getattr(self, "_client", ""))
        if mine is not None:
            mine.pop(self, None)
            if not mine:
                del self.open_by_client[self._client]


def protocol_for(limits: ConnectionLimits) -> type[GuardedH11Protocol]:
    """A protocol class with its own limits and its own book of connections (one per server)."""
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"limits": limits, "open_by_client": {}})


class InFlight:
    """At most ``limit`` requests handled at once; the next gets a 503 at once, until one finishes.

    Counts requests, not connections: an idle keep-alive connection is no work, and
    neither is a body still arriving. The body (up to ``max_body`` bytes: past that the
    app's own cap answers 413) is read before the request counts, then handed to the app.
    """

    def __init__(self, app: ASGIApp, limit: int = IN_FLIGHT, max_body: int = WEBHOOK_BODY) -> None:
        self.app = app
        self.limit = limit
        self.max_body = max_body
        self.running = 0  # one event loop: no lock needed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        arrived = await _body(receive, self.max_body)
        if arrived[-1]["type"] == "http.disconnect":  # gone (or closed at the deadline) before it finished
            return
        receive = _replay(arrived, receive)
        if self.running >= self.limit:
            await _unavailable("busy; please try again in a moment", scope, receive, send)
            return
        self.running += 1
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except asyncio.CancelledError:  # still running when a stop's grace ran out (uvicorn cancels it)
            log.warning("web: a request still running when the server stopped was cut short")
            if not started:  # an answer, rather than uvicorn's traceback and bare 500
                await _unavailable("the server is restarting; please try again in a moment", scope, receive, send)
        finally:
            self.running -= 1


async def _unavailable(text: str, scope: Scope, receive: Receive, send: Send) -> None:
    """Outside the app's ``Guard``, so it gives the headers every response carries itself."""
    headers = {**HEADERS, "content-security-policy": PAGE_CSP, "retry-after": "1"}
    answer: Any = PlainTextResponse(f"{text}\n", status_code=503, headers=headers)
    await answer(scope, receive, send)


async def _body(receive: Receive, max_body: int) -> list[Message]:
    """The request's messages until its body is complete, the client leaves, or ``max_body`` is passed."""
    messages, size = [], 0
    while True:
        message = await receive()
        messages.append(message)
        size += len(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body", False) or size > max_body:
            return messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """``receive`` that gives ``messages`` first, then what the connection sends."""
    queue = deque(messages)

    async def replayed() -> Message:
        return queue.popleft() if queue else await receive()

    return replayed
