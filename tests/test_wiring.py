"""The reader's side wired into the digest that is sent: links, headers, who gets mail, the archive.

Real parts throughout: aiosmtpd on 127.0.0.1 receives the digests, uvicorn serves
the reader pages over the same real SQLite file the send records into.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from digest.app import Digest
from digest.model import Subscriber
from digest.web.preview import Preview
from digest.sending import SendReport
from digest.sending.produce import Skipped, produce
from digest.store import Store
from digest.subscribers import load_subscribers
from digest.tokens import Signer, links_for, reader_id

from .web_server import SECRET, Web, csrf_of, running

ADA, BOB = "ada@example.org", "bob@example.org"
ONE_CLICK = {"content": b"List-Unsubscribe=One-Click",
             "headers": {"content-type": "application/x-www-form-urlencoded"}}
URL = re.compile(r"https?://[^\s<>\"]+")


@contextmanager
def site(tmp_path: Path, server, **changes: object) -> Iterator[Web]:
    """The reader pages on a free port, and settings that send to the test SMTP server."""
    with running(tmp_path, smtp_host="127.0.0.1", smtp_port=server.port, smtp_security="none",
                 smtp_timeout=5.0, min_score=1.0, source="sample", **changes) as web:
        yield web


@pytest.fixture
def web(tmp_path: Path, server) -> Iterator[Web]:
    with site(tmp_path, server) as running_site:
        yield running_site


def today() -> date:
    """Today in DIGEST_TIMEZONE (UTC here), as the send sees it."""
    return datetime.now(timezone.utc).date()


def send(web: Web, **kwargs: object) -> SendReport:
    roster = load_subscribers(web.settings.subscribers)  # type: ignore[arg-type]
    with Digest(web.settings) as app:
        return app.send(roster, **kwargs)  # type: ignore[arg-type]


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def urls(text: str) -> list[str]:
    return [u.replace("&amp;", "&").rstrip(".") for u in URL.findall(text)]


def header_links(message: EmailMessage) -> list[str]:
    return re.findall(r"<([^>]+)>", str(message["List-Unsubscribe"]))


# what the email carries -----------------------------------------------------------------------

def test_each_digest_carries_the_readers_own_links_in_both_parts(web: Web, inbox) -> None:
    send(web)
    for email in (ADA, BOB):
        [message] = inbox.to(email)
        text, html = parts(message)
        paper_ids = [u.rsplit("/", 1)[1] for u in urls(text) if u.startswith("https://arxiv.org/abs/")]
        links = links_for(web.settings, email, paper_ids)
        assert paper_ids, "the digest lists papers"
        for part in (text, html):
            assert links.unsubscribe in part and links.preferences in part and links.view in part
            for paper_id in paper_ids:
                assert links.feedback[paper_id].up in part and links.feedback[paper_id].down in part
        assert "View in your browser" in html and "More like this" in html and "Less like this" in html
        assert "your preferences" in html and "unsubscribe here" in html


def test_the_list_unsubscribe_headers_name_the_link_and_a_mailto(web: Web, inbox) -> None:
    send(web)
    [message] = inbox.to(ADA)
    assert header_links(message) == [links_for(web.settings, ADA).unsubscribe,
                                     "mailto:digest@example.com?subject=unsubscribe"]
    assert message["List-Unsubscribe-Post"] is None  # an http:// public URL: RFC 8058 One-Click needs https


def test_one_click_is_advertised_for_an_https_public_url(tmp_path: Path, server, inbox) -> None:
    with site(tmp_path, server, public_url="https://digest.example.org") as web:
        send(web)
    [message] = inbox.to(ADA)
    assert header_links(message)[0].startswith("https://digest.example.org/unsubscribe/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_one_readers_links_never_name_another(web: Web, inbox) -> None:
    send(web)
    ada_text, ada_html = parts(inbox.to(ADA)[0])
    signer = Signer(SECRET)
    named = set()
    for url in {u for u in urls(ada_text + ada_html) if u.startswith(web.url)}:
        kind, token = url.removeprefix(web.url).split("?")[0].strip("/").removesuffix("/all").split("/")
        purpose = {"d": "view", "archive": "preferences", "feed": "preferences"}.get(kind, kind)  # the preferences token
        named.add(signer.reader(purpose, token) if purpose in ("unsubscribe", "preferences")
                  else signer.pair(purpose, token)[0])
    assert named == {reader_id(SECRET, ADA)}
    assert links_for(web.settings, BOB).unsubscribe not in ada_text + ada_html
    assert httpx.post(header_links(inbox.to(ADA)[0])[0], **ONE_CLICK).status_code == 200
    assert web.status(ADA) == "unsubscribed" and web.status(BOB) is None


def test_a_less_like_this_link_records_the_vote_for_that_reader_only(web: Web, inbox) -> None:
    send(web)
    text, _ = parts(inbox.to(ADA)[0])
    less = next(u for u in urls(text) if u.endswith("?vote=down"))
    with web.client() as client:
        page = client.get(less)
        answer = client.post(less, data={"csrf": csrf_of(page.text), "vote": "down"})
    assert answer.status_code == 200
    with web.store() as store:
        assert [v.vote for v in store.votes(ADA)] == [-1] and store.votes(BOB) == []


# unsubscribing from the email ------------------------------------------------------------------

def test_one_click_from_the_header_unsubscribes_and_every_later_send_skips_the_reader(web: Web, inbox) -> None:
    send(web)
    answer = httpx.post(header_links(inbox.to(ADA)[0])[0], **ONE_CLICK)
    assert answer.status_code == 200 and web.status(ADA) == "unsubscribed"
    for kwargs in ({}, {"force": True}):
        report = send(web, **kwargs)
        assert report.skipped == {ADA: "unsubscribed"}
        assert "skipped 1 (1 unsubscribed)" in report.summary()
    assert len(inbox.to(ADA)) == 1 and len(inbox.to(BOB)) == 2  # bob's second copy: the --force


def test_a_get_on_the_unsubscribe_link_changes_nothing(web: Web, inbox) -> None:
    send(web)
    assert httpx.get(header_links(inbox.to(ADA)[0])[0]).status_code == 200
    assert web.status(ADA) is None
    assert ADA in send(web, force=True).sent


# who gets mail ------------------------------------------------------------------------------

def test_paused_and_not_due_readers_get_nothing_and_the_report_says_why(web: Web, inbox) -> None:
    tomorrow = (today() + timedelta(days=1)).strftime("%a").lower()
    with web.store() as store:
        store.set_status(ADA, "paused", by="web")
        store.save_preferences(BOB, keywords=["diffusion"], max_items=None, frequency=tomorrow, status="active")
        store.record_sent(BOB, "<earlier@example.org>", [])  # this week's digest went out: next one tomorrow
    report = send(web, force=True)
    assert report.sent == [] and inbox.messages == []
    assert report.skipped == {ADA: "paused", BOB: f"weekly on {tomorrow.capitalize()}"}
    assert f"1 weekly on {tomorrow.capitalize()}: {BOB}" in report.summary()


def test_keywords_and_papers_per_digest_from_the_web_win_over_the_file(web: Web, inbox) -> None:
    with web.store() as store:
        store.save_preferences(BOB, keywords=["exploration", "reward model*"], max_items=1, frequency="run",
                               status="active")
    send(web)
    text, html = parts(inbox.to(BOB)[0])
    assert "Diffusion Policies" not in text and "follows: exploration, reward model…" in text
    assert "The best 1 of" in text  # max_items 1 from the web, and the count of all that matched


def test_a_confirmed_web_sign_up_gets_the_next_digest(web: Web, inbox) -> None:
    carol = "carol@example.net"
    with web.store() as store:
        assert store.request_signup(carol, reader_id(SECRET, carol), ["world model*"])
    send(web)
    assert inbox.to(carol) == []  # pending: nothing until the link is followed
    with web.store() as store:
        assert store.confirm_signup(carol)
    send(web)
    [message] = inbox.to(carol)
    assert "World Models for Robot Manipulation" in parts(message)[0]


def test_subscriber_option_sends_to_that_reader_only_not_the_sign_ups(web: Web, inbox) -> None:
    with web.store() as store:
        store.request_signup("carol@example.net", "x", ["world model*"])
        store.confirm_signup("carol@example.net")
    roster = [r for r in load_subscribers(web.settings.subscribers) if r.email == BOB]  # type: ignore[arg-type]
    Digest(web.settings).send(roster, only=BOB)
    assert [m["To"] for m in inbox.messages] == [BOB]


def test_an_unsubscribe_that_arrives_mid_send_stops_every_message_built_after_it(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    app = Digest(settings)
    readers = [Subscriber(f"r{n}@example.org", ("reward model*",)) for n in range(3)]
    with Store.open(settings.state_db) as store:
        listing = app.load_listing("sample")
        with closing(produce(app, listing, readers, {}, store=store)) as produced:
            first = next(produced)
            store.set_status("r2@example.org", "unsubscribed", by="web")
            rest = list(produced)
    assert first[1] is not None and not isinstance(first[1], Skipped)
    assert [type(item).__name__ for _, item in rest] == ["Outgoing", "Skipped"]


def test_a_send_that_claims_readers_ranks_only_those(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On PostgreSQL a send builds the readers it claimed (batches of positions); the readers in
    between are other sends' and are not even scored ahead."""
    import importlib

    producing = importlib.import_module("digest.sending.produce")  # the module (the package exports its function)
    scored: list[str] = []
    real = producing.batched
    monkeypatch.setattr(producing, "batched", lambda app, reader, *rest: scored.append(reader.email) or
                        real(app, reader, *rest))
    settings = _settings(tmp_path)
    app = Digest(settings)
    readers = [Subscriber(f"r{n}@example.org", ("reward model*",)) for n in range(8)]
    with Store.open(settings.state_db) as store:
        listing = app.load_listing("sample")
        built = [reader.email for reader, _ in produce(app, listing, readers, {}, store=store,
                                                        batches=[[0, 1], [5, 6]])]  # type: ignore[arg-type]
    assert built == ["r0@example.org", "r1@example.org", "r5@example.org", "r6@example.org"]
    assert sorted(scored) == built


