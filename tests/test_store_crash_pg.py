"""Three workers on one PostgreSQL store (``--shard K/3``), SIGKILLed at random moments: the next
runs finish at once, no reader loses a paper, none gets more than one extra copy.

The workers are real ``digest send`` processes, as on three hosts: they share nothing but the
database (advisory locks, the ledger) and the SMTP server (aiosmtpd on 127.0.0.1).
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
ROUNDS = 3
EXPECTED = {"2608.00001", "2608.00002", "2608.00003"}


def workers(subscribers, env, tmp_path) -> list[subprocess.Popen]:
    return [subprocess.Popen([*send_command(subscribers), "--shard", f"{k}/{WORKERS}"], env=env, cwd=tmp_path,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            for k in range(1, WORKERS + 1)]


@pytest.mark.slow
def test_three_workers_killed_at_random_lose_nothing_and_duplicate_at_most_once(
        counting, tmp_path, processes, pg_server) -> None:  # noqa: F811
    seed = int(time.time())
    chance = random.Random(seed)
    url = pg_server.new_database()
    env = env_for(counting.port, tmp_path, DIGEST_STATE_DB=url)
    for round_ in range(ROUNDS):
        subscribers = readers_file(tmp_path / f"round{round_}.toml", f"r{round_}-")
        killed = workers(subscribers, env, tmp_path)
        processes.extend(killed)
        time.sleep(chance.uniform(0.5, 2.0))
        for process in chance.sample(killed, chance.randint(1, WORKERS)):  # some of them, at one moment
            process.kill()
        for process in killed:
            process.wait(30)
        again = workers(subscribers, env, tmp_path)
        processes.extend(again)
        started = time.monotonic()
        for process in again:
            _, err = process.communicate(timeout=60)
            assert process.returncode == 0, (seed, round_, err)
            assert "waiting for another digest send" not in err, (seed, round_)
        assert time.monotonic() - started < 30, (seed, round_)

    with Store.open(DatabaseURL(url, tmp_path / "local")) as store:
        recorded = store.all_sent_ids()
    for round_ in range(ROUNDS):
        for n in range(300):
            address = f"r{round_}-{n}@example.org"
            if n % 3 == 0:
                assert counting.copies(address) == 0 and address not in recorded
                continue
            got = counting.got[address]
            assert 1 <= len(got) <= 2, (seed, address, len(got))
            assert set().union(*got) == EXPECTED and recorded[address] == EXPECTED, (seed, address)
