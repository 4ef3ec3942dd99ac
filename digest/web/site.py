"""What the reader pages share: settings, the signer, page templates, the store, the roster, the HTTP client.

Store calls run in Starlette's thread pool, each on its own short-lived
connection (SQLite connections are per thread): WAL, ``BEGIN IMMEDIATE`` and a
30 s busy timeout let ``serve`` and a running ``send`` share the file.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx
import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse

from ..archive import Reprinter
from ..settings import Settings
from ..store import Store
from ..tokens import BadToken, ExpiredToken, Signer, require_secret
from .outbox import OutboxSender
from .prefix import root_of
from .roster import Roster
from .security import Csrf
from .sns import Certificates, certificate_client, fetch_certificate

HERE = Path(__file__).parent
T = TypeVar("T")


class Site:
    def __init__(self, settings: Settings, mailer_factory: Callable[[], Any] | None = None,
                 certificates: Certificates | None = None, http: httpx.Client | None = None) -> None:
        self.settings = settings
        self.root = root_of(settings.public_url)  # every page path starts with it: '' or '/papers'
        self.signer = Signer(require_secret(settings), settings.secret_keys_old)  # old keys: links before a rotation
        self.csrf = Csrf(self.signer, secure=settings.public_url.startswith("https://"))
        self.pages = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, undefined=jinja2.StrictUndefined,
        )
        self.mailer_factory = mailer_factory
        self.reprinter = Reprinter(settings)  # "view in browser" re-renders kept digests
        self.roster = Roster(settings, self.signer.secret)
        self.old_rosters = [Roster(settings, key) for key in settings.secret_keys_old]  # ids an old key made
        self.outbox = OutboxSender(settings, self.make_mailer)  # started and stopped by the app's lifespan
        self.http = http or certificate_client()  # the app's one HTTP client, closed by its lifespan (close)
        self.certificates = certificates or Certificates(  # SNS's, for the SES webhook
            settings.ses_cert_dir, fetch=partial(fetch_certificate, self.http))

    def close(self) -> None:
        self.http.close()

    def make_mailer(self) -> Any:
        if self.mailer_factory is not None:
            return self.mailer_factory()
        from ..mail import Mailer

        return Mailer(self.settings)

    def store(self) -> Store:
        return Store.open(self.settings.state_db)

    async def in_store(self, work: Callable[[Store], T]) -> T:
        """Run ``work(store)`` in the thread pool on a connection of its own."""
        def call() -> T:
            with self.store() as store:
                return work(store)

        return await run_in_threadpool(call)

    def page(self, request: Request, name: str, status: int = 200, reader: str | None = None,
             **context: Any) -> HTMLResponse:
        """A page with a fresh CSRF field: signed for ``reader`` (whose link this is), else for this client and the
        time (``digest.web.security.Csrf``)."""
        html = self.pages.get_template(name).render(csrf=self.csrf.field(request, reader),
                                                   signup=self.settings.signup, root=self.root, **context)
        return HTMLResponse(html, status_code=status)

    # who a token names ------------------------------------------------------------------

    def rid_of(self, purpose: str, token: str) -> str:
        try:
            return self.signer.reader(purpose, token)
        except ExpiredToken:
            raise HTTPException(400, "This confirmation link has expired (they last 48 hours): nothing was "
                                     "changed. To get the digest, sign up again for a new link.") from None
        except BadToken:
            raise bad_link() from None

    def pair_of(self, purpose: str, token: str) -> tuple[str, str]:
        try:
            return self.signer.pair(purpose, token)
        except BadToken:
            raise bad_link() from None

    async def email_of(self, rid: str) -> str:
        """The address behind a link id: sign-ups by their stored id, others by the roster's index."""
        email = await self.find_email(rid)
        if email is None:
            raise HTTPException(404, "This link's reader is not on the list any more. "
                                     "If you still get the digest, use the link in your latest email.")
        return email

    async def find_email(self, rid: str) -> str | None:
        """``email_of``, or None for a reader no longer on the list (removed from the roster and the store)."""
        return await self.in_store(lambda store: self._find(store, rid))

    def _find(self, store: Store, rid: str) -> str | None:
        return store.reader_by_rid(rid) or next(filter(None, (roster.email_of(rid, store.known_emails)
                                                              for roster in (self.roster, *self.old_rosters))), None)

    def roster_emails(self) -> list[str]:
        """The operator's readers (none, or a broken file: the pages still work for the others)."""
        return self.roster.emails()

    def links(self, rid: str) -> dict[str, str]:
        """This reader's own page paths (never another reader's)."""
        preferences = self.signer.dumps("preferences", rid)
        return {
            "unsubscribe": self.path(f"/unsubscribe/{self.signer.dumps('unsubscribe', rid)}"),
            "preferences": self.path(f"/preferences/{preferences}"),
            "feed": self.path(f"/feed/{preferences}"),  # the reader's own pages share the preferences token
            "votes": self.path(f"/votes/{preferences}"),
            "reading": self.path(f"/reading/{preferences}"),
            "archive": self.path(f"/archive/{preferences}"),
        }

    def keeping(self) -> str:
        """How long a digest is kept, as the pages say it: ``90 days``, ``1 day``, or with DIGEST_ARCHIVE_DAYS=0
        (each send drops the copies of earlier days) ``until the next one``."""
        days = self.settings.archive_days
        return "until the next one" if days == 0 else f"{days} day" if days == 1 else f"{days} days"

    def path(self, page: str) -> str:
        """A page's path as browsers ask for it: under DIGEST_PUBLIC_URL's path (``digest.web.prefix``)."""
        return self.root + page


def bad_link() -> HTTPException:
    return HTTPException(400, "This link is damaged or was not made by this server: nothing was changed. "
                              "Copy the whole link from your email and try again.")