def test_the_forked_builder_asks_the_store_on_its_own_connection(tmp_path: Path) -> None:
    """200 readers: built by a forked child, which opens the store itself after the fork."""
    from digest.ranking.many import fork_is_safe
    from digest.sending.produce import PRODUCER_MIN

    if not fork_is_safe():
        pytest.skip("another test left a thread running: this process cannot fork safely")
    settings = _settings(tmp_path)
    app = Digest(settings)
    readers = [Subscriber(f"r{n}@example.org", ("reward model*",)) for n in range(PRODUCER_MIN)]
    last = readers[-1].email
    with Store.open(settings.state_db) as store:
        listing = app.load_listing("sample")
        with closing(produce(app, listing, readers, {}, store=store)) as produced:
            next(produced)  # the child is at most a queue's length (64) ahead of this
            store.set_status(last, "unsubscribed", by="web")
            rest = {reader.email: item for reader, item in produced}
    assert isinstance(rest[last], Skipped) and rest[last].status == "unsubscribed"
    assert sum(isinstance(item, Skipped) for item in rest.values()) == 1


def _settings(tmp_path: Path):
    from .web_server import make_settings

    return replace(make_settings(tmp_path, 8026), min_score=1.0)


# the archive and "view in browser" ----------------------------------------------------------------

