"""What a user's-eye audit found (issue #11's promises): one readable line and exit 1 for bad
input, no traceback; a truthful ``digest status``; junk in a listing stays out of the table."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from digest.errors import OutputError, why_not_writable

from .test_cli import smtp_env


def one_line_error(code: int, err: str) -> str:
    assert code == 1
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("digest: error: "), err
    return lines[0]


# bad output paths ---------------------------------------------------------------------------

def test_a_preview_output_in_a_missing_folder_is_one_line_naming_the_folder(run_cli, tmp_path):
    target = tmp_path / "nonexistent" / "dir" / "pv.html"

    code, out, err = run_cli("preview", "--source", "sample", "--keywords", "reward model", "--output", str(target))

    line = one_line_error(code, err)
    assert f"the folder {target.parent} does not exist" in line and "--output" in line


def test_a_dry_run_outbox_that_is_a_file_is_one_line_naming_the_file(run_cli, monkeypatch, tmp_path):
    (tmp_path / "base.env").write_text("X=1\n", encoding="utf-8")
    monkeypatch.setenv("DIGEST_FROM", "d@example.com")
    monkeypatch.setenv("DIGEST_TO", "ada@example.org")
    monkeypatch.setenv("DIGEST_KEYWORDS", "reward model")

    code, out, err = run_cli("send", "--source", "sample", "--dry-run", "--outbox", "base.env")

    line = one_line_error(code, err)
    assert "base.env is a file, not a folder" in line and "--outbox" in line


@pytest.mark.parametrize(("number", "words"), [
    (errno.EROFS, "the file system is read-only"),
    (errno.EACCES, "permission denied"),
    (errno.ENOSPC, "the disk is full"),
])
def test_a_write_that_the_system_refuses_is_named_in_words(tmp_path, number, words):
    err = OSError(number, "whatever the C library says")

    message = str(OutputError.writing(tmp_path / "pv.html", err, "choose another file with --output FILE"))

    assert message == f"cannot write {tmp_path / 'pv.html'}: {words}; choose another file with --output FILE"
