"""Sign-up with double opt-in: a real aiosmtpd receives the confirmation, its link activates."""

from __future__ import annotations

import re
import sqlite3
from datetime import date
from pathlib import Path

import httpx
import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from starlette.exceptions import HTTPException

from digest.errors import ConfigError
from digest.readers import effective_readers
from digest.tokens import reader_id
from digest.web import make_app

from .smtp_server import free_port
from .web_server import SECRET, Web, csrf_of, make_settings, running


@pytest.fixture
def web(tmp_path: Path, server, inbox):
    with running(tmp_path, signup=True, smtp_host="127.0.0.1", smtp_port=server.port,
                 smtp_security="none") as site:
        yield site


def sign_up(web: Web, client: httpx.Client, email: str, keywords: str = "graph neural network*") -> httpx.Response:
    page = client.get(f"{web.url}/subscribe")
    return client.post(f"{web.url}/subscribe", data={"csrf": csrf_of(page.text), "email": email, "keywords": keywords})


def link_in(message) -> str:
    found = re.search(r"http://127\.0\.0\.1:\d+/\S+", message.get_content())
    assert found, message.get_content()
    return found.group(0)


def test_signup_is_404_unless_enabled(tmp_path: Path) -> None:
    with running(tmp_path) as web:
        assert httpx.get(f"{web.url}/subscribe").status_code == 404
        assert httpx.post(f"{web.url}/subscribe", data={"email": "a@example.org"}).status_code == 404


def test_sign_ups_without_a_sender_address_are_refused_at_start(tmp_path: Path) -> None:
    """A confirmation email needs a From (a send refuses to start without DIGEST_FROM too)."""
    settings = make_settings(tmp_path, free_port(), signup=True, from_addr="")
    with pytest.raises(ConfigError, match="DIGEST_FROM"):
        make_app(settings)


def test_the_confirmation_link_activates_the_reader(web: Web, inbox) -> None:
    with web.client() as client:
        answer = sign_up(web, client, "new@example.org", "graph neural network*\n-survey")
        assert answer.status_code == 200 and "Check your inbox" in answer.text
        assert web.status("new@example.org") == "pending"
        web.drain()
        [message] = inbox.to("new@example.org")
        assert message["From"] == "Digest <digest@example.com>"
        link = link_in(message)
        page = client.get(link)  # a mail scanner following the link confirms nothing
        assert web.status("new@example.org") == "pending"
        assert "<li>graph neural network*</li><li>-survey</li>" in page.text  # shown to the link's holder
        done = client.post(link, data={"csrf": csrf_of(page.text)})
    assert done.status_code == 200 and "You are subscribed" in done.text
    assert web.status("new@example.org") == "active"
    with web.store() as store:
        readers = effective_readers([], store, date.today())
    assert [(r.email, r.keywords) for r in readers] == [("new@example.org", ("graph neural network*", "-survey"))]


def confirmed(web: Web, client, inbox, email: str, keywords: str) -> str:
    """Sign ``email`` up and confirm it through the mailed link, as its owner does; the link."""
    sign_up(web, client, email, keywords)
    web.drain()
    link = link_in(inbox.to(email)[0])
    client.post(link, data={"csrf": csrf_of(client.get(link).text)})
    return link


def test_a_confirmation_link_opened_again_says_the_reader_is_subscribed_not_to_confirm(web: Web, inbox) -> None:
    """The back button after confirming, or the email's link clicked a second time."""
    with web.client() as client:
        link = confirmed(web, client, inbox, "new@example.org", "graph neural network*")
        again = client.get(link)
        with web.store() as store:
            store.set_status("new@example.org", "paused", by="web")
        paused = client.get(link)
    assert again.status_code == 200 and "<h1>You are subscribed</h1>" in again.text
    assert "Confirm your subscription" not in again.text and 'type="submit"' not in again.text
    assert "/preferences/" in again.text  # where to change keywords
    assert "paused" in paused.text and 'type="submit"' not in paused.text


