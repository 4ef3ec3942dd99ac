"""``digest preview``: the digest served on 127.0.0.1, re-rendered when templates change.

A mode of the reader-side web stack (``digest.web``), not a server of its own.
"""

from __future__ import annotations

import sys
import threading
import webbrowser

from ..app import Digest
from ..errors import ConfigError
from ..model import Subscriber
from ..render import Rendered
from ..sending.produce import picks_and_total
from .app import make_preview_app
from .server import bind, run, url_of


class Preview:
    """Loads the listing once; renders with the mailer's own render call on demand.

    The picks, the "20 of 30" count, the header and (with DIGEST_PUBLIC_URL) the
    reader's signed links are what the send would put in this reader's digest.
    """

    def __init__(self, app: Digest, reader: Subscriber, source: str | None = None, offline: bool = False,
                 own_changes: bool = True) -> None:
        """``own_changes``: what the reader chose on the web wins, as in the send; not for ``--keywords``,
        which preview the keywords given (their reader's stored keywords silently replaced them)."""
        self.app = app
        self.reader = reader = with_own_changes(app, reader) if own_changes else reader
        plan = app.candidates(app.load_listing(source, offline=offline, since=app.last_run_day(source)), [reader])
        self.listing, self.since = plan.listing, plan.covers(reader.email)
        sent = plan.get(reader.email.lower(), frozenset())
        index = app.make_index(self.listing.papers)
        examples = app.examples_for_readers([reader], self.listing.papers)[0]
        picks, self.total, _ = picks_and_total(app, index, reader, sent, examples)
        # the LLM summaries a send kept (DIGEST_LLM_URL); the preview never asks the model for the others
        self.picks, self.unsummarised = app.kept_summaries(reader, picks)
        self.hints = app.keyword_hints(index, reader, plan)  # the note the send adds for keywords that match nothing
        self.lock = threading.Lock()

    def rendered(self) -> Rendered:
        with self.lock:
            self.app.renderer.reload_if_changed()
            return self.app.render(self.reader, self.picks, listing=self.listing, total=self.total, since=self.since,
                                   hints=self.hints)

    def message(self) -> bytes:
        if not self.reader.email:  # the keywords of DIGEST_KEYWORDS, with no DIGEST_TO: /eml said "'' is not ..."
            raise ConfigError("no recipient for the message: set DIGEST_TO, or preview a reader of DIGEST_SUBSCRIBERS "
                              "with --subscriber EMAIL (the send needs one too)")
        rendered = self.rendered()
        return self.app.build(self.reader, rendered)[1]


def with_own_changes(app: Digest, reader: Subscriber) -> Subscriber:
    """The reader as the send sees them: their keywords and papers per digest from the web win."""
    if not app.settings.state_db.exists():
        return reader
    from ..readers import apply_changes
    from ..store import Store

    with Store.open(app.settings.state_db) as store:
        state = store.reader_state(reader.email)
    return apply_changes(reader, state) if state else reader


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
