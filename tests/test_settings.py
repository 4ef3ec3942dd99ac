from __future__ import annotations

from pathlib import Path

import pytest

from digest.errors import ConfigError
from digest.settings import load_settings


def test_defaults_without_any_file() -> None:
    settings = load_settings(None, {})
    assert settings.smtp_security == "starttls" and settings.port == 587
    assert settings.max_items == 20 and settings.state_db.name == "state.db"


def test_env_file_is_read_and_real_environment_wins(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("DIGEST_MAX_ITEMS=5\nDIGEST_SMTP_SECURITY=ssl\nDIGEST_SMTP_PASSWORD='pa$word${HOME}'\n")
    settings = load_settings(env, {"DIGEST_MAX_ITEMS": "7"})
    assert settings.max_items == 7
    assert settings.port == 465
    assert settings.smtp_password == "pa$word${HOME}"  # never interpolated


# an empty value: the default, for every key ----------------------------------------------------------

DEFAULTS_BY_KIND = [  # one key of each kind of value, and what its empty value stands for
    ("DIGEST_MAX_ITEMS", "max_items", 20),  # a whole number
    ("DIGEST_MIN_SCORE", "min_score", 2.0),  # a number
    ("DIGEST_SMTP_PORT", "port", 587),
    ("DIGEST_SMTP_RATE", "smtp_rate", 0.0),
    ("DIGEST_HTTP_MAX_BYTES", "http_max_bytes", 50_000_000),  # a size
    ("DIGEST_KEEP_DAYS", "keep_days", 400),
    ("DIGEST_TIMEZONE", "timezone", "UTC"),
    ("DIGEST_SCHEDULE", "schedule", "0 7 * * 1-5"),
    ("DIGEST_SMTP_SECURITY", "smtp_security", "starttls"),  # a choice
    ("DIGEST_ARXIV_ANNOUNCE", "arxiv_announce", frozenset({"new", "cross"})),  # a list
    ("DIGEST_THUMBNAILS", "thumbnails", True),  # a switch that is on by default
    ("DIGEST_SEND_EMPTY", "send_empty", False),
    ("DIGEST_SEMANTIC", "semantic", "false"),
    ("DIGEST_SOURCE", "source", "hf"),  # text
    ("DIGEST_SMTP_HOST", "smtp_host", "localhost"),  # a host
    ("DIGEST_HF_BASE_URL", "hf_base_url", "https://huggingface.co"),  # a URL
    ("DIGEST_PUBLIC_URL", "public_url", ""),
    ("DIGEST_TO", "to", ""),  # an address
    ("DIGEST_LIBRARY", "library", None),  # a path
    ("DIGEST_SECRET_KEY", "secret_key", ""),  # a secret
]


@pytest.mark.parametrize("blank", ["", "   "])
@pytest.mark.parametrize(("key", "attribute", "default"), DEFAULTS_BY_KIND)
def test_an_empty_value_is_the_keys_default_whatever_its_kind(key: str, attribute: str, default: object,
                                                             blank: str) -> None:
    assert getattr(load_settings(None, {key: blank}), attribute) == default


def test_every_key_left_empty_loads_as_if_it_were_not_set() -> None:
    from digest.settings import KEYS

    assert load_settings(None, dict.fromkeys(KEYS, "")) == load_settings(None, {})


def test_a_copy_of_the_example_config_with_every_value_left_blank_loads_as_the_defaults(tmp_path: Path) -> None:
    example = (Path(__file__).parents[1] / "config.example.env").read_text()
    blank = "\n".join(line.split("=", 1)[0] + "=" if line.startswith("DIGEST_") else line
                      for line in example.splitlines())
    (tmp_path / ".env").write_text(blank)
    assert load_settings(tmp_path / ".env", {}) == load_settings(None, {})


def test_an_empty_value_in_the_environment_still_wins_over_the_files_value_and_means_the_default(
        tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DIGEST_MAX_ITEMS=5\nDIGEST_SMTP_USER=ada\n")
    settings = load_settings(tmp_path / ".env", {"DIGEST_MAX_ITEMS": "", "DIGEST_SMTP_USER": ""})
    assert (settings.max_items, settings.smtp_user) == (20, "")


def test_an_unknown_key_left_empty_is_still_reported() -> None:
    with pytest.raises(ConfigError, match="DIGEST_MAX_ITEM is not a known setting; did you mean DIGEST_MAX_ITEMS"):
        load_settings(None, {"DIGEST_MAX_ITEM": ""})


def test_a_line_of_the_env_file_that_does_not_parse_is_an_error_naming_the_line_not_the_value(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text('DIGEST_MAX_ITEMS=5\nDIGEST_SMTP_PASSWORD="s3cret-pw\nDIGEST_SMTP_USER=ada\n'
                   + "".join(f"oops {n}\n" for n in range(9)))  # a quote never closed: the password was dropped

    with pytest.raises(ConfigError) as info:
        load_settings(env, {})

    assert str(info.value) == (f"--env-file {env}: lines 2, 4, 5, 6, 7 and 5 more are not KEY=value lines; write "
                               "settings as config.example.env does, e.g. DIGEST_KEYWORDS=reinforcement learning")


def test_every_problem_is_reported_in_one_message() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, {
            "DIGEST_MAX_ITEMS": "lots", "DIGEST_SMTP_SECURITY": "tls", "DIGEST_TIMEZONE": "Mars/Olympus",
            "DIGEST_SMTP_HOTS": "x", "DIGEST_TO": "not-an-address",
        })
    message = str(info.value)
    for part in ("DIGEST_MAX_ITEMS='lots': not a number", "use starttls, ssl or none",
                 "IANA time zone", "did you mean DIGEST_SMTP_HOST", "DIGEST_TO"):
        assert part in message


def test_a_value_of_bytes_that_are_not_utf8_in_the_environment_is_refused_by_key() -> None:
    # os.environ holds a Latin-1 "é" (byte 0xE9) as the lone surrogate U+DCE9: no email or terminal can carry it
    with pytest.raises(ConfigError) as info:
        load_settings(None, {"DIGEST_KEYWORDS": "r\udce9seau", "DIGEST_SMTP_PASSWORD": "p\udce9ss-word"})

    message = str(info.value)
    assert "DIGEST_KEYWORDS: not UTF-8 text; set it again in UTF-8" in message
    assert "DIGEST_SMTP_PASSWORD: not UTF-8 text" in message and "ss-word" not in message
    message.encode("utf-8")  # the error itself prints


@pytest.mark.parametrize("to", ["ada@example.org, bo@example.org", "ada@example.org; bo@example.org",
                                "Ada <ada@example.org>, Bo <bo@example.org>"])
def test_a_list_in_digest_to_points_to_the_subscribers_file(to: str) -> None:
    with pytest.raises(ConfigError, match=r"for several readers, list them in a subscribers file named by "
                                          r"DIGEST_SUBSCRIBERS"):
        load_settings(None, {"DIGEST_TO": to})


@pytest.mark.parametrize("to", ["Doe, Jane <jane@example.org>", '"Doe, Jane" <jane@example.org>'])
def test_a_name_with_a_comma_in_digest_to_is_one_reader(to: str) -> None:
    assert load_settings(None, {"DIGEST_TO": to}).to == '"Doe, Jane" <jane@example.org>'


def test_bad_password_value_is_never_echoed() -> None:
    settings = load_settings(None, {"DIGEST_SMTP_PASSWORD": "hunter2"})
    assert "hunter2" not in repr(settings)


@pytest.mark.parametrize("schedule", ["0 7 * *", "0 25 * * *", "0 7 * * 9", "0 7 * * 5-1"])
def test_invalid_schedule_is_a_config_error(schedule: str) -> None:
    with pytest.raises(ConfigError, match="DIGEST_SCHEDULE"):
        load_settings(None, {"DIGEST_SCHEDULE": schedule})


def test_example_config_documents_every_key() -> None:
    from digest.settings import KEYS

    example = (Path(__file__).parents[1] / "config.example.env").read_text()
    for key in KEYS:
        assert f"{key}=" in example, key


def comment_above(example: str, key: str) -> str:
    lines = example.splitlines()
    at = next(number for number, line in enumerate(lines) if line.startswith(f"{key}="))
    above = []
    for line in reversed(lines[:at]):
        if not line.startswith("#"):
            break
        above.append(line)
    return " ".join(reversed(above))


def test_example_config_gives_the_range_each_number_is_checked_against() -> None:
    """The README: "Every number must be finite and within the range config.example.env gives"."""
    import re

    from digest.settings import KEYS

    example = (Path(__file__).parents[1] / "config.example.env").read_text()
    missing = {}
    for key in KEYS:
        try:
            load_settings(None, {key: "-99999999"})
        except ConfigError as err:
            found = re.search(r"must be (?:a port number, |0 \(no limit\) or )?(\d+-\d+|more than \S+ and at most \d+)",
                              str(err))
            if found and found.group(1) not in comment_above(example, key):
                missing[key] = found.group(1)
    assert missing == {}


# strict values (issue #17): what parsed here but broke a send hours later --------------------

@pytest.mark.parametrize(("key", "value", "problem"), [
    ("DIGEST_SMTP_TIMEOUT", "0", "more than 0 and at most 3600"),
    ("DIGEST_SMTP_RATE", "0.000001", "must be 0 (no limit) or 1-100000 messages a minute"),  # years a message
    ("DIGEST_SMTP_RATE", "100001", "must be 0 (no limit) or 1-100000"),
    ("DIGEST_SMTP_RATE", "nan", "must be 0 (no limit) or 1-100000"),
    ("DIGEST_SMTP_TIMEOUT", "nan", "must be a finite number"),
    ("DIGEST_SMTP_TIMEOUT", "inf", "must be a finite number"),
    ("DIGEST_HTTP_TIMEOUT", "-inf", "must be a finite number"),
    ("DIGEST_GRACE_HOURS", "inf", "must be a finite number, 0-168"),
    ("DIGEST_GRACE_HOURS", "169", "0-168"),
    ("DIGEST_MIN_SCORE", "nan", "must be a finite number"),
    ("DIGEST_ARCHIVE_DAYS", "1000000000000", "must be 0-36500"),
    ("DIGEST_KEEP_DAYS", "99999999", "36500 or less"),
    ("DIGEST_LOOKBACK_DAYS", "1000000000", "must be 0-366"),
    ("DIGEST_TIMEZONE", "A" * 5000, "not an IANA time zone"),
    ("DIGEST_TIMEZONE", "../../etc/passwd", "not an IANA time zone"),
    ("DIGEST_SMTP_HOST", "a" * 300, "not a host name"),
    ("DIGEST_SMTP_HOST", "smtp..example.org", "not a host name"),
    ("DIGEST_SMTP_HOST", "smtp example.org", "not a host name"),
    ("DIGEST_STATE_DB", "/", "is a folder; name the database file in it"),
    ("DIGEST_STATE_DB", "/dev/null", "is a device or a pipe, not a file; name a database file"),  # was "disk full"
    ("DIGEST_PUBLIC_URL", "https://x.example/>,<https://evil.example", "no quotes, commas, brackets"),
    ("DIGEST_PUBLIC_URL", "https://x.example/a b", "no quotes, commas, brackets or spaces"),
    ("DIGEST_PUBLIC_URL", "https://bücher.example", "an ASCII host"),
    ("DIGEST_PUBLIC_URL", "https://x.example:99999", "use the base URL readers open"),
    ("DIGEST_UNSUBSCRIBE_URL", "nonsense", "use an http(s) URL or a mailto: address"),
    ("DIGEST_UNSUBSCRIBE_URL", "javascript:alert(1)", "use an http(s) URL or a mailto: address"),
    ("DIGEST_UNSUBSCRIBE_URL", "https://x.example/u>, <https://evil.example", "no quotes, commas, brackets"),
    ("DIGEST_UNSUBSCRIBE_URL", "https://x.example/\u00fc space", "ASCII"),
    ("DIGEST_UNSUBSCRIBE_URL", "mailto:a@b.example>,<https://evil.example", "use an http(s) URL or a mailto:"),
    ("DIGEST_UNSUBSCRIBE_URL", "https://x.example/" + "a" * 600, "longer than 500 characters"),
    ("DIGEST_PUBLIC_URL", "https://x.example/" + "a" * 600, "longer than 500 characters"),
    ("DIGEST_HTTP_MAX_BYTES", "9" * 400 + "MB", "must be 1 byte to 10GB"),  # a float of infinity, no int
    ("DIGEST_MAX_ITEMS", "9" * 5000, "must be 0-10000"),  # past int()'s 4300 digits: the range, not its hint
    ("DIGEST_LOOKBACK_DAYS", "-" + "9" * 5000, "must be 0-366"),
    ("DIGEST_SMTP_PORT", "9" * 5000, "must be a port number"),
    ("DIGEST_SMTP_PORT", "-1", "must be a port number, 0-65535 (0: 587 for starttls, 465 for ssl, 25 for none)"),  # 0 is valid
    ("DIGEST_KEEP_DAYS", "9" * 5000, "36500 or less"),
    ("DIGEST_HF_BASE_URL", "huggingface.co/" + "a" * 5000, "use http(s)://HOST[:PORT][/PATH]"),
    ("DIGEST_ARXIV_BASE_URL", "https://rss.arxiv.org:99999/" + "a" * 5000, "use http(s)://HOST[:PORT][/PATH]"),
])
def test_a_value_that_would_break_a_send_later_is_refused_when_the_settings_load(key, value, problem) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, {key: value})

    message = str(info.value)
    assert f"{key}=" in message and problem in message
    assert "\n" not in message and len(message) < 300  # one readable line, even for a 5,000-character value


@pytest.mark.parametrize("url", [
    "postgresql://digest:Ab/Cd9xq@127.0.0.1:5432/digest",  # would read host "digest", port "Ab"
    "postgresql://digest:5432/Cd9xq@127.0.0.1:5432/digest",  # would read port 5432, and print the rest as a path
    "postgresql://digest:Ab#Cd9xq@127.0.0.1:5432/digest",
    "postgresql://digest:Ab@Cd9xq@127.0.0.1:5432/digest",
])
def test_a_postgresql_password_with_a_character_that_ends_the_host_part_is_refused_and_never_shown(url) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, {"DIGEST_STATE_DB": url})
    assert "percent-encode / ? # @ in the user or password" in str(info.value) and "Cd9xq" not in str(info.value)


