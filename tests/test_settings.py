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
