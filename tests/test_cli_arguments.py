"""Command-line arguments a careless operator may give: one line saying what is wrong, nothing done."""

from __future__ import annotations

from email import message_from_bytes, policy

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
    (["rank", "--limit", "9" * 30], "argument --limit: '99999999999999999999'… is not a whole number from 0 to 10000"),
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


DISABLED = ('[[subscribers]]\nemail = "ada@example.org"\nkeywords = ["exploration"]\n\n'
            '[[subscribers]]\nemail = "cy@example.org"\nkeywords = ["exploration"]\nenabled = false\n')


@pytest.fixture
def disabled_reader(monkeypatch, tmp_path):
    (tmp_path / "subscribers.toml").write_text(DISABLED, encoding="utf-8")
    monkeypatch.setenv("DIGEST_SUBSCRIBERS", str(tmp_path / "subscribers.toml"))
    monkeypatch.setenv("DIGEST_STATE_DB", str(tmp_path / "state.db"))
    return "cy@example.org"


def test_a_disabled_reader_is_listed_as_disabled_not_active(run_cli, disabled_reader) -> None:
    code, out, err = run_cli("readers", "list")

    statuses = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:]}
    assert code == 0 and statuses == {"ada@example.org": "active", "cy@example.org": "disabled"}


def test_ranking_a_disabled_reader_by_name_shows_their_picks_and_says_they_get_none(run_cli, disabled_reader):
    code, out, err = run_cli("rank", "--source", "sample", "--subscriber", disabled_reader)

    assert code == 0 and "exploration" in out.lower()
    assert "cy@example.org is disabled (enabled = false): no digest is sent to them" in err


def test_sending_to_a_disabled_reader_by_name_is_refused_in_one_line(run_cli, monkeypatch, server, inbox,
                                                                     disabled_reader, tmp_path) -> None:
    smtp_env(monkeypatch, server, tmp_path, DIGEST_SUBSCRIBERS=str(tmp_path / "subscribers.toml"))

    code, out, err = run_cli("send", "--subscriber", disabled_reader)

    assert code == 1 and inbox.messages == []
    assert err.strip() == ("digest: error: cy@example.org is disabled (enabled = false in the subscribers file); "
                           "set enabled = true to send to them")


def test_a_right_to_left_override_in_a_keyword_reaches_neither_the_email_nor_the_terminal(run_cli, monkeypatch,
                                                                                         tmp_path) -> None:
    (tmp_path / "subscribers.toml").write_text(
        '[[subscribers]]\nemail = "ada@example.org"\nkeywords = ["LLM, -\\u202esurvey", "explo\\u200bration"]\n',
        encoding="utf-8")
    monkeypatch.setenv("DIGEST_SUBSCRIBERS", str(tmp_path / "subscribers.toml"))
    monkeypatch.setenv("DIGEST_STATE_DB", str(tmp_path / "state.db"))
    monkeypatch.setenv("DIGEST_FROM", "digest@example.com")

    listed = run_cli("readers", "list")
    sent = run_cli("send", "--source", "sample", "--dry-run", "--outbox", str(tmp_path / "out"))

    [eml] = (tmp_path / "out").glob("*.eml")
    message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    parts = [part.get_content() for part in message.walk() if part.get_content_type() in ("text/plain", "text/html")]
    assert listed[0] == 0 and "llm, -survey, exploration" in listed[1].lower()
    assert sent[0] == 0 and len(parts) == 2 and all("not: survey" in part and "\u202e" not in part for part in parts)
    assert not any(ch in listed[1] + listed[2] for ch in "\u202e\u200b")


def test_a_missing_subscribers_file_given_on_the_command_line_names_the_option(run_cli, monkeypatch, tmp_path):
    monkeypatch.setenv("DIGEST_STATE_DB", str(tmp_path / "state.db"))

    code, out, err = run_cli("readers", "list", "--subscribers", str(tmp_path / "nope.toml"))

    assert code == 1
    assert err.strip() == f"digest: error: {tmp_path / 'nope.toml'}: subscribers file not found; check --subscribers"