@pytest.mark.parametrize(("key", "value", "secret"), [
    ("DIGEST_LLM_URL", "https://sk-live-abc123@api.example.org/v1", "sk-live-abc123"),
    ("DIGEST_STATE_DB", "postgresql://digest:pa'ss9xq@db:99999/x", "ss9xq"),
    ("DIGEST_PUBLIC_URL", "https://staff:S3cretPw@digest.example.org", "S3cretPw"),
    ("DIGEST_UNSUBSCRIBE_URL", "https://staff:S3cretPw@x.example/u", "S3cretPw"),
    ("DIGEST_BOUNCE_IMAP_URL", 'imaps://me:pa"ss9xq@host:99999/INBOX', "ss9xq"),
    ("DIGEST_HF_BASE_URL", "https://me:S3cretPw@mirror.example:99999/", "S3cretPw"),
    ("DIGEST_BIORXIV_BASE_URL", "ftp://me:S3cretPw@mirror.example/", "S3cretPw"),
])
def test_a_refused_url_setting_never_quotes_its_user_password_or_key(key, value, secret) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, {key: value, "DIGEST_LLM_MODEL": "m"})
    assert f"{key}=" in str(info.value) and secret not in str(info.value) and "***@" in str(info.value)


def test_an_at_sign_in_a_postgresql_urls_query_is_no_password_problem() -> None:
    url = "postgresql://db.example.org/digest?user=digest@myserver"
    assert load_settings(None, {"DIGEST_STATE_DB": url}).state_db.url == url


