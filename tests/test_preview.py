"""`digest preview` served on 127.0.0.1 and loaded in real headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from html import escape
from pathlib import Path

import pytest

from .conftest import FIXTURES
from .faketime_plugin import real_clock
from .smtp_server import free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).parent / "artifacts"
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"), reason="Debian chromium not installed (.ci/run installs it)"
)
MEASURE = """<script>
window.addEventListener('load', () => {
  const titles = [...document.querySelectorAll('.paper-title a')].map(a => {
    const r = a.getBoundingClientRect();
    return {text: a.textContent.trim(), visible: r.width > 0 && r.height > 0 && r.right <= innerWidth + 1};
  });
  const out = document.createElement('pre');
  out.id = 'measure';
  out.textContent = JSON.stringify({scrollWidth: document.documentElement.scrollWidth, innerWidth, titles});
  parent.document.body.appendChild(out);
});
</script>"""


@pytest.fixture
def preview(tmp_path: Path):
    port = free_port()
    env = {**os.environ, "DIGEST_KEYWORDS": "exploration, reward model", "DIGEST_TO": "ada@example.org",
           "DIGEST_FROM": "digest@example.com", "DIGEST_MIN_SCORE": "1", "DIGEST_STATE_DB": str(tmp_path / "s.db")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "digest", "preview", "--no-browser", "--port", str(port),
         "--source", str(FIXTURES / "hf_api.json")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    line = proc.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:\d+/", line)
    assert match, line + proc.stderr.read()
    yield match.group(0)
    proc.terminate()
    _, err = proc.communicate(timeout=10)
    assert "Traceback" not in err and "Exception" not in err  # hung-up clients, bad hosts: no tracebacks


def chromium(*args: str, profile: Path) -> str:
    assert CHROMIUM, "chromium is required in CI"
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run", "--disable-sync", f"--user-data-dir={profile}", *args]
    with real_clock():  # the instrument, not the code under test: Chromium hangs under libfaketime
        return subprocess.run(command, capture_output=True, text=True, timeout=90).stdout


def test_preview_serves_exactly_what_is_sent(preview: str) -> None:
    html = urllib.request.urlopen(preview).read().decode()
    text = urllib.request.urlopen(preview + "text").read().decode()
    eml = urllib.request.urlopen(preview + "eml").read()
    assert "Reward Models for RLHF" in html and "Reward Models for RLHF" in text
    assert eml.startswith(b"From: ") and b"Message-ID: <" in eml


@needs_chromium
@pytest.mark.parametrize("width", [375, 1280])
def test_titles_visible_and_no_horizontal_overflow(preview: str, width: int, tmp_path: Path) -> None:
    html = urllib.request.urlopen(preview).read().decode()
    page = tmp_path / "measured.html"
    # Headless windows are at least 500 px wide: a same-origin srcdoc iframe gives the
    # email a true 375 px viewport (its media queries see that width too).
    inner = escape(html.replace("</body>", MEASURE + "</body>"), quote=True)
    page.write_text(f'<html><body style="margin:0"><iframe style="width:{width}px;height:900px;border:0" '
                    f'srcdoc="{inner}"></iframe></body></html>')
    dom = chromium("--window-size=1400,1000", "--virtual-time-budget=5000", "--dump-dom", page.as_uri(), profile=tmp_path / "p1")
    found = re.search(r'<pre id="measure">(.*?)</pre>', dom, re.S)
    assert found, dom[-500:]
    measured = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert measured["innerWidth"] == width
    assert measured["scrollWidth"] <= width
    titles = [t["text"] for t in measured["titles"] if t["visible"]]
    assert any("Reward Models for RLHF" in t for t in titles)
    assert len(titles) == len(measured["titles"]) >= 2
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"preview-{width}.png"
    chromium(f"--window-size={width},1400", f"--screenshot={shot}", preview, profile=tmp_path / "p2")
    assert shot.stat().st_size > 1000


def test_preview_answers_only_its_own_host_names(preview: str) -> None:
    """DNS rebinding: a page on another name resolving to 127.0.0.1 must not read the reader's digest."""
    import http.client

    host, port = preview.removeprefix("http://").rstrip("/").split(":")
    for name, expected in (("evil.example", 400), (f"evil.example:{port}", 400), (f"localhost:{port}", 200),
                           (f"127.0.0.1:{port}", 200)):
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection.request("GET", "/", headers={"Host": name})
        answer = connection.getresponse()
        body = answer.read().decode()
        connection.close()
        assert answer.status == expected, name
        if expected == 400:
            assert "Reward Models" not in body and "ada@example.org" not in body