@pytest.mark.parametrize("argv", [
    ("rank", "--source", "sample", "--subscriber", "ada@bücher.example"),
    ("preview", "--source", "sample", "--subscriber", "ADA@Bücher.example", "--output", "ada.html"),
    ("send", "--source", "sample", "--dry-run", "--subscriber", "ada@bücher.example"),
    ("readers", "show", "ada@bücher.example"),
    ("readers", "pause", "Ada@BÜCHER.example"),
    ("feedback", "--source", "sample", "--reader", "ada@bücher.example", "--like", "2611.00194"),
])
def test_a_reader_named_as_the_subscribers_file_writes_them_is_found(run_cli, monkeypatch, tmp_path, argv) -> None:
    (tmp_path / "subscribers.toml").write_text('[[subscribers]]\nemail = "ada@bücher.example"\n'
                                               'keywords = ["exploration"]\n', encoding="utf-8")
    monkeypatch.setenv("DIGEST_SUBSCRIBERS", str(tmp_path / "subscribers.toml"))  # kept as ada@xn--bcher-kva.example
    monkeypatch.setenv("DIGEST_STATE_DB", str(tmp_path / "state.db"))
    monkeypatch.setenv("DIGEST_FROM", "digest@example.com")
    from digest.store import Store

    Store.open(tmp_path / "state.db").close()  # readers show refuses a store that is not there

    code, out, err = run_cli(*argv)

    assert code == 0, err


@pytest.mark.parametrize("host", ["192.0.2.1", "no-such-host.invalid"])  # TEST-NET-1: no address of this machine
def test_serving_on_an_address_this_machine_does_not_have_names_the_host_as_the_fix(run_cli, monkeypatch, tmp_path,
                                                                                   host) -> None:
    monkeypatch.setenv("DIGEST_SECRET_KEY", "Ut4nW8qZ1xC6vB3mK9pR2sL7")
    monkeypatch.setenv("DIGEST_PUBLIC_URL", "https://digest.example.org")
    monkeypatch.setenv("DIGEST_STATE_DB", str(tmp_path / "state.db"))

    code, out, err = run_cli("serve", "--host", host, "--port", "0")

    [line] = err.strip().splitlines()
    assert code == 1 and out == "" and line.startswith(f"digest: error: cannot listen on {host}:0 (")
    assert line.endswith("; check --host: an address of this machine (127.0.0.1, or 0.0.0.0 for all of them)")


@pytest.mark.parametrize("command", ["rank", "preview"])
def test_keywords_of_bytes_that_are_not_utf8_are_one_line(run_cli, monkeypatch, tmp_path, command) -> None:
    monkeypatch.setenv("DIGEST_STATE_DB", str(tmp_path / "state.db"))

    # a Latin-1 shell passes "é" as byte 0xE9: sys.argv holds it as the lone surrogate U+DCE9
    code, out, err = run_cli(command, "--source", "sample", "--keywords", "llm, r\udce9seau", *(
        ["--output", "preview.html"] if command == "preview" else []))

    assert code == 1 and err == "digest: error: --keywords is not UTF-8 text; type them again in a UTF-8 terminal\n"


def test_rank_with_keywords_and_a_subscriber_that_is_no_address_names_the_option(run_cli, monkeypatch,
                                                                                tmp_path) -> None:
    monkeypatch.setenv("DIGEST_STATE_DB", str(tmp_path / "state.db"))

    code, out, err = run_cli("rank", "--source", "sample", "--keywords", "llm", "--subscriber", "ada.example.org")

    assert code == 1 and out == ""
    assert err == ("digest: error: --subscriber ada.example.org: not an email address "
                   "(An email address must have an @-sign)\n")


