"""`digest serve`: the reader pages, served for real by uvicorn over a real SQLite file."""

from __future__ import annotations

import logging
import re
import socket
from datetime import date, datetime, timezone
from pathlib import Path

import httpx
import pytest
from itsdangerous import URLSafeSerializer

from digest.model import make_paper
from digest.readers import effective_readers, suppressed
from digest.subscribers import load_subscribers
from digest.tokens import Signer

from .web_server import ROSTER, SECRET, Web, csrf_of, running

MONDAY, TUESDAY = date(2026, 11, 23), date(2026, 11, 24)
ONE_CLICK = {"content": b"List-Unsubscribe=One-Click",
             "headers": {"content-type": "application/x-www-form-urlencoded"}}


@pytest.fixture
def web(tmp_path: Path):
    with running(tmp_path) as site:
        yield site


def readers_today(web: Web, day: date = MONDAY) -> dict[str, tuple[str, ...]]:
    roster = load_subscribers(web.settings.subscribers)  # type: ignore[arg-type]
    with web.store() as store:
        return {r.email: r.keywords for r in effective_readers(roster, store, day)}


# unsubscribe ------------------------------------------------------------------------------

def test_rfc8058_one_click_post_unsubscribes_for_good(web: Web) -> None:
    answer = httpx.post(web.links("ada@example.org").unsubscribe, **ONE_CLICK)
    assert answer.status_code == 200 and "You are unsubscribed" in answer.text
    assert web.status("ada@example.org") == "unsubscribed"
    assert list(readers_today(web)) == ["bob@example.org"]  # the roster file still lists ada: it cannot undo this
    with web.store() as store:
        assert suppressed(store, "ada@example.org") and not suppressed(store, "bob@example.org")


def test_an_empty_post_unsubscribes_too(web: Web) -> None:
    assert httpx.post(web.links("ada@example.org").unsubscribe).status_code == 200
    assert web.status("ada@example.org") == "unsubscribed"


def test_a_get_only_shows_the_button(web: Web) -> None:
    page = httpx.get(web.links("ada@example.org").unsubscribe)
    assert page.status_code == 200
    assert 'method="post"' in page.text and "Pause instead" in page.text and "Change my keywords" in page.text
    assert web.status("ada@example.org") is None


def _tampered(token: str) -> str:
    return token[:-2] + ("AA" if token[-2:] != "AA" else "BB")


def _foreign(web: Web) -> str:
    rid = web.links("ada@example.org").unsubscribe.rsplit("/", 1)[1].split(".")[0]
    return URLSafeSerializer("another-servers-secret-key", salt="digest.unsubscribe").dumps(rid)