def test_preview_pages_carry_the_security_headers(preview: str) -> None:
    answer = urllib.request.urlopen(preview)
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert "script-src" not in answer.headers["Content-Security-Policy"]


def test_preview_survives_clients_that_hang_up(preview: str) -> None:
    import socket

    host, port = preview.removeprefix("http://").rstrip("/").split(":")
    for _ in range(5):
        with socket.create_connection((host, int(port))) as raw:
            raw.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")  # and hang up before reading
    assert b"Reward Models for RLHF" in urllib.request.urlopen(preview).read()


def test_preview_output_writes_the_html_and_exits(run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"DIGEST_KEYWORDS": "exploration, reward model", "DIGEST_TO": "ada@example.org",
                       "DIGEST_FROM": "digest@example.com", "DIGEST_MIN_SCORE": "1"}.items():
        monkeypatch.setenv(key, value)
    code, out, _ = run_cli("preview", "--source", str(FIXTURES / "hf_api.json"), "--output", "out.html")
    html = (tmp_path / "out.html").read_text()
    assert code == 0 and out.startswith("wrote out.html") and "Reward Models for RLHF" in html



def test_preview_says_which_keywords_matched_nothing_as_the_email_does(run_cli, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The send puts a note in the email for a keyword no paper matched; the preview showed the email without it."""
    for key, value in {"DIGEST_KEYWORDS": "exploration, zebrafish", "DIGEST_TO": "ada@example.org",
                       "DIGEST_FROM": "digest@example.com", "DIGEST_MIN_SCORE": "1"}.items():
        monkeypatch.setenv(key, value)
    code, _, _ = run_cli("preview", "--source", str(FIXTURES / "hf_api.json"), "--output", "out.html")
    html = (tmp_path / "out.html").read_text()
    assert code == 0 and "Note: “zebrafish” matched nothing in today&#39;s listing" in html


@pytest.mark.parametrize("given, follows", [(("--keywords", "exploration"), "exploration"), ((), "reward model")])
def test_preview_keywords_win_over_the_readers_own_from_the_web(run_cli, tmp_path, monkeypatch, given, follows):
    """``--keywords`` previews those keywords, as rank ranks them; without it, what DIGEST_TO's reader chose
    on the preferences page wins, as in the send."""
    from digest.store import Store

    for key, value in {"DIGEST_KEYWORDS": "curiosity", "DIGEST_TO": "ada@example.org", "DIGEST_MIN_SCORE": "1",
                       "DIGEST_FROM": "digest@example.com", "DIGEST_STATE_DB": str(tmp_path / "s.db")}.items():
        monkeypatch.setenv(key, value)
    with Store.open(tmp_path / "s.db") as store:
        store.save_preferences("ada@example.org", keywords=["reward model"], max_items=None, frequency="run",
                               status="active")

    code, _, err = run_cli("preview", "--source", "sample", *given, "--output", "out.html")

    assert code == 0, err
    assert f"follows: {follows}." in (tmp_path / "out.html").read_text(encoding="utf-8")


def test_preview_re_renders_when_a_template_changes(tmp_path: Path) -> None:
    from digest.render import bundled_templates

    templates = tmp_path / "templates"
    shutil.copytree(bundled_templates(), templates)
    port = free_port()
    env = {**os.environ, "DIGEST_KEYWORDS": "reward model", "DIGEST_TO": "ada@example.org",
           "DIGEST_FROM": "digest@example.com", "DIGEST_MIN_SCORE": "1", "DIGEST_STATE_DB": str(tmp_path / "s.db"),
           "DIGEST_TEMPLATES_DIR": str(templates)}
    proc = subprocess.Popen([sys.executable, "-m", "digest", "preview", "--no-browser", "--port", str(port),
                             "--source", str(FIXTURES / "hf_api.json")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = re.search(r"http://127\.0\.0\.1:\d+/", proc.stdout.readline()).group(0)
        assert "EDITED" not in urllib.request.urlopen(url + "text").read().decode()
        text = templates / "digest.txt.j2"
        text.write_text(text.read_text() + "\nEDITED\n")
        later = text.stat().st_mtime + 2
        os.utime(text, (later, later))
        assert "EDITED" in urllib.request.urlopen(url + "text").read().decode()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert "Traceback" not in err


def test_preview_keywords_for_a_reader_of_the_subscribers_file(run_cli, tmp_path, monkeypatch) -> None:
    """``--keywords K --subscriber EMAIL`` previews K for that reader, as rank ranks K with their votes; it
    said "no subscriber bob@example.org in the configured readers" for anyone but DIGEST_TO."""
    (tmp_path / "subs.toml").write_text('[[subscribers]]\nemail = "bob@example.org"\nkeywords = ["curiosity"]\n')
    for key, value in {"DIGEST_SUBSCRIBERS": str(tmp_path / "subs.toml"), "DIGEST_MIN_SCORE": "1",
                       "DIGEST_FROM": "digest@example.com", "DIGEST_STATE_DB": str(tmp_path / "s.db")}.items():
        monkeypatch.setenv(key, value)

    code, _, err = run_cli("preview", "--source", "sample", "--keywords", "reward model",
                           "--subscriber", "bob@example.org", "--output", "out.html")

    assert code == 0, err
    assert "follows: reward model." in (tmp_path / "out.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("send_empty, said", [("false", True), ("true", False)])
def test_preview_of_a_day_with_nothing_new_says_no_email_would_be_sent(run_cli, tmp_path, monkeypatch,
                                                                       send_empty, said) -> None:
    """With DIGEST_SEND_EMPTY off the send sends nothing to a reader with no picks; the preview showed the
    "nothing new" email without a word, as if it would go out."""
    for key, value in {"DIGEST_KEYWORDS": "zebrafish", "DIGEST_TO": "ada@example.org", "DIGEST_MIN_SCORE": "1",
                       "DIGEST_FROM": "digest@example.com", "DIGEST_SEND_EMPTY": send_empty}.items():
        monkeypatch.setenv(key, value)

    code, _, err = run_cli("preview", "--source", "sample", "--output", "out.html")

    assert code == 0 and (tmp_path / "out.html").exists()
    line = ("digest: nothing new for ada@example.org: no email is sent (DIGEST_SEND_EMPTY is off); shown anyway, "
            "as DIGEST_SEND_EMPTY=true would send it")
    assert (line in err.splitlines()) is said


def test_preview_output_with_missing_templates_is_one_error_line(run_cli, tmp_path, monkeypatch) -> None:
    """The notes about the email (a paused reader, nothing new) came before the error that no email could be
    rendered at all."""
    for key, value in {"DIGEST_KEYWORDS": "zebrafish", "DIGEST_TO": "ada@example.org", "DIGEST_MIN_SCORE": "1",
                       "DIGEST_FROM": "digest@example.com", "DIGEST_TEMPLATES_DIR": str(tmp_path / "none")}.items():
        monkeypatch.setenv(key, value)

    code, out, err = run_cli("preview", "--source", "sample", "--output", "out.html")

    assert code == 1 and out == "" and not (tmp_path / "out.html").exists()
    assert err.splitlines() == [f"digest: error: template {tmp_path / 'none' / 'digest.mjml.j2'} not found; "
                                "check DIGEST_TEMPLATES_DIR"]


def test_preview_of_several_readers_says_whose_digest_it_shows(run_cli, tmp_path, monkeypatch) -> None:
    """With a subscribers file and no --subscriber the first reader's digest was shown without a word."""
    (tmp_path / "subs.toml").write_text('[[subscribers]]\nemail = "bob@example.org"\nkeywords = ["curiosity"]\n\n'
                                        '[[subscribers]]\nemail = "cy@example.org"\nkeywords = ["LLM"]\n')
    for key, value in {"DIGEST_SUBSCRIBERS": str(tmp_path / "subs.toml"), "DIGEST_MIN_SCORE": "1",
                       "DIGEST_FROM": "digest@example.com"}.items():
        monkeypatch.setenv(key, value)

    code, _, err = run_cli("preview", "--source", "sample", "--output", "out.html")
    assert code == 0, err
    assert ("digest: previewing the digest of bob@example.org, the first of 2 readers; --subscriber EMAIL previews "
            "another's") in err.splitlines()

    code, _, err = run_cli("preview", "--source", "sample", "--subscriber", "cy@example.org", "--output", "out.html")
    assert code == 0 and "previewing" not in err


def test_preview_message_without_a_recipient_says_which_setting_is_missing(tmp_path: Path) -> None:
    """DIGEST_KEYWORDS without DIGEST_TO: /eml answered "'' is not a plain email address; check the reader's email"."""
    from digest.app import Digest
    from digest.errors import ConfigError
    from digest.model import Subscriber
    from digest.settings import load_settings
    from digest.web.preview import Preview

    settings = load_settings(None, {"DIGEST_KEYWORDS": "LLM", "DIGEST_FROM": "digest@example.com",
                                    "DIGEST_STATE_DB": str(tmp_path / "s.db")})
    with Digest(settings) as app:
        preview = Preview(app, Subscriber("", ("LLM",)), source="sample")

        assert "LLM" in preview.rendered().html  # the page itself needs no address
        with pytest.raises(ConfigError, match="^no recipient for the message: set DIGEST_TO, or preview a reader"):
            preview.message()
