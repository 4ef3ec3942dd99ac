"""The reader's pages: unsubscribe, preferences, feedback, view in browser.

Every link carries a signed token naming the reader (and, for feedback, the
paper). GETs never change anything; each POST is one store transaction. The
one-click unsubscribe POST needs nothing but its token (RFC 8058); every other
form is CSRF-checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial
from typing import Any

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from ..errors import KeywordError
from ..ranking.authors import MAX_FOLLOW_CHARS, MAX_FOLLOWS, follow_problem
from ..ranking.hints import KeywordHint
from ..ranking.profile import normalize_keywords, parse_keyword, parse_profile
from ..model import Paper
from ..store import Store
from ..store.readers import FREQUENCIES, WEEKDAYS
from ..subscribers import valid_language
from .security import EMAIL_CSP, MAX_BODY
from .site import Site

MAX_KEYWORDS_TEXT = 2000
MAX_KEYWORDS = 50
MAX_ITEMS_LIMIT = 200
DAY_NAMES = dict(zip(WEEKDAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")))
VOTES = {"up": 1, "down": -1}
FOLLOWED = {"authors": "authors", "orgs": "labs"}  # form field -> what the page calls it


def routes(site: Site) -> list[Route]:
    return [
        Route("/unsubscribe/{token}", partial(unsubscribe_page, site), methods=["GET"]),
        Route("/unsubscribe/{token}", partial(unsubscribe, site), methods=["POST"]),
        Route("/preferences/{token}", partial(preferences_page, site), methods=["GET"]),
        Route("/preferences/{token}", partial(save_preferences, site), methods=["POST"]),
        Route("/feedback/{token}", partial(feedback_page, site), methods=["GET"]),
        Route("/feedback/{token}", partial(vote, site), methods=["POST"]),
        Route("/d/{token}", partial(view, site), methods=["GET"]),
    ]


async def form_of(site: Site, request: Request, reader: str | None = None) -> FormData:
    """The form, CSRF-checked: ``reader`` is whom the form's URL names (``digest.web.security.Csrf``)."""
    form = await request.form(max_files=0, max_fields=20, max_part_size=MAX_BODY)
    site.csrf.check(request, form.get("csrf"), reader)
    return form


# unsubscribe ------------------------------------------------------------------------

async def unsubscribe_page(site: Site, request: Request) -> Response:
    rid = site.rid_of("unsubscribe", request.path_params["token"])
    email = await site.email_of(rid)
    status = await site.in_store(lambda store: store.reader_status(email))
    return site.page(request, "unsubscribe.html", reader=rid, email=email, done=status == "unsubscribed",
                     links=site.links(rid))


async def unsubscribe(site: Site, request: Request) -> Response:
    """RFC 8058 one-click: any body (``List-Unsubscribe=One-Click``, a form, nothing) unsubscribes."""
    rid = site.rid_of("unsubscribe", request.path_params["token"])
    email = await site.find_email(rid)
    if email is None:  # removed from the list: nothing goes to them, and a mail app's one-click still succeeds
        return site.page(request, "unsubscribe.html", reader=rid, email="", done=True, gone=True,
                         links=site.links(rid))
    await site.in_store(lambda store: store.set_status(email, "unsubscribed", by="web"))
    return site.page(request, "unsubscribe.html", reader=rid, email=email, done=True, links=site.links(rid))


# preferences ----------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # in a form: a NUL, an escape... (not tab or line ends)
ALREADY_UNSUBSCRIBED = ('You unsubscribed already: no digests are sent. To get the digest again, choose "Send me '
                        'the digest" and save.')
SAVED = "Saved: your next digest uses these settings."
SAVED_PAUSED = "Saved, and paused: no digests until you resume. Your digest after that uses these settings."
STAY_UNSUBSCRIBED = "Saved, and you stay unsubscribed: you unsubscribed after this page was opened."  # (the page
# then says how to resume, as it does for every unsubscribed reader)


@dataclass
class Choices:
    """What the preferences form says, validated."""

    keywords: list[str]
    max_items: int | None
    frequency: str
    status: str
    authors: list[str]
    orgs: list[str]
    language: str = ""  # of the summaries; "" English


@dataclass(frozen=True)
class Room:
    """How many keywords, and characters of them, a page's form takes."""

    keywords: int = MAX_KEYWORDS
    chars: int = MAX_KEYWORDS_TEXT

    @classmethod
    def beside(cls, shown: str) -> Room:
        """The page's limits, or the keywords it shows if more: the subscribers file has no such limits, and a
        reader it gives 60 keywords could not save their page as shown (nor remove one)."""
        return cls(max(MAX_KEYWORDS, len(normalize_keywords(shown.splitlines()))), max(MAX_KEYWORDS_TEXT, len(shown)))


