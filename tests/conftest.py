from __future__ import annotations

import os
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No DIGEST_* from the developer's shell; state and cache under tmp_path."""
    for key in list(os.environ):
        if key.startswith("DIGEST_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]):
    from digest.cli import main

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def inbox():
    """What a real aiosmtpd server on 127.0.0.1 received (see tests/smtp_server.py)."""
    from .smtp_server import Inbox

    return Inbox()


@pytest.fixture
def server(inbox):
    """A real aiosmtpd server on 127.0.0.1, on a free port, delivering into ``inbox``."""
    from .smtp_server import start

    controller = start(inbox)
    yield controller
    controller.stop()


@pytest.fixture
def faults():
    """What the scripted SMTP server (tests/smtp_server.py) should get wrong, and when."""
    from .smtp_server import Faults

    return Faults()


@pytest.fixture
def faulty(faults):
    """A small asyncio SMTP server on 127.0.0.1 that fails on purpose, as ``faults`` says."""
    from .smtp_server import FaultyServer

    server = FaultyServer(faults).start()
    yield server
    server.stop()


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real backoff is seconds; the retry rules are the same with a short one."""
    monkeypatch.setattr("digest.mail.BACKOFF", (0.01, 0.01, 0.01, 0.01))


@pytest.fixture
def dovecot(tmp_path: Path):
    """A real IMAP server (dovecot) on 127.0.0.1 with TLS, one mailbox user (see tests/imap_server.py)."""
    from .imap_server import DOVECOT, start

    if not DOVECOT.exists():
        pytest.skip(f"{DOVECOT} is not installed (apt-get install dovecot-imapd; .ci/run installs it)")
    server = start(tmp_path / "imap")
    yield server
    server.stop()