def without_view_link(html: str) -> str:
    """The email's HTML as its "view in browser" page shows it: without the line linking to that page."""
    line = re.search(r'<tr><td[^>]*><div[^>]*><a href="[^"]*/d/[^"]*"[^>]*>View in your browser</a></div></td></tr>',
                     html)
    assert line, "the email has its view in browser link"
    return html.replace(line.group(), "")


def test_view_in_browser_shows_exactly_the_html_the_server_received(web: Web, inbox) -> None:
    """Less its "View in your browser" line: on that page it would open the page itself."""
    send(web)
    for email in (ADA, BOB):
        text, html = parts(inbox.to(email)[0])
        view = next(u for u in urls(text) if "/d/" in u)
        page = httpx.get(view)
        assert page.status_code == 200
        assert page.text.replace("\r\n", "\n") == without_view_link(html.replace("\r\n", "\n"))
        assert page.headers["content-security-policy"].startswith("default-src 'none'")


def test_an_archive_that_fails_costs_the_copy_not_the_delivery(web: Web, inbox, caplog) -> None:
    with web.store() as store:
        store.db.execute("CREATE TRIGGER no_room BEFORE INSERT ON archive_records "
                         "BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    report = send(web)
    assert sorted(report.sent) == [ADA, BOB] and not report.incomplete
    with web.store() as store:
        assert [status for _, status in store.message_status(ADA)] == ["sent"]
        assert store.archived(ADA, today().isoformat()) is None
    assert "not archived" in caplog.text
    assert len(send(web).already_today) == 2  # recorded: the next run sends nothing again


def test_without_a_public_url_the_digest_has_no_links_and_is_not_archived(tmp_path: Path, server, inbox) -> None:
    with site(tmp_path, server) as web:
        plain = replace(web.settings, public_url="")
        with Digest(plain) as app:
            app.send(load_subscribers(plain.subscribers))  # type: ignore[arg-type]
        with web.store() as store:
            assert store.archived(ADA, today().isoformat()) is None
    text, html = parts(inbox.to(ADA)[0])
    assert "/feedback/" not in text + html and "/preferences/" not in text + html
    assert inbox.to(ADA)[0]["List-Unsubscribe"] == "<mailto:digest@example.com?subject=unsubscribe>"


def test_the_public_url_wins_over_the_old_unsubscribe_url(web: Web, inbox) -> None:
    old = replace(web.settings, unsubscribe_url="https://old.example.org/u")
    with Digest(old) as app:
        app.send(load_subscribers(old.subscribers))  # type: ignore[arg-type]
    assert header_links(inbox.to(ADA)[0])[0] == links_for(old, ADA).unsubscribe
    assert "old.example.org" not in parts(inbox.to(ADA)[0])[1]


# the preview is what is sent ---------------------------------------------------------------------

def test_the_preview_shows_the_same_signed_links(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    reader = Subscriber(ADA, ("reward model*", "exploration"), max_items=2)
    with Digest(settings) as app:
        preview = Preview(app, reader, source="sample")
        html, text = preview.rendered().html, preview.rendered().text
    links = links_for(settings, ADA, [p.paper.id for p in preview.picks])
    assert links.preferences in html and links.unsubscribe in text and links.view in html
    assert all(f.up in html and f.down in text for f in links.feedback.values())
    assert "Sample papers" in text and "The best 2 of" in text  # the listing and the total, as sent


# the email's size and its golden files with links ---------------------------------------------------

LINKED = {"DIGEST_FROM": "Digest <digest@example.com>", "DIGEST_PUBLIC_URL": "https://digest.example.org",
          "DIGEST_SECRET_KEY": SECRET}


def test_a_hundred_picks_with_links_stay_under_gmails_clip_limit() -> None:
    from .test_render import READER, app, picks_for
    from digest.model import make_paper

    abstract = ("exploration " + "lorem ipsum dolor sit amet consectetur " * 60)[:2000]
    papers = [make_paper(f"Exploration paper {i}: a long and realistic title about curiosity-driven agents",
                         abstract, id=f"2608.{10000 + i}") for i in range(100)]
    digest = app(**LINKED)
    picks = picks_for(papers)
    rendered = digest.render(READER, picks, day=date(2026, 8, 13))
    _, raw = digest.build(READER, rendered)
    assert len(raw) < 102_000
    assert rendered.shown >= 20 and rendered.shown + rendered.overflow == 100
    from email import message_from_bytes, policy

    parts = [part.get_content() for part in message_from_bytes(raw, policy=policy.default).walk()
             if part.get_content_maintype() == "text"]  # decoded: a quoted-printable soft break may split a link
    assert [part.count("/feedback/") for part in parts] == [2 * rendered.shown] * 2  # up and down, in both parts


@pytest.mark.parametrize("part", ["text", "html"])
def test_golden_files_with_links(part: str) -> None:
    """The digest as a reader with DIGEST_PUBLIC_URL gets it (tokens are deterministic for one key)."""
    import os

    from .test_render import DAY, GOLDEN, READER, app, fixture_papers, picks_for
    from digest.model import Listing

    papers = fixture_papers()
    rendered = app(**LINKED).render(READER, picks_for(papers), day=DAY, listing=Listing("hf", papers), sent_on=DAY)
    golden = GOLDEN / f"digest-links.{part}"
    actual = getattr(rendered, part)
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(actual)
    assert actual == golden.read_text()


def env_file(web: Web) -> Path:
    """The running site's settings as a .env file, for the command line."""
    settings = web.settings
    env = web.settings.state_db.parent / "digest.env"
    env.write_text("\n".join([
        f"DIGEST_SUBSCRIBERS={settings.subscribers}", f"DIGEST_STATE_DB={settings.state_db}",
        "DIGEST_SOURCE=sample", "DIGEST_FROM=Digest <digest@example.com>", "DIGEST_MIN_SCORE=1",
        "DIGEST_SMTP_HOST=127.0.0.1", f"DIGEST_SMTP_PORT={settings.smtp_port}", "DIGEST_SMTP_SECURITY=none",
        f"DIGEST_PUBLIC_URL={settings.public_url}", f"DIGEST_SECRET_KEY={settings.secret_key}", ""]))
    return env


def test_digest_send_on_the_command_line_skips_an_unsubscribed_reader_even_with_force(web: Web, inbox,
                                                                                      run_cli) -> None:
    env = env_file(web)
    assert run_cli("--env-file", str(env), "send")[0] == 0
    assert httpx.post(header_links(inbox.to(ADA)[0])[0], **ONE_CLICK).status_code == 200
    for args in (["send"], ["send", "--force"]):
        code, out, err = run_cli("--env-file", str(env), *args)
        assert code == 0 and "skipped 1 (1 unsubscribed)" in out, out + err
    assert len(inbox.to(ADA)) == 1 and len(inbox.to(BOB)) == 2


def test_send_subscriber_reaches_a_reader_who_signed_up_on_the_web(web: Web, inbox, run_cli) -> None:
    with web.store() as store:
        store.request_signup("carol@example.net", "x", ["world model*"])
        store.confirm_signup("carol@example.net")
    code, out, err = run_cli("--env-file", str(env_file(web)), "send", "--subscriber", "carol@example.net")
    assert code == 0, out + err
    assert [m["To"] for m in inbox.messages] == ["carol@example.net"]


def test_send_subscriber_names_an_unknown_reader_in_one_line(web: Web, inbox, run_cli) -> None:
    code, out, err = run_cli("--env-file", str(env_file(web)), "send", "--subscriber", "nobody@example.net")
    assert code == 1 and err.strip() == (
        "digest: error: no subscriber nobody@example.net in the configured readers or the web sign-ups")
    assert inbox.messages == []
