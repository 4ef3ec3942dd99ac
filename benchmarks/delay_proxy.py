"""A TCP proxy on 127.0.0.1 that makes a local server look far away.

Every chunk read from one side is written to the other side ``one_way`` seconds
after it arrived, in order, in both directions: a request and its reply cost one
round trip of ``2 * one_way`` seconds, as with a relay that far away, while
bytes keep streaming (the delay is a latency, not a bandwidth limit). asyncio
sets TCP_NODELAY on both legs, so nothing is held back on top of the delay.

Run it in its own process (it then has its own core and GIL):

    python benchmarks/delay_proxy.py LISTEN_PORT TARGET_PORT ROUND_TRIP_MS [PARENT_PID]

or from another script with ``start_proxy(target_port, round_trip_ms)``. Given
PARENT_PID, it exits once that process is gone.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

CHUNK = 65536


async def _forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, one_way: float) -> None:
    """Copy one direction; each chunk leaves ``one_way`` seconds after it came in."""
    loop = asyncio.get_running_loop()
    pending: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, data = await pending.get()
            if (wait := due - loop.time()) > 0:
                await asyncio.sleep(wait)
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    sender = asyncio.create_task(deliver())
    try:
        while data := await reader.read(CHUNK):
            pending.put_nowait((loop.time() + one_way, data))
    except OSError:
        pass
    pending.put_nowait((loop.time() + one_way, b""))
    try:
        await sender
    except OSError:
        pass


async def _connection(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter,
                      target_port: int, one_way: float) -> None:
    try:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", target_port)
    except OSError:
        client_w.close()
        return
    try:
        await asyncio.gather(_forward(client_r, server_w, one_way), _forward(server_r, client_w, one_way))
    finally:
        for writer in (client_w, server_w):
            writer.close()


async def _orphaned(parent: int) -> None:
    """Return once the process that started the proxy is gone (it cannot always stop the proxy itself)."""
    while os.getppid() == parent:
        await asyncio.sleep(1)


async def serve(listen_port: int, target_port: int, round_trip: float, parent: int | None = None) -> None:
    one_way = round_trip / 2

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _connection(reader, writer, target_port, one_way)

    server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
    async with server:
        if parent is None:
            await server.serve_forever()
        else:
            await _orphaned(parent)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit(f"{what} did not start on 127.0.0.1:{port}")


def start_proxy(target_port: int, round_trip_ms: float) -> tuple[subprocess.Popen, int]:
    """The proxy in its own process, listening on a free port: (process, port)."""
    port = free_port()
    process = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), str(port), str(target_port),
                                str(round_trip_ms), str(os.getpid())])
    wait_for_port(port, process, "the delaying proxy")
    return process, port


def main() -> int:
    listen_port, target_port, round_trip_ms = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    parent = int(sys.argv[4]) if len(sys.argv) > 4 else None
    try:
        asyncio.run(serve(listen_port, target_port, round_trip_ms / 1000, parent))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
