"""Three workers on one PostgreSQL store, SIGKILLed at random moments: the next runs finish at once,
no reader loses a paper, none gets more than one extra copy, and the whole test stays under 90 s.

The workers are real ``digest send`` processes, as on three hosts: they share nothing but the
database (advisory locks, claims, the ledger) and the SMTP server (aiosmtpd on 127.0.0.1). The
rounds split the list both ways: plain sends that claim readers (the default) and ``--shard K/3``.
"""

from __future__ import annotations

import random
import subprocess
import time

import pytest

from digest.store import DatabaseURL, Store

from .pg_server import pg_server  # noqa: F401  (fixture)
from .test_crash import counting, env_for, processes, readers_file, send_command  # noqa: F401  (fixtures)

WORKERS = 3
SPLITS = ("claim", "shard", "claim")  # one round each
BOUND = 90  # seconds, the whole test
EXPECTED = {"2608.00001", "2608.00002", "2608.00003"}


def workers(subscribers, env, tmp_path, split: str) -> list[subprocess.Popen]:
    shard = (lambda k: ["--shard", f"{k}/{WORKERS}"]) if split == "shard" else (lambda k: [])
    return [subprocess.Popen([*send_command(subscribers), *shard(k)], env=env, cwd=tmp_path,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            for k in range(1, WORKERS + 1)]


def kill_at_random_moments(running: list[subprocess.Popen], chance: random.Random) -> None:
    """Some of the workers (at least one), each SIGKILLed at its own moment 0.3-2.5 s after the start."""
    started = time.monotonic()
    doomed = chance.sample(running, chance.randint(1, WORKERS))
    for at, process in sorted(((chance.uniform(0.3, 2.5), p) for p in doomed), key=lambda pair: pair[0]):
        time.sleep(max(0.0, started + at - time.monotonic()))
        process.kill()


@pytest.mark.slow
def test_three_workers_killed_at_random_lose_nothing_and_duplicate_at_most_once(
        counting, tmp_path, processes, pg_server) -> None:  # noqa: F811
    seed = int(time.time())
    chance = random.Random(seed)
    url = pg_server.new_database()
    env = env_for(counting.port, tmp_path, DIGEST_STATE_DB=url)
    begun = time.monotonic()
    for round_, split in enumerate(SPLITS):
        subscribers = readers_file(tmp_path / f"round{round_}.toml", f"r{round_}-")
        killed = workers(subscribers, env, tmp_path, split)
        processes.extend(killed)
        kill_at_random_moments(killed, chance)
        for process in killed:
            process.wait(20)
        again = workers(subscribers, env, tmp_path, split)
        processes.extend(again)
        started = time.monotonic()
        for process in again:
            _, err = process.communicate(timeout=40)
            assert process.returncode == 0, (seed, split, err)
            assert "waiting for another digest send" not in err, (seed, split)
        assert time.monotonic() - started < 20, (seed, split)
    assert time.monotonic() - begun < BOUND, seed

    with Store.open(DatabaseURL(url, tmp_path / "local")) as store:
        recorded = store.all_sent_ids()
    for round_ in range(len(SPLITS)):
        for n in range(300):
            address = f"r{round_}-{n}@example.org"
            if n % 3 == 0:
                assert counting.copies(address) == 0 and address not in recorded
                continue
            got = counting.got[address]
            assert 1 <= len(got) <= 2, (seed, address, len(got))
            assert set().union(*got) == EXPECTED and recorded[address] == EXPECTED, (seed, address)
