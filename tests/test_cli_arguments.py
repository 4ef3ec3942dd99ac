"""Command-line arguments a careless operator may give: one line saying what is wrong, nothing done."""

from __future__ import annotations

import pytest

from .test_cli import smtp_env


@pytest.mark.parametrize(("argv", "problem"), [
    (["preview", "--port", "99999"], "argument --port: '99999' is not a port number (0-65535)"),
    (["serve", "--port", "70000"], "argument --port: '70000' is not a port number (0-65535)"),
    (["preview", "--port", "-5"], "argument --port: '-5' is not a port number (0-65535)"),
    (["run", "--serve", "--port", "65536"], "argument --port: '65536' is not a port number (0-65535)"),
    (["store", "compact", "--wait", "nan"], "argument --wait: 'nan' is not a number of seconds from 0 to 86400"),
    (["store", "compact", "--wait", "inf"], "argument --wait: 'inf' is not a number of seconds from 0 to 86400"),
    (["store", "compact", "--wait", "-1"], "argument --wait: '-1' is not a number of seconds from 0 to 86400"),
])
def test_an_argument_out_of_its_range_is_a_usage_error_not_a_traceback_or_a_hang(capsys, argv, problem) -> None:
    from digest.cli import main

    with pytest.raises(SystemExit) as exited:
        main(argv)

    err = capsys.readouterr().err
    assert exited.value.code == 2 and problem in err and "Traceback" not in err


def test_send_with_outbox_but_without_dry_run_is_refused_and_mails_no_one(run_cli, monkeypatch, server, inbox,
                                                                          tmp_path) -> None:
    smtp_env(monkeypatch, server, tmp_path, DIGEST_TO="ada@example.org", DIGEST_KEYWORDS="exploration")

    code, out, err = run_cli("send", "--outbox", str(tmp_path / "out"))

    assert code == 1 and inbox.messages == []
    assert err.strip() == ("digest: error: --outbox is where --dry-run writes; add --dry-run to write the messages "
                           "there, or leave --outbox out to send them")


def test_a_dry_run_still_writes_to_the_outbox_it_is_given(run_cli, monkeypatch, server, inbox, tmp_path) -> None:
    smtp_env(monkeypatch, server, tmp_path, DIGEST_TO="ada@example.org", DIGEST_KEYWORDS="exploration")

    code, out, err = run_cli("send", "--dry-run", "--outbox", str(tmp_path / "out"))

    assert code == 0, err
    assert inbox.messages == [] and len(list((tmp_path / "out").glob("*.eml"))) == 1