def form_keywords(text: str, room: Room = Room()) -> list[str]:
    """A form's keywords, one a line (preferences and sign-up), checked; a ``KeywordError`` says what is wrong.

    The length is counted as the page's box counts it (``maxlength``): a line break is one character,
    though a browser sends it as CR LF.
    """
    if len(text.replace("\r\n", "\n")) > room.chars:
        raise KeywordError(f"keywords are too long (at most {room.chars} characters)")
    if _CONTROL.search(text):
        raise KeywordError("a keyword has a control character in it (pasted from elsewhere?); type it as plain text")
    keywords = normalize_keywords(text.splitlines())
    if len(keywords) > room.keywords:
        raise KeywordError(f"too many keywords (at most {room.keywords})")
    parse_profile(keywords)
    return keywords


def parse_choices(form: FormData, room: Room = Room()) -> Choices:
    keywords = form_keywords(str(form.get("keywords", "")), room)
    raw_max = str(form.get("max_items", "")).strip()
    if raw_max and not (re.fullmatch(r"[0-9]{1,3}", raw_max) and 1 <= int(raw_max) <= MAX_ITEMS_LIMIT):
        raise KeywordError(f"papers per digest must be a whole number from 1 to {MAX_ITEMS_LIMIT}, or empty")
    frequency = str(form.get("frequency", "run"))
    status = str(form.get("status", "active"))
    if frequency not in FREQUENCIES or status not in ("active", "paused", "unsubscribed"):
        raise KeywordError("choose how often and whether to receive the digest from the lists")
    language = " ".join(str(form.get("language", "")).split())
    if language and not valid_language(language):
        raise KeywordError("the summaries' language must be a language name or tag, such as German or pt-BR "
                           "(letters, at most four words), or empty")
    return Choices(keywords, int(raw_max) if raw_max else None, frequency, status,
                   followed(form, "authors"), followed(form, "orgs"), language)


def followed(form: FormData, field: str) -> list[str]:
    """The authors or labs a reader follows, one a line (``digest.ranking.authors`` checks each)."""
    text = str(form.get(field, ""))
    if len(text) > MAX_FOLLOWS * (MAX_FOLLOW_CHARS + 2):
        raise KeywordError(f"too much text in followed {FOLLOWED[field]}")
    lines = list(dict.fromkeys(" ".join(line.split()) for line in text.splitlines() if line.strip()))
    if len(lines) > MAX_FOLLOWS:
        raise KeywordError(f"too many followed {FOLLOWED[field]} (at most {MAX_FOLLOWS})")
    for line in lines:
        problem = follow_problem(line, field)
        if problem is not None:
            raise KeywordError(f"followed {FOLLOWED[field]}: {problem}")
    return lines


def current(site: Site, store: Store, email: str) -> dict[str, Any]:
    """The reader's settings as the form shows them: their own, else the roster's."""
    state = store.reader_state(email)
    roster = site.roster.reader(email)
    keywords = state.keywords if state and state.keywords is not None else (roster.keywords if roster else ())
    max_items = state.max_items if state and state.max_items is not None else (roster.max_items if roster else None)
    authors = state.authors if state and state.authors is not None else (roster.authors if roster else ())
    orgs = state.orgs if state and state.orgs is not None else (roster.orgs if roster else ())
    language = state.language if state and state.language is not None else (roster.language if roster else None)
    return {"keywords": "\n".join(keywords), "max_items": shown_max(max_items),
            "frequency": state.frequency if state else "run", "status": state.status if state else "active",
            "authors": "\n".join(authors), "orgs": "\n".join(orgs), "language": language or ""}


def shown_max(max_items: int | None) -> str:
    """Papers per digest as the box shows it: empty for a number it does not take (the file's 0, no limit, or
    more than 200), which saving empty keeps (the box's placeholder says what applies)."""
    return str(max_items) if max_items is not None and 1 <= max_items <= MAX_ITEMS_LIMIT else ""


def default_max(site: Site, email: str) -> int:
    """What an empty box means: the file's ``max_items`` for this reader, else DIGEST_MAX_ITEMS (0: no limit)."""
    roster = site.roster.reader(email)
    return roster.max_items if roster and roster.max_items is not None else site.settings.max_items


def keyword_hints(store: Store, email: str, keywords: str) -> list[str]:
    """What the last send that ranked the reader found about their keywords that matched nothing.

    Stored by that run (``Store.save_keyword_hints``); a keyword the reader has
    since removed or changed is not mentioned (a new one is checked by the next send).
    """
    stored = store.keyword_hints_of(email)
    if stored is None:
        return []
    wanted = set()
    for item in normalize_keywords(keywords.splitlines()):
        try:
            wanted.add(parse_keyword(item).text)
        except KeywordError:
            continue
    hints = (KeywordHint.from_json(found) for found in stored[1])
    return [hint.sentence() for hint in hints if hint.keyword in wanted]


def preferences_response(site: Site, request: Request, rid: str, email: str, values: dict[str, Any],
                         status: int = 200, room: Room | None = None, **extra: Any) -> HTMLResponse:
    room = room or Room.beside(values["keywords"])
    return site.page(request, "preferences.html", status=status, reader=rid, email=email, values=values,
                     days=DAY_NAMES, default_max=default_max(site, email), links=site.links(rid),
                     hints=extra.pop("hints", []), keywords_chars=room.chars, **extra)


