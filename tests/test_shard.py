"""`digest send --shard K/N`: every reader in exactly one shard, shards side by side on one store."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.errors import ConfigError, LockedError
from digest.lock import Shard, send_lock
from digest.model import Subscriber

from .conftest import FIXTURES

addresses = st.emails().map(str.lower)


@settings(max_examples=80, deadline=None)
@given(st.sets(addresses, max_size=60), st.integers(min_value=1, max_value=12))
def test_the_shards_of_a_list_hold_every_reader_exactly_once(emails, count) -> None:
    readers = [Subscriber(email, ("x",)) for email in sorted(emails)]
    shards = [Shard(number, count).select(readers) for number in range(1, count + 1)]
    chosen = [reader.email for shard in shards for reader in shard]
    assert sorted(chosen) == sorted(emails)  # the union is every reader ...
    assert len(chosen) == len(set(chosen))  # ... and no reader is in two shards


def test_the_split_is_by_address_whatever_its_case_and_the_order_of_the_list() -> None:
    readers = [Subscriber(f"reader{n}@example.org", ("x",)) for n in range(40)]
    shard = Shard(2, 3)
    assert {r.email for r in shard.select(readers)} == {r.email for r in shard.select(readers[::-1])}
    assert all(shard.owns(r.email) == shard.owns(" " + r.email.upper()) for r in readers)


def test_the_split_is_the_same_on_every_machine_and_release() -> None:
    """sha256 of the lower-case address, first 8 bytes big-endian, modulo N: pinned here."""
    assert [n for n in range(1, 5) if Shard(n, 4).owns("ada@example.org")] == [3]
    assert [n for n in range(1, 5) if Shard(n, 4).owns("bob@example.org")] == [2]
    assert [n for n in range(1, 5) if Shard(n, 4).owns("chloé@example.fr")] == [1]


@pytest.mark.parametrize("text", ["0/4", "5/4", "1/0", "1", "a/b", "-1/4", ""])
def test_a_malformed_shard_is_one_line_naming_the_fix(run_cli, text) -> None:
    code, out, err = run_cli("send", "--source", "sample", "--dry-run", f"--shard={text}")
    assert code == 1 and out == ""
    assert err.startswith("digest: error: --shard") and "e.g. --shard 1/4" in err and err.count("\n") == 1
    with pytest.raises(ConfigError):
        Shard.parse(text)


def test_shards_lock_side_by_side_but_not_with_themselves_or_the_whole_list(tmp_path) -> None:
    db = tmp_path / "state.db"
    with send_lock(db, Shard(1, 2)), send_lock(db, Shard(2, 2)):  # two shards run together
        with pytest.raises(LockedError, match="shard-1-of-2"):
            with send_lock(db, Shard(1, 2), wait=0.2):
                pass
        with pytest.raises(LockedError, match=r"state\.db\.lock"):
            with send_lock(db, wait=0.2):
                pass
    with send_lock(db):
        with pytest.raises(LockedError, match=r"state\.db\.lock"):
            with send_lock(db, Shard(2, 2), wait=0.2):
                pass
    with send_lock(db, Shard(1, 2), wait=0.2):  # everything was released
        pass


def test_two_shards_sending_at_once_deliver_one_digest_to_every_reader(server, inbox, tmp_path) -> None:
    readers = [f"reader{n}@example.org" for n in range(12)]
    subscribers = tmp_path / "subscribers.toml"
    subscribers.write_text("".join(f'[[subscribers]]\nemail = "{email}"\nkeywords = ["reward model"]\n\n'
                                   for email in readers), encoding="utf-8")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")},
           "DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(server.port), "DIGEST_SMTP_SECURITY": "none",
           "DIGEST_FROM": "digest@example.com", "DIGEST_SUBSCRIBERS": str(subscribers),
           "DIGEST_STATE_DB": str(tmp_path / "state.db"), "DIGEST_MIN_SCORE": "1"}
    command = [sys.executable, "-m", "digest", "send", "--source", str(FIXTURES / "papers.jsonl"), "--shard"]

    procs = [subprocess.Popen([*command, f"{k}/2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for k in (1, 2)]
    results = [proc.communicate(timeout=60) + (proc.returncode,) for proc in procs]

    assert [code for _, _, code in results] == [0, 0], results
    expected = [sum(Shard(k, 2).owns(email) for email in readers) for k in (1, 2)]
    assert [out.strip().split(",")[0] for out, _, _ in results] == [f"sent {n}" for n in expected]
    assert sorted(m["To"] for m in inbox.messages) == sorted(readers)