def test_another_spelling_of_a_readers_gmail_mailbox_is_the_same_reader(web: Web, inbox) -> None:
    with web.client() as client:
        confirmed(web, client, inbox, "dan.smith@gmail.com", "diffusion")
        for spelling in ("DanSmith+papers@gmail.com", "dan.smith@googlemail.com"):
            assert sign_up(web, client, spelling, "robotics").status_code == 200
        web.drain()

    again = inbox.to("dan.smith@gmail.com")[1:]  # to the spelling the list knows: one mailbox
    assert [m["Subject"] for m in again] == ["Your paper digest subscription"] * 2  # "already receives it"
    assert inbox.to("DanSmith+papers@gmail.com") == [] == inbox.to("dan.smith@googlemail.com")
    with web.store() as store:
        readers = effective_readers([], store, date.today())
    assert [(r.email, r.keywords) for r in readers] == [("dan.smith@gmail.com", ("diffusion",))]


def test_the_confirmation_mail_carries_nothing_the_form_was_given(web: Web, inbox) -> None:
    lure = ["URGENT your account is suspended", "verify now at https://evil.example/login", "call 555 0100"]
    with web.client() as client:
        assert sign_up(web, client, "victim@example.org", "\n".join(lure)).status_code == 200
    web.drain()
    [message] = inbox.to("victim@example.org")
    text = message.get_content()
    assert not any(word in text for word in ("URGENT", "evil.example", "555")), text
    assert message["Subject"] == "Confirm your paper digest subscription"


def test_an_unconfirmed_reader_gets_nothing_and_expires_after_48_hours(web: Web) -> None:
    with web.client() as client:
        sign_up(web, client, "late@example.org")
    with web.store() as store:
        assert effective_readers([], store, date.today()) == []
    with sqlite3.connect(web.settings.state_db) as db:
        db.execute("UPDATE readers SET created = '2020-01-01T00:00:00+00:00'")
    with web.client() as client:
        sign_up(web, client, "other@example.org")  # any sign-up prunes the expired ones
    assert web.status("late@example.org") is None


def _same(page: str) -> str:
    return re.sub(r'name="csrf" value="[^"]+"', "", page)


def test_the_answer_is_the_same_for_a_new_and_a_known_address(web: Web, inbox) -> None:
    with web.client() as client:
        known = sign_up(web, client, "ada@example.org")
        new = sign_up(web, client, "fresh@example.org")
    web.drain()
    assert known.status_code == new.status_code == 200
    assert _same(known.text) == _same(new.text)
    assert web.status("ada@example.org") is None  # the roster reader's settings are untouched
    [note] = inbox.to("ada@example.org")
    assert "already receives" in note.get_content() and "/preferences/" in link_in(note)


def test_a_paused_reader_who_signs_up_again_is_told_the_digest_is_paused_and_how_to_resume(web: Web, inbox) -> None:
    with web.store() as store:
        store.set_status("ada@example.org", "paused", by="web")
    with web.client() as client:
        answer = sign_up(web, client, "Ada@Example.org")
    web.drain()
    assert "Check your inbox" in answer.text  # the page says what it says to anyone
    assert web.status("ada@example.org") == "paused"  # a visitor's form resumes nobody
    [note] = inbox.to("ada@example.org")
    assert "already receives" not in note.get_content()
    assert "paused" in note.get_content() and "resume" in note.get_content()
    assert "/preferences/" in link_in(note)


def test_a_flood_from_one_client_is_rate_limited(web: Web, inbox) -> None:
    with web.client() as client:
        answers = [sign_up(web, client, f"flood{n}@example.org").status_code for n in range(12)]
    assert answers[:10] == [200] * 10 and answers[10:] == [429, 429]
    web.drain()
    assert len(inbox.messages) == 10


def test_one_address_gets_at_most_three_mails_a_day(web: Web, inbox) -> None:
    with web.client() as client:
        answers = [sign_up(web, client, "again@example.org").status_code for _ in range(5)]
    assert answers == [200] * 5  # the same answer: nothing tells the visitor the limit was reached
    web.drain()
    assert len(inbox.to("again@example.org")) == 3


@pytest.mark.parametrize(("email", "keywords", "error"), [
    ("not-an-address", "diffusion", "does not look like an email address"),
    ("x@example.org\r\nBcc: victim@example.org", "diffusion", "does not look like an email address"),
    ("a" * 300 + "@example.org", "diffusion", "does not look like an email address"),
    ("b@example.org", "-survey", "only exclusions"),
    ("b@example.org", "<script>x</script>\n" * 200, "too long"),
    ("b@example.org", "diffusion\x1b[2J", "control character"),
])
def test_bad_signups_are_refused_with_a_reason(web: Web, inbox, email: str, keywords: str, error: str) -> None:
    with web.client() as client:
        answer = sign_up(web, client, email, keywords)
    assert answer.status_code == 400 and error in answer.text
    assert "<script>x" not in answer.text
    assert inbox.messages == [] and web.queued() == []


