"""Key rotation: links in mail delivered before DIGEST_SECRET_KEY changed keep working while the old key is in
DIGEST_SECRET_KEYS_OLD; new links use the new key; a weak key is refused with the command that makes a good one."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from digest.bounces import Matcher
from digest.bounces.classify import Finding
from digest.settings import MAKE_SECRET, load_settings
from digest.store import Store
from digest.tokens import BadToken, Signer, links_for, reader_id

from .web_server import Web, running

OLD = "Zq7VhX2mN9pL4tR8wK3cF6yB1dG5sJ0a"
NEW = "Hc4rT9wQ2zL7mB1xV6nK3pY8sD5fG0jU"
GONE = "Wb8kN3qT6yR1zX5mC9vL2pH7sJ4dF0gA"  # a key dropped from the list: its links no longer verify
ADA = "ada@example.org"
ONE_CLICK = {"content": b"List-Unsubscribe=One-Click",
             "headers": {"content-type": "application/x-www-form-urlencoded"}}


@pytest.fixture
def web(tmp_path: Path):
    with running(tmp_path, secret_key=NEW, secret_keys_old=(OLD,)) as site:
        yield site


def delivered_before(web: Web, key: str = OLD):
    """The links a digest carried when ``key`` was the secret key."""
    return links_for(replace(web.settings, secret_key=key, secret_keys_old=()), ADA, ["2401.00001"])


def test_a_one_click_unsubscribe_signed_with_the_old_key_unsubscribes(web: Web) -> None:
    answer = httpx.post(delivered_before(web).unsubscribe, **ONE_CLICK)
    assert answer.status_code == 200 and "You are unsubscribed" in answer.text
    assert web.status(ADA) == "unsubscribed"


def test_the_old_keys_preferences_and_unsubscribe_pages_open_for_the_right_reader(web: Web) -> None:
    links = delivered_before(web)
    for url in (links.preferences, links.unsubscribe):
        page = httpx.get(url)
        assert page.status_code == 200 and ADA in page.text
    assert web.status(ADA) is None  # a GET changes nothing


def test_a_link_signed_with_a_key_no_longer_listed_changes_nothing(web: Web) -> None:
    answer = httpx.post(delivered_before(web, GONE).unsubscribe, **ONE_CLICK)
    assert answer.status_code == 400 and "nothing was changed" in answer.text
    assert web.status(ADA) is None


def test_new_links_are_signed_with_the_new_key_alone(web: Web) -> None:
    token = web.links(ADA).unsubscribe.rsplit("/", 1)[1]
    assert Signer(NEW).reader("unsubscribe", token) == reader_id(NEW, ADA)
    with pytest.raises(BadToken):
        Signer(OLD).reader("unsubscribe", token)


def test_a_bounce_of_a_digest_sent_before_the_rotation_finds_its_reader(tmp_path: Path) -> None:
    settings = load_settings(None, {"DIGEST_SECRET_KEY": NEW, "DIGEST_SECRET_KEYS_OLD": OLD,
                                    "DIGEST_BOUNCE_ADDRESS": "bounces@example.org",
                                    "DIGEST_STATE_DB": str(tmp_path / "state.db")})
    with Store.open(settings.state_db) as store:
        matcher = Matcher(settings, store, [ADA, "bob@example.org"])
        finding = Finding("hard", "5.1.1", texts=(f"bounces+{reader_id(OLD, ADA)}@example.org",))
        assert matcher.reader_of(finding) == ADA


@pytest.mark.parametrize("key, value", [
    ("DIGEST_SECRET_KEY", "changemechangeme"), ("DIGEST_SECRET_KEY", "password12345678"),
    ("DIGEST_SECRET_KEY", "k" * 40), ("DIGEST_SECRET_KEY", "abcdefghijklmnopqrstuvwxyz"),
    ("DIGEST_SECRET_KEYS_OLD", f"{OLD},qwertyuiop123456"),
])
def test_digest_check_refuses_a_weak_key_in_one_line_with_the_command_that_makes_a_good_one(
        tmp_path: Path, run_cli, key: str, value: str) -> None:
    env = tmp_path / "digest.env"
    env.write_text(f"DIGEST_SECRET_KEY={NEW}\nDIGEST_STATE_DB={tmp_path / 'state.db'}\n{key}={value}\n")
    code, out, err = run_cli("--env-file", str(env), "check")
    assert code == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert f"{key}=***: " in err and "too easy to guess" in err and MAKE_SECRET in err
    assert value.split(",")[-1] not in err + out  # a secret is never shown, even a weak one


@pytest.mark.parametrize("good", [OLD, "a-test-secret-key-of-some-length", "correct horse battery staple"])
def test_strong_keys_and_passphrases_pass(good: str) -> None:
    assert load_settings(None, {"DIGEST_SECRET_KEY": good}).secret_key == good


def test_the_rotation_procedure_in_the_readme_is_what_the_settings_take() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert "DIGEST_SECRET_KEYS_OLD" in readme and "rotat" in readme.lower()
    assert load_settings(None, {"DIGEST_SECRET_KEY": NEW, "DIGEST_SECRET_KEYS_OLD": f" {OLD} , {GONE} "}
                         ).secret_keys == (NEW, OLD, GONE)