async def preferences_page(site: Site, request: Request) -> Response:
    rid = site.rid_of("preferences", request.path_params["token"])
    email = await site.email_of(rid)
    values = await site.in_store(lambda store: current(site, store, email))
    hints = await site.in_store(lambda store: keyword_hints(store, email, values["keywords"]))
    return preferences_response(site, request, rid, email, values, hints=hints)


async def save_preferences(site: Site, request: Request) -> Response:
    rid = site.rid_of("preferences", request.path_params["token"])
    email = await site.email_of(rid)
    form = await form_of(site, request, rid)
    stored = await site.in_store(lambda store: store.reader_status(email))
    if form.get("action") == "pause":
        if stored != "unsubscribed":  # a stale "Pause instead" after a one-click unsubscribe changes nothing
            await site.in_store(lambda store: store.set_status(email, "paused", by="web"))
        values = await site.in_store(lambda store: current(site, store, email))
        return preferences_response(site, request, rid, email, values, saved=(
            ALREADY_UNSUBSCRIBED if stored == "unsubscribed" else "Paused: no digests until you resume."))
    shown = await site.in_store(lambda store: current(site, store, email))
    room = Room.beside(shown["keywords"])
    try:
        choices = parse_choices(form, room)
    except KeywordError as err:
        values = {k: str(form.get(k, "")) for k in ("keywords", "max_items", "frequency", "status", "authors", "orgs",
                                                    "language", "shown_status")}  # shown: as first shown, still
        return preferences_response(site, request, rid, email, values, status=400, room=room, error=str(err))
    status = status_to_save(stored, str(form.get("shown_status", "")), choices.status)
    await site.in_store(lambda store: store.save_preferences(
        email, keywords=choices.keywords, max_items=choices.max_items, frequency=choices.frequency,
        status=status, authors=choices.authors, orgs=choices.orgs, language=choices.language))
    values = await site.in_store(lambda store: current(site, store, email))
    hints = await site.in_store(lambda store: keyword_hints(store, email, values["keywords"]))
    kept = status == "unsubscribed" != choices.status
    return preferences_response(site, request, rid, email, values, hints=hints,
                                saved=STAY_UNSUBSCRIBED if kept else SAVED_PAUSED if status == "paused" else SAVED)


def status_to_save(stored: str | None, shown: str, chosen: str) -> str:
    """The delivery status a preferences form sets, given the one it showed (``shown_status``).

    An unsubscribe that came after the page was shown (the mail app's one-click) is
    never undone by it: only a page that said "unsubscribed" can resume. A status
    changed elsewhere meanwhile stays when the form's choice is the one it showed.
    """
    if stored == "unsubscribed" and shown != "unsubscribed":
        return stored
    if stored is not None and shown and stored != shown and chosen == shown:
        return stored
    return chosen


# feedback ---------------------------------------------------------------------------------

def _vote_of(value: object) -> int:
    if value not in VOTES:
        raise HTTPException(400, "This feedback link is incomplete (it should end in ?vote=up or ?vote=down).")
    return VOTES[str(value)]


async def feedback_page(site: Site, request: Request) -> Response:
    rid, paper_id = site.pair_of("feedback", request.path_params["token"])
    vote = _vote_of(request.query_params.get("vote"))
    await site.email_of(rid)
    title = await site.in_store(lambda store: store.paper_title(paper_id))
    return site.page(request, "feedback.html", reader=rid, title=title or paper_id, vote=vote, recorded=False,
                     links=site.links(rid))


async def vote(site: Site, request: Request) -> Response:
    rid, paper_id = site.pair_of("feedback", request.path_params["token"])
    email = await site.email_of(rid)
    form = await form_of(site, request, rid)
    value = _vote_of(form.get("vote") or request.query_params.get("vote"))

    def record(store: Store) -> str:
        title = store.paper_title(paper_id)
        store.record_vote(email, Paper(id=paper_id, title=title or "", abstract=""), value)
        return title or paper_id

    title = await site.in_store(record)
    return site.page(request, "feedback.html", reader=rid, title=title, vote=value, recorded=True,
                     links=site.links(rid))


# view in browser --------------------------------------------------------------------------

async def view(site: Site, request: Request) -> Response:
    rid, day = site.pair_of("view", request.path_params["token"])
    email = await site.email_of(rid)
    html = await site.in_store(lambda store: _kept_page(site, store, email, day))
    if html is None:
        raise HTTPException(404, f"The digest of {day} is not kept any more (digests are kept "
                                 f"{site.keeping()}).")
    return HTMLResponse(html, headers={"content-security-policy": EMAIL_CSP})


def _kept_page(site: Site, store: Store, email: str, day: str) -> str | None:
    """The digest re-rendered from its record; else the HTML kept before records (until it expires)."""
    kept = store.kept_digest(email, day)
    return site.reprinter.page(kept) if kept is not None else store.archived(email, day)