def test_signup_without_csrf_is_forbidden(web: Web, inbox) -> None:
    answer = httpx.post(f"{web.url}/subscribe", data={"email": "c@example.org", "keywords": "diffusion"})
    assert answer.status_code == 403 and inbox.messages == [] and web.queued() == []


def subscribe_form(web: Web, client: httpx.Client, page: str, email: str, **headers: str) -> httpx.Response:
    return client.post(f"{web.url}/subscribe", data={"csrf": csrf_of(page), "email": email, "keywords": "diffusion"},
                       headers=headers)


def test_two_sign_up_pages_opened_at_once_both_take_their_form(web: Web) -> None:
    """Both tabs' requests leave before either answer comes: no page sets a cookie for the other to replace."""
    with web.client() as client:
        first = client.get(f"{web.url}/subscribe")
        client.cookies.clear()  # the second tab's request left before the first answer
        second = client.get(f"{web.url}/subscribe")
        answers = [subscribe_form(web, client, page.text, f"{tab}@example.org")
                   for tab, page in (("first", first), ("second", second))]
    assert [answer.status_code for answer in answers] == [200, 200]
    assert web.status("first@example.org") == web.status("second@example.org") == "pending"
    assert "set-cookie" not in first.headers and "set-cookie" not in second.headers


def test_a_sign_up_field_fetched_by_another_client_is_refused(web: Web) -> None:
    """A page elsewhere can fetch the form from its own address; its visitors cannot post the field it got."""
    elsewhere = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=10)
    with elsewhere, web.client() as visitor:
        page = elsewhere.get(f"{web.url}/subscribe").text
        answer = subscribe_form(web, visitor, page, "victim@example.org")
    assert answer.status_code == 403 and web.status("victim@example.org") is None


def test_a_sign_up_the_browser_says_came_from_another_site_is_refused(web: Web) -> None:
    with web.client() as client:
        page = client.get(f"{web.url}/subscribe").text
        answer = subscribe_form(web, client, page, "victim@example.org", **{"sec-fetch-site": "cross-site"})
    assert answer.status_code == 403 and web.status("victim@example.org") is None


def test_a_sign_up_form_is_taken_for_a_day() -> None:
    from starlette.requests import Request

    from digest.tokens import Signer
    from digest.web.security import FORM_MAX_AGE, Csrf

    now = 1_767_225_600.0
    csrf = Csrf(Signer(SECRET), secure=False, clock=lambda: now)
    request = Request({"type": "http", "method": "POST", "headers": [], "client": ("192.0.2.7", 50000)})
    field = csrf.field(request)
    now += FORM_MAX_AGE
    csrf.check(request, field)
    now += 1
    with pytest.raises(HTTPException) as refused:
        csrf.check(request, field)
    assert refused.value.status_code == 403 and "reload the page" in refused.value.detail


def test_a_confirmation_link_with_a_damaged_token_does_nothing(web: Web, inbox) -> None:
    with web.client() as client:
        sign_up(web, client, "d@example.org")
        web.drain()
        link = link_in(inbox.to("d@example.org")[0])
        page = client.get(f"{web.url}/subscribe")
        answer = client.post(link[:-3], data={"csrf": csrf_of(page.text)})
    assert answer.status_code == 400 and web.status("d@example.org") == "pending"


class _TwoDaysAgo(TimestampSigner):
    def get_timestamp(self) -> int:
        return super().get_timestamp() - 49 * 3600


def test_a_confirmation_link_past_its_48_hours_says_it_expired_not_that_it_is_damaged(web: Web) -> None:
    with web.client() as client:
        sign_up(web, client, "late@example.org")
        late = URLSafeTimedSerializer(SECRET, salt="digest.confirm", signer=_TwoDaysAgo)
        token = late.dumps(reader_id(SECRET, "late@example.org"))
        page = client.get(f"{web.url}/subscribe")
        answer = client.post(f"{web.url}/confirm/{token}", data={"csrf": csrf_of(page.text)})
    assert answer.status_code == 400 and "expired" in answer.text and "sign up again" in answer.text
    assert "damaged" not in answer.text and web.status("late@example.org") == "pending"