def test_a_percent_encoded_postgresql_password_is_kept_as_written() -> None:
    url = "postgresql://digest:Ab%2FCd9xq@127.0.0.1:5432/digest"
    assert load_settings(None, {"DIGEST_STATE_DB": url}).state_db.url == url


def test_a_state_db_that_names_an_existing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"is a folder; name the database file in it, e.g. {tmp_path / 'state.db'}"):
        load_settings(None, {"DIGEST_STATE_DB": str(tmp_path)})


@pytest.mark.parametrize("key", ["DIGEST_STATE_DB", "DIGEST_CACHE_DIR"])
def test_a_state_db_or_cache_dir_the_system_cannot_look_at_is_refused_in_one_line(tmp_path: Path, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, {key: str(tmp_path / ("a" * 300) / "state.db")})  # a name longer than 255 bytes

    message = str(info.value)
    assert f"{key}=" in message and "File name too long" in message and f"set {key} to another path" in message
    assert "\n" not in message and len(message) < 300


@pytest.mark.parametrize("key", ["DIGEST_STATE_DB", "DIGEST_SUBSCRIBERS", "DIGEST_CACHE_DIR", "DIGEST_TEMPLATES_DIR"])
def test_a_path_under_the_home_of_an_unknown_user_is_refused_with_the_fix(key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, {key: "~no-such-user-here/digest/state.db"})

    assert str(info.value).startswith(f"invalid settings: {key}='~no-such-user-here/digest/state.db': ")
    assert "cannot expand ~no-such-user-here (no such user, or no home folder); write the path in full" in str(info.value)


