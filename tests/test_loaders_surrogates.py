"""A lone surrogate in a listing (valid JSON: ``"\\ud800"``) is one odd character, not a crash.

JSON may escape any UTF-16 code unit, so a title may hold half a surrogate pair, a code
point no UTF-8 encoder accepts. The loader replaces it with U+FFFD, and every command
that shows, records or mails the paper goes on: the other readers get their digests.
"""

from __future__ import annotations

import json
from datetime import date
from email.message import EmailMessage
from pathlib import Path

import pytest

from digest.model import Paper, make_paper
from digest.sources import FetchContext, FileSource

from . import http_server
from .http_server import Reply

BAD_TITLE = "Reward models for RLHF \ud800 with a broken character"
BAD_ABSTRACT = "Reward models trained on human preferences guide RLHF; the \ud800 is half a pair."
SHOWN = "Reward models for RLHF \ufffd with a broken character"
LISTING = [
    {"id": "2608.00001", "title": BAD_TITLE, "abstract": BAD_ABSTRACT, "authors": ["Ada \udfff Lovelace"],
     "url": "https://example.org/\ud800", "organization": "Lab \ud83d"},
    {"id": "2608.00002", "title": "Curiosity for exploration in grid worlds",
     "abstract": "Count-based exploration bonuses are enough for exploration in small grid worlds."},
]
SUBSCRIBERS = ('[[subscribers]]\nemail = "ada@example.org"\nkeywords = ["reward model", "RLHF"]\n\n'
               '[[subscribers]]\nemail = "bob@example.org"\nkeywords = ["exploration"]\n')


@pytest.fixture
def listing(tmp_path: Path) -> Path:
    path = tmp_path / "listing.json"
    path.write_text(json.dumps(LISTING), encoding="ascii")  # "\ud800" escaped, as a server sends it
    return path


@pytest.fixture
def readers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "subscribers.toml").write_text(SUBSCRIBERS, encoding="utf-8")
    for key, value in {"DIGEST_SUBSCRIBERS": "subscribers.toml", "DIGEST_FROM": "Digest <digest@example.com>",
                       "DIGEST_STATE_DB": str(tmp_path / "state.db"), "DIGEST_MIN_SCORE": "1"}.items():
        monkeypatch.setenv(key, value)


def test_a_lone_surrogate_becomes_the_replacement_character_in_every_field(listing: Path) -> None:
    paper = FileSource(listing).fetch(FetchContext(today=date(2026, 8, 13))).papers[0]

    assert paper.title == SHOWN
    assert paper.abstract == BAD_ABSTRACT.replace("\ud800", "\ufffd")
    assert paper.authors == ("Ada \ufffd Lovelace",)
    assert paper.url == "https://example.org/\ufffd" and paper.organization == "Lab \ufffd"
    _encodes(paper)


def test_a_surrogate_pair_written_as_two_escapes_is_the_character_it_stands_for() -> None:
    paper = make_paper("A smile \ud83d\ude00 in a title", "An abstract long enough to be one.")

    assert paper.title == "A smile \U0001f600 in a title"


def test_make_paper_takes_only_text_and_says_which_field_is_not() -> None:
    with pytest.raises(ValueError, match="title is a number, not text"):
        make_paper(12, "An abstract")  # type: ignore[arg-type]
    paper = make_paper("T", "A", id=7, authors=["Ada", 3], url=5, keywords=("ok", None))  # type: ignore[arg-type, list-item]
    assert paper.id.startswith("title:") is False and paper.id == "7"
    assert paper.authors == ("Ada",) and paper.url is None and paper.keywords == ("ok",)


def test_digest_papers_shows_the_paper_and_exits_0(run_cli, listing: Path) -> None:
    code, out, err = run_cli("papers", "--source", str(listing))

    assert code == 0, err
    assert "Traceback" not in err
    assert SHOWN in out


def test_digest_papers_json_prints_the_replacement_character(run_cli, listing: Path) -> None:
    code, out, err = run_cli("papers", "--source", str(listing), "--json")

    assert code == 0, err
    assert json.loads(out.splitlines()[0])["title"] == SHOWN


def test_digest_papers_over_http_shows_the_paper(run_cli, monkeypatch: pytest.MonkeyPatch) -> None:
    item = {"paper": {"id": "2608.00001", "title": BAD_TITLE, "summary": BAD_ABSTRACT,
                      "authors": [{"name": "Ada \udfff Lovelace"}]}}
    server = http_server.start()
    try:
        server.route("/api/daily_papers", Reply.json(json.dumps([item])))
        monkeypatch.setenv("DIGEST_HF_BASE_URL", server.url)

        code, out, err = run_cli("papers", "--source", "hf")
    finally:
        server.shutdown()
        server.server_close()

    assert code == 0, err
    assert SHOWN in out and "Traceback" not in err


def test_digest_send_dry_run_writes_every_readers_message(run_cli, listing: Path, readers, tmp_path: Path) -> None:
    code, out, err = run_cli("send", "--dry-run", "--source", str(listing), "--outbox", str(tmp_path / "out"))

    assert code == 0, err
    written = sorted((tmp_path / "out").glob("*.eml"))
    assert len(written) == 2
    assert any(SHOWN in _body(path.read_bytes()) for path in written)


def test_digest_send_delivers_every_readers_digest(run_cli, listing: Path, readers, server, inbox,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(server.port),
                       "DIGEST_SMTP_SECURITY": "none", "DIGEST_SMTP_TIMEOUT": "10"}.items():
        monkeypatch.setenv(key, value)

    code, out, err = run_cli("send", "--source", str(listing))

    assert code == 0, err
    assert "Traceback" not in err
    assert sorted(m["To"] for m in inbox.messages) == ["ada@example.org", "bob@example.org"]
    [ada] = inbox.to("ada@example.org")
    assert SHOWN in ada.get_body(("plain",)).get_content()
    assert SHOWN in ada.get_body(("html",)).get_content()


def _encodes(paper: Paper) -> None:
    for value in paper.to_json().values():
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str):
                text.encode("utf-8")


def _body(data: bytes) -> str:
    from email import message_from_bytes, policy

    message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def test_a_listing_file_name_that_is_not_utf8_cannot_stop_the_subject(tmp_path: Path) -> None:
    from digest.app import Digest
    from digest.model import Listing, Subscriber
    from digest.settings import load_settings

    name = str(tmp_path / "papers-\udcff.json")  # how the command line gives the byte 0xff
    digest = Digest(load_settings(None, {"DIGEST_FROM": "Digest <digest@example.com>"}))

    rendered = digest.render(Subscriber("ada@example.org", ("exploration",)), [],
                             listing=Listing(name, [make_paper("T", "A")]))

    (rendered.subject + rendered.text + rendered.html).encode("utf-8")
    assert "papers-\ufffd.json" in rendered.text
