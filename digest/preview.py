"""``digest preview``: the digest served on 127.0.0.1, re-rendered when templates change."""

from __future__ import annotations

import errno
import sys
import threading
import webbrowser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .app import Digest
from .errors import DigestError
from .model import Subscriber
from .render import Rendered


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


def make_handler(preview: Preview) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            try:
                if self.path in ("/", "/index.html"):
                    self._reply(preview.rendered().html.encode("utf-8"), "text/html; charset=utf-8")
                elif self.path == "/text":
                    self._reply(preview.rendered().text.encode("utf-8"), "text/plain; charset=utf-8")
                elif self.path == "/eml":
                    self._reply(preview.message(), "message/rfc822")
                else:
                    self.send_error(404)
            except DigestError as err:
                self._reply(f"digest: error: {err}".encode(), "text/plain; charset=utf-8", status=500)

        def _reply(self, body: bytes, kind: str, status: int = 200) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def bind(preview: Preview, port: int) -> ThreadingHTTPServer:
    """Bind 127.0.0.1:port; if it is busy, take a free port and say so."""
    handler = make_handler(preview)
    try:
        return ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as err:
        if err.errno != errno.EADDRINUSE:
            raise
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        print(f"port {port} is busy; using {server.server_address[1]} instead", file=sys.stderr)
        return server


def serve(preview: Preview, port: int, open_browser: bool = True) -> int:
    server = bind(preview, port)
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    print(f"preview at {url}  (/text for the text part, /eml for the message; Ctrl-C to stop)", flush=True)
    if open_browser:
        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        server.server_close()
    return 0