def test_a_state_db_under_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("a file")
    with pytest.raises(ConfigError, match="notes.txt is a file, not a folder"):
        load_settings(None, {"DIGEST_STATE_DB": str(tmp_path / "notes.txt" / "state.db")})


@pytest.mark.parametrize(("key", "value", "attribute", "expected"), [
    ("DIGEST_SMTP_TIMEOUT", "0.5", "smtp_timeout", 0.5),
    ("DIGEST_SMTP_TIMEOUT", "3600", "smtp_timeout", 3600.0),
    ("DIGEST_GRACE_HOURS", "0", "grace_hours", 0.0),
    ("DIGEST_GRACE_HOURS", "168", "grace_hours", 168.0),
    ("DIGEST_ARCHIVE_DAYS", "36500", "archive_days", 36500),
    ("DIGEST_TIMEZONE", "America/Argentina/Buenos_Aires", "timezone", "America/Argentina/Buenos_Aires"),
    ("DIGEST_TIMEZONE", "Etc/GMT+5", "timezone", "Etc/GMT+5"),
    ("DIGEST_SMTP_HOST", "mail-1.example.org", "smtp_host", "mail-1.example.org"),
    ("DIGEST_SMTP_HOST", "::1", "smtp_host", "::1"),
    ("DIGEST_SMTP_HOST", "bücher.example", "smtp_host", "bücher.example"),
    ("DIGEST_SMTP_HOST", "", "smtp_host", "localhost"),
    ("DIGEST_PUBLIC_URL", "https://digest.example.org/papers/", "public_url", "https://digest.example.org/papers"),
    ("DIGEST_PUBLIC_URL", "http://127.0.0.1:8080", "public_url", "http://127.0.0.1:8080"),
    ("DIGEST_PUBLIC_URL", "http://[::1]:8080", "public_url", "http://[::1]:8080"),
    ("DIGEST_PUBLIC_URL", "https://xn--bcher-kva.example", "public_url", "https://xn--bcher-kva.example"),
    ("DIGEST_UNSUBSCRIBE_URL", "https://example.com/u?id=1&list=a%20b", "unsubscribe_url",
     "https://example.com/u?id=1&list=a%20b"),
    ("DIGEST_UNSUBSCRIBE_URL", "mailto:leave+papers@example.org?subject=unsubscribe", "unsubscribe_url",
     "mailto:leave+papers@example.org?subject=unsubscribe"),
])
def test_sane_values_at_the_edges_of_each_range_are_kept(key, value, attribute, expected) -> None:
    assert getattr(load_settings(None, {key: value}), attribute) == expected