@pytest.mark.parametrize("damage", ["tampered", "truncated", "foreign", "other purpose", "garbage"])
def test_a_bad_token_changes_nothing(web: Web, damage: str) -> None:
    links = web.links("ada@example.org")
    token = links.unsubscribe.rsplit("/", 1)[1]
    bad = {"tampered": _tampered(token), "truncated": token[: len(token) // 2], "foreign": _foreign(web),
           "other purpose": links.preferences.rsplit("/", 1)[1], "garbage": "%00%ff<script>"}[damage]
    answer = httpx.post(f"{web.url}/unsubscribe/{bad}", **ONE_CLICK)
    assert answer.status_code in (400, 404)
    assert "nothing was changed" in answer.text and "<script>" not in answer.text
    assert web.status("ada@example.org") is None


def test_a_one_click_for_a_reader_removed_from_everywhere_succeeds_and_says_they_are_not_on_the_list(web: Web) -> None:
    answer = httpx.post(web.links("nobody@example.org").unsubscribe, **ONE_CLICK)  # a mail app, on an old digest
    assert answer.status_code == 200 and "You are not on the list" in answer.text
    assert web.status("nobody@example.org") is None  # nothing stored for an address the list does not have


def test_the_unsubscribe_page_of_a_reader_removed_from_everywhere_says_so_with_404(web: Web) -> None:
    answer = httpx.get(web.links("nobody@example.org").unsubscribe)
    assert answer.status_code == 404 and "not on the list any more" in answer.text


def test_one_readers_links_act_on_that_reader_only(web: Web) -> None:
    with web.client() as client:
        links = web.links("ada@example.org", ("2401.00001",))
        page = client.get(links.preferences)
        client.post(links.preferences, data={"csrf": csrf_of(page.text), "keywords": "graphs", "frequency": "run",
                                             "status": "active", "max_items": ""})
        client.post(links.feedback["2401.00001"].up, data={"csrf": csrf_of(page.text), "vote": "up"})
        client.post(links.unsubscribe)
    assert "bob@example.org" not in page.text
    assert web.status("bob@example.org") is None and readers_today(web) == {"bob@example.org": ("diffusion",)}
    with web.store() as store:
        assert store.votes("bob@example.org") == [] and len(store.votes("ada@example.org")) == 1


# preferences ----------------------------------------------------------------------------

def save(web: Web, email: str, **form: str) -> httpx.Response:
    """The preferences form as a browser posts it: the page's hidden fields, and these."""
    with web.client() as client:
        link = web.links(email).preferences
        page = client.get(link).text
        shown = re.search(r'name="shown_status" value="([^"]*)"', page)
        fields = {"keywords": "", "max_items": "", "frequency": "run", "status": "active",
                  "shown_status": shown.group(1) if shown else "", **form}
        return client.post(link, data={"csrf": csrf_of(page), **fields})


def test_the_page_shows_the_roster_keywords_until_the_reader_changes_them(web: Web) -> None:
    page = httpx.get(web.links("bob@example.org").preferences)
    assert ">diffusion</textarea>" in page.text and 'value="3"' in page.text


def test_saved_preferences_change_what_the_next_send_uses(web: Web) -> None:
    answer = save(web, "ada@example.org", keywords="graph neural network*\n-survey", max_items="5", frequency="mon")
    assert answer.status_code == 200 and "Saved" in answer.text
    assert "graph neural network*\n-survey</textarea>" in answer.text
    roster = load_subscribers(web.settings.subscribers)  # type: ignore[arg-type]
    with web.store() as store:
        monday = {r.email: r for r in effective_readers(roster, store, MONDAY)}
        tuesday = [r.email for r in effective_readers(roster, store, TUESDAY, {"ada@example.org": MONDAY})]
    assert monday["ada@example.org"].keywords == ("graph neural network*", "-survey")
    assert monday["ada@example.org"].max_items == 5
    assert tuesday == ["bob@example.org"]  # weekly on Mondays, and Monday's went out


@pytest.mark.parametrize("file_max", [0, 500])  # 0: no limit; the file allows up to 10,000, the page 200
def test_the_page_as_shown_saves_for_a_reader_the_file_gives_more_papers_than_the_box_takes(web: Web,
                                                                                               file_max: int) -> None:
    web.settings.subscribers.write_text(  # type: ignore[union-attr]
        ROSTER + f'[[subscribers]]\nemail = "cy@example.org"\nkeywords = ["graphs"]\nmax_items = {file_max}\n')
    with web.client() as client:
        link = web.links("cy@example.org").preferences
        page = client.get(link).text
        shown = re.search(r'name="max_items"[^>]* value="([^"]*)"', page)
        assert shown is not None
        answer = client.post(link, data={"csrf": csrf_of(page), "keywords": "graphs\nprotein folding",
                                         "max_items": shown.group(1), "frequency": "run", "status": "active",
                                         "shown_status": "active"})
    assert answer.status_code == 200 and "Saved" in answer.text
    roster = load_subscribers(web.settings.subscribers)  # type: ignore[arg-type]
    with web.store() as store:
        [cy] = [r for r in effective_readers(roster, store, MONDAY) if r.email == "cy@example.org"]
    assert cy.keywords == ("graphs", "protein folding") and cy.max_items == file_max  # the file's, still


def test_a_reader_the_file_gives_more_keywords_than_the_page_takes_can_save_it_and_remove_some(web: Web) -> None:
    """The file has no limit on keywords; the page takes 50 in 2,000 characters, except what it shows."""
    many = [f"topic number {n} in graph representation learning" for n in range(60)]  # 2,869 characters
    web.settings.subscribers.write_text(  # type: ignore[union-attr]
        ROSTER + '[[subscribers]]\nemail = "cy@example.org"\nkeywords = [' + ", ".join(f'"{k}"' for k in many) + "]\n")
    with web.client() as client:
        link = web.links("cy@example.org").preferences
        page = client.get(link).text
        box = re.search(r'<textarea id="keywords"[^>]* maxlength="(\d+)"[^>]*>([^<]*)</textarea>', page)
        assert box is not None and int(box.group(1)) >= len(box.group(2)) > 2000  # the box takes what it shows
        form = {"csrf": csrf_of(page), "max_items": "", "frequency": "run", "status": "active", "shown_status": "active"}
        as_shown = client.post(link, data=form | {"keywords": box.group(2).replace("\n", "\r\n")})
        fewer = client.post(link, data=form | {"keywords": "\n".join(many[1:])})
        more = client.post(link, data=form | {"keywords": "\n".join(many[2:] + ["graphs", "proteins"])})
    assert as_shown.status_code == 200 and "Saved" in as_shown.text
    assert fewer.status_code == 200 and "Saved" in fewer.text
    assert more.status_code == 400 and "too many keywords (at most 59)" in more.text
    with web.store() as store:
        assert store.reader_state("cy@example.org").keywords == tuple(many[1:])  # type: ignore[union-attr]


def test_pausing_on_the_page_stops_the_digest(web: Web) -> None:
    answer = save(web, "ada@example.org", keywords="exploration", status="paused")
    assert web.status("ada@example.org") == "paused"
    assert list(readers_today(web)) == ["bob@example.org"]
    assert "Saved, and paused: no digests until you resume." in answer.text  # not "your next digest uses..."
    assert "your next digest uses these settings" not in answer.text


@pytest.mark.parametrize(("keywords", "error"), [
    ("-survey", "only exclusions given"),
    ('"world model', "unbalanced quote"),
    ("diffusion^x", "weight after ^ must be a number"),
    ("x" * 2001, "too long"),
    ("\x00graphs", "a keyword has a control character in it"),  # a NUL typed into a form, or pasted
])
def test_invalid_keywords_show_the_error_and_change_nothing(web: Web, keywords: str, error: str) -> None:
    answer = save(web, "ada@example.org", keywords=keywords)
    assert answer.status_code == 400 and error in answer.text
    assert web.status("ada@example.org") is None
    assert readers_today(web)["ada@example.org"] == ("reward model*", "exploration")


def test_keywords_that_fit_the_box_are_not_too_long_for_the_server(web: Web) -> None:
    """The box holds 2,000 characters, a line break counting one (maxlength); a browser sends each as CR LF."""
    lines = [f"topic {n:02d} " + "word " * 7 + "graph" for n in range(40)]  # 49 characters each
    assert len("\n".join(lines)) <= 2000 < len("\r\n".join(lines))
    answer = save(web, "ada@example.org", keywords="\r\n".join(lines))
    assert answer.status_code == 200 and "Saved" in answer.text
    assert readers_today(web)["ada@example.org"] == tuple(lines)


@pytest.mark.parametrize("max_items", ["-1", "0", "201", "9" * 5000, "٣", "1e3"])
def test_a_bad_max_items_is_refused(web: Web, max_items: str) -> None:
    answer = save(web, "ada@example.org", keywords="exploration", max_items=max_items)
    assert answer.status_code == 400 and "papers per digest" in answer.text
    assert web.status("ada@example.org") is None


def test_hostile_keywords_are_escaped_on_the_page(web: Web) -> None:
    answer = save(web, "ada@example.org", keywords="<script>alert`1`</script>")  # no (): a keyword refuses them
    assert answer.status_code == 200
    assert "<script>alert" not in answer.text and "&lt;script&gt;alert`1`&lt;/script&gt;" in answer.text


def test_unknown_form_choices_are_refused(web: Web) -> None:
    answer = save(web, "ada@example.org", keywords="exploration", frequency="hourly")
    assert answer.status_code == 400 and web.status("ada@example.org") is None


# CSRF, Host, headers, body cap ------------------------------------------------------------

@pytest.mark.parametrize("form", ["preferences", "feedback"])
def test_a_form_post_without_its_csrf_field_is_forbidden(web: Web, form: str) -> None:
    links = web.links("ada@example.org", ("2401.00001",))
    url = links.preferences if form == "preferences" else links.feedback["2401.00001"].up
    with web.client() as client:
        client.get(url)  # the cookie is there; the field is not
        answer = client.post(url, data={"keywords": "exploration", "vote": "up"})
        forged = client.post(url, data={"keywords": "exploration", "vote": "up", "csrf": "forged.value"})
    assert answer.status_code == forged.status_code == 403
    with web.store() as store:
        assert store.reader_state("ada@example.org") is None and store.votes("ada@example.org") == []


def test_two_links_opened_at_once_from_the_email_both_keep_working_forms(web: Web) -> None:
    """Two tabs opened together at the start of a browser session both go out without a cookie; the second
    answer's cookie replaces the first's, and the first tab's form must still be taken."""
    links = web.links("ada@example.org", ("2401.00001",))
    with web.client() as client:
        first = client.get(links.preferences).text
        client.cookies.clear()  # the second tab's request left before the first answer's cookie came
        second = client.get(links.feedback["2401.00001"].up).text
        saved = client.post(links.preferences, data={"csrf": csrf_of(first), "keywords": "graphs", "max_items": "",
                                                     "frequency": "run", "status": "active"})
        voted = client.post(links.feedback["2401.00001"].up, data={"csrf": csrf_of(second), "vote": "up"})
    assert saved.status_code == voted.status_code == 200
    assert readers_today(web)["ada@example.org"] == ("graphs",)


def test_a_form_field_made_for_another_reader_is_forbidden(web: Web) -> None:
    """A reader's page hands out a field good for that reader's forms only: bob's cannot change ada's."""
    ada, bob = web.links("ada@example.org").preferences, web.links("bob@example.org").preferences
    with web.client() as client:
        field = csrf_of(client.get(bob).text)
        answer = client.post(ada, data={"csrf": field, "keywords": "graphs", "frequency": "run", "status": "active"})
    assert answer.status_code == 403 and web.status("ada@example.org") is None


def test_a_sign_up_forms_field_is_not_taken_by_a_readers_form(web: Web) -> None:
    """It names a client, not the reader: only a field signed for the reader changes the reader's settings."""
    link = web.links("ada@example.org").preferences
    field = Signer(SECRET).dumps("csrf", ["client", "127.0.0.1", int(datetime.now(timezone.utc).timestamp())])
    answer = httpx.post(link, data={"csrf": field, "keywords": "graphs", "frequency": "run", "status": "active"})
    assert answer.status_code == 403 and web.status("ada@example.org") is None


def test_a_form_shown_before_reader_fields_existed_is_still_taken_with_its_cookie(web: Web) -> None:
    link = web.links("ada@example.org").preferences
    field = Signer(SECRET).dumps("csrf", "a-nonce")
    answer = httpx.post(link, data={"csrf": field, "keywords": "graphs", "frequency": "run", "status": "active"},
                        cookies={"digest_csrf": "a-nonce"})
    assert answer.status_code == 200 and readers_today(web)["ada@example.org"] == ("graphs",)


def test_a_csrf_cookie_with_letters_beyond_ascii_is_refused_not_a_server_error(web: Web) -> None:
    """A cookie may hold any byte (planted by a sibling subdomain over http, or mangled): a 403, never a 500."""
    link = web.links("ada@example.org").preferences
    field = Signer(SECRET).dumps("csrf", "a-nonce")  # a cookie's field, as a page open since before reader fields has
    answer = httpx.post(link, data={"csrf": field, "keywords": "graphs", "frequency": "run", "status": "active"},
                        headers={"cookie": "digest_csrf=\xe9t\xe9".encode("latin-1")})
    assert answer.status_code == 403 and "did not come from this site" in answer.text
    assert web.status("ada@example.org") is None


def test_another_host_name_gets_nothing(web: Web) -> None:
    """DNS rebinding: a page on evil.example that resolves to 127.0.0.1 never sees a reader's data."""
    link = web.links("ada@example.org").preferences
    answer = httpx.get(link, headers={"host": "evil.example"})
    assert answer.status_code in (400, 421)
    assert "ada@example.org" not in answer.text and "reward" not in answer.text
    assert httpx.post(web.links("ada@example.org").unsubscribe, headers={"host": "evil.example"}).status_code == 400
    assert web.status("ada@example.org") is None


@pytest.mark.parametrize("page", ["/", "preferences", "unsubscribe", "bad token", "missing", "/static/site.css"])
def test_every_response_has_the_security_headers(web: Web, page: str) -> None:
    links = web.links("ada@example.org")
    url = {"preferences": links.preferences, "unsubscribe": links.unsubscribe,
           "bad token": f"{web.url}/preferences/nope", "missing": f"{web.url}/nothing-here"}.get(page, web.url + page)
    headers = httpx.get(url).headers
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-content-type-options"] == "nosniff"
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp and "unsafe-inline" not in csp


def test_pages_use_a_static_stylesheet_and_no_script(web: Web) -> None:
    page = httpx.get(web.links("ada@example.org").preferences).text
    assert '<link rel="stylesheet" href="/static/site.css">' in page and "<script" not in page
    assert httpx.get(f"{web.url}/static/site.css").headers["content-type"].startswith("text/css")


def test_a_body_over_64_kb_is_refused(web: Web) -> None:
    answer = httpx.post(web.links("ada@example.org").preferences, content=b"k=" + b"x" * 70_000,
                        headers={"content-type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 413
    assert web.status("ada@example.org") is None


def test_a_chunked_body_over_64_kb_is_refused(web: Web) -> None:
    chunks = (b"x" * 8192 for _ in range(10))  # no Content-Length: counted as it arrives
    answer = httpx.post(web.links("ada@example.org").preferences, content=chunks,
                        headers={"content-type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 413


def test_a_client_that_disconnects_mid_request_is_not_an_error(web: Web, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    host, port = web.url.removeprefix("http://").split(":")
    for _ in range(3):
        with socket.create_connection((host, int(port))) as raw:
            raw.sendall(f"POST /preferences/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5000\r\n"
                        f"Content-Type: application/x-www-form-urlencoded\r\n\r\nkeywords=abc".encode())
    assert httpx.get(web.url + "/").status_code == 200
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# feedback and view in browser ---------------------------------------------------------------

def test_a_vote_is_recorded_with_the_paper_and_a_later_one_replaces_it(web: Web) -> None:
    paper = make_paper("Reward Models <script>for</script> RLHF", "We study reward models.", id="2401.00001")
    with web.store() as store:
        store.record_seen([paper])
    links = web.links("ada@example.org", (paper.id,))
    with web.client() as client:
        page = client.get(links.feedback[paper.id].up)
        assert page.status_code == 200 and "Reward Models &lt;script&gt;for&lt;/script&gt; RLHF" in page.text
        assert "Yes, more like this" in page.text
        up = client.post(links.feedback[paper.id].up, data={"csrf": csrf_of(page.text), "vote": "up"})
        down = client.post(links.feedback[paper.id].down, data={"csrf": csrf_of(page.text), "vote": "down"})
    assert "more" in up.text and "fewer" in down.text
    with web.store() as store:
        votes = store.votes("ada@example.org")
    assert [(v.paper_id, v.title, v.vote) for v in votes] == [("2401.00001", paper.title, -1)]


def test_a_feedback_get_records_nothing(web: Web) -> None:
    link = web.links("ada@example.org", ("2401.00001",)).feedback["2401.00001"].down
    assert httpx.get(link).status_code == 200
    assert httpx.get(link.replace("vote=down", "vote=sideways")).status_code == 400
    with web.store() as store:
        assert store.votes("ada@example.org") == []


def test_view_in_browser_is_the_html_as_sent(web: Web) -> None:
    html = "<!doctype html><html><body><h1>Today</h1><p style=\"color:red\">é</p></body></html>"
    with web.store() as store:
        store.archive("ada@example.org", "<m1@example.com>", datetime.now(timezone.utc).date(), html)  # DIGEST_TIMEZONE
    answer = httpx.get(web.links("ada@example.org").view)
    assert answer.status_code == 200 and answer.text == html
    assert "script" not in answer.headers["content-security-policy"]
    assert httpx.get(web.links("bob@example.org").view).status_code == 404  # bob's day has no copy


# the command --------------------------------------------------------------------------------

def test_serve_without_a_secret_key_says_how_to_make_one(run_cli) -> None:
    code, _, err = run_cli("serve")
    assert code == 1 and err.count("\n") == 1
    assert "DIGEST_SECRET_KEY" in err and "secrets.token_urlsafe(32)" in err


def test_check_and_send_want_a_secret_key_with_a_public_url(run_cli, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"DIGEST_PUBLIC_URL": "https://digest.example.org", "DIGEST_KEYWORDS": "diffusion",
                       "DIGEST_TO": "a@example.org", "DIGEST_FROM": "d@example.org", "DIGEST_SOURCE": "sample"}.items():
        monkeypatch.setenv(key, value)
    for argv in (("check", "--no-smtp"), ("send", "--dry-run")):
        code, _, err = run_cli(*argv)
        assert code == 1 and "DIGEST_SECRET_KEY" in err and "token_urlsafe" in err


def test_a_short_secret_key_is_refused_without_showing_it(run_cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_SECRET_KEY", "hunter2")
    code, _, err = run_cli("serve")
    assert code == 1 and "DIGEST_SECRET_KEY=***: too short" in err and "hunter2" not in err


def test_digest_serve_runs_the_pages_on_127_0_0_1(tmp_path: Path) -> None:
    import os
    import re
    import subprocess
    import sys

    from .smtp_server import free_port
    from .web_server import SECRET, make_settings

    port = free_port()
    settings = make_settings(tmp_path, port)
    env = {**os.environ, "DIGEST_SECRET_KEY": SECRET, "DIGEST_STATE_DB": str(settings.state_db),
           "DIGEST_SUBSCRIBERS": str(settings.subscribers), "DIGEST_PUBLIC_URL": settings.public_url}
    proc = subprocess.Popen([sys.executable, "-m", "digest", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert re.match(rf"reader pages at http://127\.0\.0\.1:{port}/", proc.stdout.readline())
        from digest.tokens import links_for

        answer = httpx.post(links_for(settings, "ada@example.org").unsubscribe, **ONE_CLICK)
        assert answer.status_code == 200
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert "Traceback" not in err and SECRET not in err and "/unsubscribe/" not in err  # no access log of tokens


def test_the_public_urls_host_name_is_answered_too(tmp_path: Path) -> None:
    with running(tmp_path, public_url="https://digest.example.org") as web:
        assert httpx.get(web.url + "/", headers={"host": "digest.example.org"}).status_code == 200
        assert httpx.get(web.url + "/", headers={"host": "localhost:8026"}).status_code == 200
        assert httpx.get(web.url + "/", headers={"host": "digest.example.org.evil.example"}).status_code == 400


@pytest.mark.slow
def test_an_idle_connection_is_closed(tmp_path: Path) -> None:
    import time

    from digest.web import make_app, start_in_thread
    from digest.web.connections import ConnectionLimits
    from digest.web.server import make_server

    from .smtp_server import free_port
    from .web_server import make_settings

    assert make_server(None).config.timeout_keep_alive == 5  # what digest serve keeps an idle connection open
    port = free_port()
    handle = start_in_thread(make_app(make_settings(tmp_path, port)), "127.0.0.1", port, ConnectionLimits(keep_alive=1))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=15) as raw:
            raw.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            received = b""
            while b"</html>" not in received:
                received += raw.recv(65536)
            assert received.startswith(b"HTTP/1.1 200")
            idle = time.monotonic()
            raw.settimeout(15)
            assert raw.recv(1024) == b""  # closed by the server after its keep-alive timeout (here 1 s)
            assert 0.8 < time.monotonic() - idle < 5
    finally:
        handle.stop()


# the links -------------------------------------------------------------------------------------

def test_links_name_the_reader_by_an_opaque_id_only(web: Web) -> None:
    import base64

    links = web.links("ada@example.org", ("2401.00001",))
    urls = [links.unsubscribe, links.preferences, links.view, links.feedback["2401.00001"].up]
    assert all(u.startswith(web.settings.public_url + "/") for u in urls)
    for url in urls:
        payload = url.rsplit("/", 1)[1].split(".")[0]
        decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        assert b"ada" not in decoded and b"example.org" not in decoded
    assert web.links("ada@example.org") == web.links("ADA@example.org ")  # stable per reader
    assert web.links("ada@example.org").unsubscribe != web.links("bob@example.org").unsubscribe


def test_a_feedback_token_cannot_be_used_as_an_unsubscribe_token(web: Web) -> None:
    token = web.links("ada@example.org", ("2401.00001",)).feedback["2401.00001"].up.split("/")[-1].split("?")[0]
    assert httpx.post(f"{web.url}/unsubscribe/{token}").status_code == 400
    assert web.status("ada@example.org") is None


def test_an_unsubscribed_reader_stays_so_unless_they_choose_to_resume(web: Web) -> None:
    httpx.post(web.links("ada@example.org").unsubscribe)
    page = httpx.get(web.links("ada@example.org").preferences).text
    assert 'value="unsubscribed" checked' in page and "You are unsubscribed" in page
    save(web, "ada@example.org", keywords="graphs", status="unsubscribed")
    assert web.status("ada@example.org") == "unsubscribed" and "ada@example.org" not in readers_today(web)
    save(web, "ada@example.org", keywords="graphs", status="active")
    assert readers_today(web)["ada@example.org"] == ("graphs",)


def test_a_form_opened_before_a_one_click_unsubscribe_cannot_undo_it(web: Web) -> None:
    with web.client() as client:  # the reader opens their preferences: "Send me the digest" is checked
        link = web.links("ada@example.org").preferences
        page = client.get(link).text
        assert 'name="shown_status" value="active"' in page
        httpx.post(web.links("ada@example.org").unsubscribe, data={"List-Unsubscribe": "One-Click"})  # the mail app
        answer = client.post(link, data={"csrf": csrf_of(page), "keywords": "graphs", "max_items": "",
                                         "frequency": "run", "status": "active", "shown_status": "active"})
        assert answer.status_code == 200 and "you stay unsubscribed" in answer.text
        assert 'value="unsubscribed" checked' in answer.text
        stale_pause = client.post(link, data={"csrf": csrf_of(page), "action": "pause"})  # the unsubscribe page's
        assert "You unsubscribed already" in stale_pause.text
    assert web.status("ada@example.org") == "unsubscribed" and "ada@example.org" not in readers_today(web)
    save(web, "ada@example.org", keywords="graphs", status="active")  # the page now says so: resuming is a choice
    assert readers_today(web)["ada@example.org"] == ("graphs",)


@pytest.mark.parametrize(("stored", "shown", "chosen", "saved"), [
    ("active", "active", "paused", "paused"),  # the reader's own change
    ("paused", "active", "active", "paused"),  # paused elsewhere meanwhile, the radio left as it was shown
    ("paused", "active", "paused", "paused"),
    ("active", "paused", "paused", "active"),  # resumed elsewhere meanwhile: the untouched "paused" would undo it
    ("active", "paused", "active", "active"),
    ("unsubscribed", "active", "active", "unsubscribed"),
    ("unsubscribed", "paused", "active", "unsubscribed"),
    ("unsubscribed", "", "active", "unsubscribed"),  # a form from before this field: never resumes
    ("unsubscribed", "unsubscribed", "active", "active"),  # the page said "unsubscribed": the reader resumes
    (None, "", "paused", "paused"),  # a roster reader's first save
])
def test_what_a_preferences_form_sets_when_the_status_changed_after_it_was_shown(stored, shown, chosen,
                                                                                   saved) -> None:
    from digest.web.pages import status_to_save

    assert status_to_save(stored, shown, chosen) == saved


def test_a_method_a_page_does_not_take_is_a_405_page_saying_which_it_takes(web: Web) -> None:
    answer = httpx.put(web.links("ada@example.org").unsubscribe)
    assert answer.status_code == 405 and "Not allowed" in answer.text
    assert set(answer.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "POST"}
    assert web.status("ada@example.org") is None


def test_the_secret_key_is_never_shown(web: Web) -> None:
    assert web.settings.secret_key not in repr(web.settings)
    assert web.settings.secret_key not in str(web.settings.summary())
    from digest import ConfigError, load_settings

    with pytest.raises(ConfigError) as raised:
        load_settings(environ={"DIGEST_SECRET_KEY": "hunter2", "DIGEST_PUBLIC_URL": "ftp://x"})
    assert "hunter2" not in str(raised.value) and "DIGEST_PUBLIC_URL='ftp://x'" in str(raised.value)


def test_keywords_typed_with_decomposed_accents_are_saved_composed(web: Web) -> None:
    """A keyword pasted as "o" and a combining diaeresis is kept as the "ö" the papers spell."""
    answer = save(web, "ada@example.org", keywords="Schro\u0308dinger bridge*\nZu\u0308rich")
    assert answer.status_code == 200 and "Saved" in answer.text
    with web.store() as store:
        state = store.reader_state("ada@example.org")
    assert state is not None and state.keywords == ("Schr\u00f6dinger bridge*", "Z\u00fcrich")