def test_sending_one_reader_with_a_shard_that_does_not_hold_them_says_so(run_cli, monkeypatch, server, inbox,
                                                                       disabled_reader, tmp_path) -> None:
    """ada@example.org is in shard 3 of 4 (tests/test_shard.py pins the split): shard 1 would send no one."""
    smtp_env(monkeypatch, server, tmp_path, DIGEST_SUBSCRIBERS=str(tmp_path / "subscribers.toml"))

    code, out, err = run_cli("send", "--source", "sample", "--shard", "1/4", "--subscriber", "ada@example.org")

    assert code == 1 and inbox.messages == [] and out == ""
    assert err.strip() == ("digest: error: ada@example.org is not in shard 1/4 (readers are split by address); "
                           "send without --shard, or with the shard that holds them")


def test_preview_takes_keywords_or_a_subscribers_file_not_both(capsys, tmp_path) -> None:
    """As rank does: given both, the keywords silently won over the file."""
    from digest.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["preview", "--source", "sample", "--keywords", "llm", "--subscribers", str(tmp_path / "s.toml"),
              "--output", str(tmp_path / "preview.html")])

    err = capsys.readouterr().err
    assert exited.value.code == 2 and "not allowed with argument" in err


def test_a_quoted_home_folder_in_a_path_option_is_the_home_folder_not_a_folder_named_tilde(
        run_cli, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DIGEST_STATE_DB", str(tmp_path / "state.db"))
    monkeypatch.setenv("DIGEST_KEYWORDS", "exploration")
    monkeypatch.setenv("DIGEST_TO", "ada@example.org")
    monkeypatch.setenv("DIGEST_FROM", "digest@example.com")

    code, out, err = run_cli("send", "--source", "sample", "--dry-run", "--outbox", "~/out")

    assert code == 0, err
    assert len(list((tmp_path / "home" / "out").glob("*.eml"))) == 1 and not (tmp_path / "~").exists()


def test_a_path_option_under_the_home_of_an_unknown_user_is_a_usage_error(capsys) -> None:
    from digest.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["send", "--source", "sample", "--dry-run", "--outbox", "~no-such-user-here/out"])

    err = capsys.readouterr().err
    assert exited.value.code == 2 and "argument --outbox: ~no-such-user-here/out: cannot expand" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("argv", [
    ["feedback", "--reader", "", "--like", "2401.00001"],
    ["feedback", "--reader", "   ", "--dislike", "2401.00001"],
    ["readers", "show", ""],
    ["readers", "pause", " "],
    ["readers", "resume", ""],
    ["readers", "remove", ""],
    ["send", "--subscriber", "", "--dry-run"],
    ["rank", "--subscriber", " "],
    ["preview", "--subscriber", "", "--no-browser"],
])
def test_an_empty_address_is_a_usage_error_not_an_unknown_reader_nor_every_reader(capsys, tmp_path, argv) -> None:
    from digest.cli import main

    with pytest.raises(SystemExit) as exited:
        main(argv)

    err = capsys.readouterr().err
    assert exited.value.code == 2 and "Traceback" not in err
    assert "the address is empty; give the reader's email, e.g. ada@example.com" in err
    assert "no reader  in" not in err and not any(tmp_path.iterdir())


@pytest.mark.parametrize("argv", [["serve", "--host", ""], ["run", "--serve", "--host", " "]])
def test_an_empty_host_is_a_usage_error_not_every_address_of_the_machine(capsys, argv) -> None:
    """``--host "$HOST"`` with HOST unset listened on 0.0.0.0 without a word."""
    from digest.cli import main

    with pytest.raises(SystemExit) as exited:
        main(argv)

    err = capsys.readouterr().err
    assert exited.value.code == 2 and "Traceback" not in err
    assert "argument --host: the address is empty; give 127.0.0.1 (this machine only)" in err


@pytest.mark.parametrize("command", ["papers", "rank", "preview", "send", "run", "feedback"])
def test_an_empty_source_is_a_usage_error_not_digest_source(capsys, command) -> None:
    """``--source "$SRC"`` with SRC unset read DIGEST_SOURCE (``hf`` by default) as if no --source were given."""
    from digest.cli import main

    with pytest.raises(SystemExit) as exited:
        main([command, "--source", " "])

    err = capsys.readouterr().err
    assert exited.value.code == 2 and "argument --source: the source is empty; e.g. --source sample" in err
