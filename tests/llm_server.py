"""A small OpenAI-compatible chat server on 127.0.0.1 that answers well, slowly, wrongly or with hostile text."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SLOW_AT_MOST = 10.0  # seconds a slow answer sleeps: no thread outlives a test for long


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: dict


@dataclass
class Behaviour:
    """What the server answers: ``content`` of the reply (from the request), or a raw body and status."""

    content: Callable[[dict], str] = lambda body: "A short summary of: " + body["messages"][1]["content"][7:60]
    status: int = 200
    raw: bytes | None = None  # sent as it is instead of a chat completion
    delay: float = 0.0
    trickle: float = 0.0  # seconds between the body's bytes: a server that keeps the answer coming, slowly
    seen: list[Seen] = field(default_factory=list)


class LLMServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.behaviour = Behaviour()
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _Handler(BaseHTTPRequestHandler):
    server: LLMServer

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        behaviour = self.server.behaviour
        with self.server.lock:
            behaviour.seen.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        if behaviour.delay:
            time.sleep(min(behaviour.delay, SLOW_AT_MOST))
        if behaviour.raw is not None:
            data = behaviour.raw
        else:
            data = json.dumps({"id": "x", "object": "chat.completion", "model": body.get("model"),
                               "choices": [{"index": 0, "finish_reason": "stop", "message": {
                                   "role": "assistant", "content": behaviour.content(body)}}]}).encode()
        try:
            self.send_response(behaviour.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if behaviour.trickle:
                for byte in data[: int(SLOW_AT_MOST / behaviour.trickle)]:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(behaviour.trickle)
            else:
                self.wfile.write(data)
        except OSError:  # the client gave up waiting, as it should
            pass

    def log_message(self, format: str, *args: object) -> None:
        pass


def start() -> LLMServer:
    server = LLMServer()
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server
