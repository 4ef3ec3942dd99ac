"""``digest preview``: the digest served on 127.0.0.1, re-rendered when templates change.

A mode of the reader-side web stack (``digest.web``), not a server of its own.
"""

from __future__ import annotations

import sys
import threading
import webbrowser

from .app import Digest
from .model import Subscriber
from .render import Rendered
from .web.app import make_preview_app
from .web.server import bind, run, url_of


class Preview:
    """Loads the listing once; renders with the mailer's own render call on demand."""

    def __init__(self, app: Digest, reader: Subscriber, source: str | None = None, offline: bool = False) -> None:
        self.app = app
        self.reader = reader
        self.listing = app.load_listing(source, offline=offline)
        sent = app.sent_ids([reader], self.listing.papers)
        self.picks = app.rank_readers(self.listing, [reader], sent)[0][1]
        self.lock = threading.Lock()

    def rendered(self) -> Rendered:
        with self.lock:
            self.app.renderer.reload_if_changed()
            return self.app.render(self.reader, self.picks)

    def message(self) -> bytes:
        rendered = self.rendered()
        return self.app.build(self.reader, rendered)[1]


def serve(preview: Preview, port: int, open_browser: bool = True) -> int:
    """Serve on 127.0.0.1 (a busy port gives way to a free one) until Ctrl-C.

    The same web stack as ``digest serve``: only 127.0.0.1/localhost Host headers
    are answered (DNS rebinding), idle connections time out, concurrency is bounded.
    """
    sock = bind("127.0.0.1", port, fallback=True)
    url = url_of(sock)
    print(f"preview at {url}  (/text for the text part, /eml for the message; Ctrl-C to stop)", flush=True)
    if open_browser:
        webbrowser.open(url)
    try:
        run(make_preview_app(preview), sock)
    except KeyboardInterrupt:
        pass
    print("stopped", file=sys.stderr)
    return 0
