"""Idle sockets cannot starve the reader's pages; open keep-alive connections are not work.

The real app served by uvicorn on 127.0.0.1 (through the same ``make_server`` as
``digest serve``), attacked with real TCP sockets. 127.0.0.2 stands in for a client
on the internet: 127.0.0.1 is the reverse proxy's address, which is not capped.
"""

from __future__ import annotations

import asyncio
import http.client
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from digest.web import make_app, start_in_thread
from digest.web.connections import PER_CLIENT, ConnectionLimits, InFlight
from digest.web.server import ServerHandle, make_server

from .smtp_server import free_port
from .web_server import Web, make_settings, running, wait_until


def idle_sockets(port: int, count: int, source: str) -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        sock = socket.socket()
        sock.bind((source, 0))
        sock.connect(("127.0.0.1", port))
        sockets.append(sock)
    return sockets


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server has closed it, as of now (a peek that does not wait: 300 checks in a moment)."""
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


@pytest.fixture
def web(tmp_path: Path) -> Iterator[Web]:
    with running(tmp_path) as site:
        yield site


@pytest.mark.parametrize("source", ["127.0.0.2", "127.0.0.1"], ids=["a client", "the proxy's address"])
def test_300_idle_sockets_do_not_starve_a_readers_page(web: Web, source: str) -> None:
    page = web.links("ada@example.org").preferences
    sockets = idle_sockets(web.handle.port, 300, source)
    try:
        with httpx.Client(timeout=1.0) as client:  # "within 1 s": a slower answer is a timeout error
            answer = client.get(page)
        assert answer.status_code == 200 and "ada@example.org" in answer.text
        if source == "127.0.0.2":  # one client keeps its newest PER_CLIENT connections, the rest are closed
            wait_until(lambda: sum(map(closed_by_server, sockets)) >= 300 - PER_CLIENT, 5)
            time.sleep(0.2)  # a server closing more than it should has the time to show it
            assert sum(map(closed_by_server, sockets)) == 300 - PER_CLIENT
            assert not any(map(closed_by_server, sockets[-PER_CLIENT:]))
    finally:
        for sock in sockets:
            sock.close()


@pytest.fixture
def impatient(tmp_path: Path) -> Iterator[ServerHandle]:
    """The real app, closing a connection whose request is not complete 0.3 s after it opened."""
    port = free_port()
    handle = start_in_thread(make_app(make_settings(tmp_path, port)), "127.0.0.1", port,
                             ConnectionLimits(first_request=0.3))
    try:
        yield handle
    finally:
        handle.stop()


def test_a_connection_that_sends_no_request_head_is_closed(impatient: ServerHandle) -> None:
    silent, partial = idle_sockets(impatient.port, 2, "127.0.0.1")
    partial.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # a head that never ends (slowloris)
    for sock in (silent, partial):
        sock.settimeout(5)
        assert sock.recv(1024) == b""
        sock.close()
    with httpx.Client(timeout=5) as client:  # a complete request is served as ever
        assert client.get(impatient.url).status_code == 200


def slow_bodies(port: int, path: str, count: int) -> list[socket.socket]:
    """Posts whose 60 KB body never comes: one byte each, then nothing (slow-body DoS)."""
    sockets = idle_sockets(port, count, "127.0.0.1")  # the proxy's address: no cap per client
    for sock in sockets:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded"
                     "\r\nContent-Length: 60000\r\n\r\nk".encode())
    return sockets


def test_110_bodies_sent_a_byte_at_a_time_do_not_starve_a_readers_page(web: Web) -> None:
    page = web.links("ada@example.org").preferences
    sockets = slow_bodies(web.handle.port, page.removeprefix(web.url), 110)
    try:
        time.sleep(0.5)  # every head is in, every body pending
        with httpx.Client(timeout=1.0) as client:
            answer = client.get(page)
        assert answer.status_code == 200 and "ada@example.org" in answer.text
    finally:
        for sock in sockets:
            sock.close()


def test_a_request_whose_body_does_not_arrive_in_time_is_closed(impatient: ServerHandle) -> None:
    (sock,) = slow_bodies(impatient.port, "/subscribe", 1)
    sock.settimeout(5)
    assert sock.recv(1024) == b""  # closed, with no answer: nobody is there to read one
    sock.close()
    with httpx.Client(timeout=5) as client:
        assert client.get(impatient.url).status_code == 200


def test_100_open_keep_alive_connections_are_not_refused(web: Web) -> None:
    # a cheap page: a round of 100 reader pages can take longer than the keep-alive timeout on a loaded
    # machine, and the server then rightly closes the first connections before the second round
    page = "/static/site.css"
    connections = [http.client.HTTPConnection("127.0.0.1", web.handle.port, timeout=10) for _ in range(100)]
    try:
        statuses = []
        for round_ in range(2):  # the second round reuses all 100 open connections
            for connection in connections:
                connection.request("GET", page)
                response = connection.getresponse()
                response.read()
                statuses.append(response.status)
        assert statuses == [200] * 200
        assert all(c.sock is not None for c in connections), "the connections stayed open"
    finally:
        for connection in connections:
            connection.close()


async def _slow_app(scope, receive, send, gate: asyncio.Event) -> None:
    await gate.wait()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"done"})


def test_the_request_past_the_limit_in_flight_gets_a_503_and_the_next_one_after_is_served() -> None:
    async def scenario() -> list[int]:
        gate = asyncio.Event()
        app = InFlight(lambda s, r, snd: _slow_app(s, r, snd, gate), limit=2)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            first = [asyncio.create_task(client.get("/")) for _ in range(2)]
            await asyncio.sleep(0.05)
            third = await client.get("/")  # two in flight: this one is refused at once
            gate.set()
            done = [r.status_code for r in await asyncio.gather(*first)]
            after = await client.get("/")
        return [*done, third.status_code, after.status_code, int(third.headers["retry-after"])]

    assert asyncio.run(scenario()) == [200, 200, 503, 200, 1]


def test_the_503_past_the_limit_in_flight_carries_the_security_headers_of_every_response() -> None:
    async def refused() -> httpx.Headers:
        gate = asyncio.Event()
        app = InFlight(lambda s, r, snd: _slow_app(s, r, snd, gate), limit=1)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            first = asyncio.create_task(client.get("/"))
            await asyncio.sleep(0.05)
            answer = await client.get("/")
            gate.set()
            await first
        assert answer.status_code == 503
        return answer.headers

    headers = asyncio.run(refused())
    assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer" and "default-src 'none'" in headers["content-security-policy"]


def test_a_request_still_running_when_the_server_stops_gets_a_503_not_a_traceback(caplog) -> None:
    """uvicorn waits for requests in flight at a stop (5 s; here 1 s), then cancels them."""
    import logging
    import threading

    entered = threading.Event()

    async def stuck(scope, receive, send) -> None:  # a page waiting on a locked store, say
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        entered.set()
        await asyncio.sleep(3600)

    port = free_port()
    assert make_server(None).config.timeout_graceful_shutdown == 5  # what digest serve gives them
    handle = start_in_thread(stuck, "127.0.0.1", port, ConnectionLimits(shutdown_grace=1))
    answers: list[httpx.Response] = []
    asking = threading.Thread(target=lambda: answers.append(httpx.get(handle.url, timeout=30)))
    caplog.set_level(logging.INFO)
    asking.start()
    assert entered.wait(10)
    handle.stop(timeout=20)
    asking.join(20)

    assert [a.status_code for a in answers] == [503] and "restarting" in answers[0].text
    assert "cut short" in caplog.text
    assert "Exception in ASGI application" not in caplog.text and "Traceback" not in caplog.text


def test_a_busy_preview_port_gives_way_to_a_free_one_with_a_note_like_the_other_lines(capsys) -> None:
    """The one stderr line without ``digest:`` in front: ``port 8025 is busy; using 41234 instead``."""
    import socket

    from digest.web.server import bind

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    busy = taken.getsockname()[1]
    try:
        sock = bind("127.0.0.1", busy, fallback=True)
        used = sock.getsockname()[1]
        sock.close()
    finally:
        taken.close()

    assert capsys.readouterr().err.splitlines() == [f"digest: note: port {busy} is busy; using {used} instead"]
