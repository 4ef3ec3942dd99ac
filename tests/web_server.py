"""The reader-side app served for real by uvicorn on 127.0.0.1 (a thread, a free port), over a real SQLite file."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

from digest.settings import Settings
from digest.store import Store
from digest.tokens import ReaderLinks, links_for
from digest.web import ServerHandle, serve_in_thread

from .smtp_server import free_port

SECRET = "Zq7VhX2mN9pL4tR8wK3cF6yB1dG5sJ0a"  # as strong as digest check asks (a weak key is refused)
ROSTER = """
[[subscribers]]
email = "ada@example.org"
keywords = ["reward model*", "exploration"]

[[subscribers]]
email = "bob@example.org"
keywords = ["diffusion"]
max_items = 3
"""


@dataclass
class Web:
    settings: Settings
    handle: ServerHandle
    url: str

    def links(self, email: str, papers: tuple[str, ...] = ()) -> ReaderLinks:
        return links_for(self.settings, email, list(papers))

    def store(self) -> Store:
        return Store.open(self.settings.state_db)

    def status(self, email: str) -> str | None:
        with self.store() as store:
            return store.reader_status(email)

    def client(self) -> httpx.Client:
        return httpx.Client(timeout=10)

    def queued(self) -> list[tuple[str, int, str | None]]:
        with self.store() as store:
            return store.queued_mail()

    def drain(self, timeout: float = 15) -> None:
        """Wait until the outbox has sent (or given up) every mail queued so far."""
        wait_until(lambda: not self.queued(), timeout, "the outbox never emptied")


def wait_until(condition: Callable[[], object], timeout: float = 10, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def make_settings(tmp_path: Path, port: int, path: str = "", **changes: object) -> Settings:
    """``path`` (``/papers``): the pages served under it, DIGEST_PUBLIC_URL=http://127.0.0.1:PORT/papers."""
    roster = tmp_path / "subscribers.toml"
    roster.write_text(ROSTER)
    base = Settings(state_db=tmp_path / "state.db", secret_key=SECRET, public_url=f"http://127.0.0.1:{port}{path}",
                    subscribers=roster, from_addr="Digest <digest@example.com>")
    return replace(base, **changes)  # type: ignore[arg-type]


@contextmanager
def running(tmp_path: Path, **changes: object) -> Iterator[Web]:
    port = free_port()
    settings = make_settings(tmp_path, port, **changes)
    handle = serve_in_thread(settings, "127.0.0.1", port)
    try:
        yield Web(settings, handle, handle.url.rstrip("/"))
    finally:
        handle.stop()
