"""Crashes of a big send (issue #11, item 3): the forked renderer never outlives its parent,
never keeps the send lock, and never makes a send hang; SIGKILL at any moment loses nothing."""

from __future__ import annotations

import os
import quopri
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from digest.store import Store

from .conftest import FIXTURES
from .smtp_server import free_port

LISTING = str(FIXTURES / "papers.jsonl")
PAPER = re.compile(rb"arxiv\.org/abs/(\d{4}\.\d{5})")


class Counting:
    """An aiosmtpd handler that keeps, per recipient, the paper ids of each message it queued."""

    def __init__(self) -> None:
        self.got: dict[str, list[set[str]]] = defaultdict(list)
        self.delay = 0.0
        self.gate = 0  # hold every message until this many connections have one waiting (0: no gate)
        self.gate_seconds = 8.0  # ... or this long after the first (below the sends' DIGEST_SMTP_TIMEOUT 10)
        self.receiving = threading.Event()
        self._lock = threading.Lock()
        self._waiting: set[int] = set()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        import asyncio

        self.receiving.set()
        await self._pass_gate(session)
        if self.delay:
            await asyncio.sleep(self.delay)
        papers = {match.decode() for match in PAPER.findall(quopri.decodestring(envelope.original_content))}
        with self._lock:
            for recipient in envelope.rcpt_tos:
                self.got[recipient].append(papers)
        return "250 OK"

    async def _pass_gate(self, session) -> None:
        import asyncio

        if not self.gate:
            return
        self._waiting.add(id(session))
        until = time.monotonic() + self.gate_seconds
        while len(self._waiting) < self.gate and time.monotonic() < until:
            await asyncio.sleep(0.01)
        self.gate = 0  # open for good: every later message goes straight through

    def copies(self, address: str) -> int:
        return len(self.got.get(address, []))


@pytest.fixture
def counting():
    handler = Counting()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port  # type: ignore[attr-defined]
    yield handler
    controller.stop()


def readers_file(path: Path, prefix: str, count: int = 300) -> Path:
    """``count`` readers; every third one matches nothing (no message for them)."""
    lines = []
    for n in range(count):
        keywords = '["quantum chromodynamics"]' if n % 3 == 0 else '["exploration", "reward model"]'
        lines.append(f'[[subscribers]]\nemail = "{prefix}{n}@example.org"\nkeywords = {keywords}\n')
    path.write_text("".join(lines), encoding="utf-8")
    return path


def send_command(subscribers: Path) -> list[str]:
    return [sys.executable, "-m", "digest", "send", "--subscribers", str(subscribers), "--source", LISTING]


def env_for(port: int, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DIGEST_")}
    env.update({"DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(port), "DIGEST_SMTP_SECURITY": "none",
                "DIGEST_FROM": "digest@example.com", "DIGEST_STATE_DB": str(tmp_path / "state.db"),
                "DIGEST_MIN_SCORE": "1", "DIGEST_SMTP_TIMEOUT": "10", **extra})
    return env


def living(marker: str) -> list[int]:
    """Processes (not zombies) whose command line contains ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if marker.encode() in cmdline and state not in ("Z", "X"):
            found.append(int(entry))
    return found


def wait_for(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture
def processes():
    """Every process a test starts is killed (by its id) at the end, whatever happened."""
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_sigkill_of_a_big_send_leaves_no_renderer_and_no_lock_behind(counting, tmp_path, processes):
    subscribers = readers_file(tmp_path / "killed.toml", "k")
    env = env_for(counting.port, tmp_path)
    counting.delay = 0.2  # a slow server: the renderer is far ahead, blocked on its full queue
    killed = subprocess.Popen(send_command(subscribers), env=env, cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    processes.append(killed)
    assert wait_for(counting.receiving.is_set, 30)
    assert wait_for(lambda: len(living(str(subscribers))) == 2, 10), "parent and forked renderer"

    killed.send_signal(signal.SIGKILL)
    killed.wait(5)
    counting.delay = 0.0
    began = time.monotonic()
    after = subprocess.run(send_command(subscribers), env=env, cwd=tmp_path, capture_output=True, text=True,
                           timeout=60)
    took = time.monotonic() - began

    assert wait_for(lambda: living(str(subscribers)) == [], 5), "the renderer dies with its parent"
    assert after.returncode == 0, after.stderr
    assert "waiting for another digest send" not in after.stderr and took < 30
    matching = [f"k{n}@example.org" for n in range(300) if n % 3]
    assert all(1 <= counting.copies(address) <= 2 for address in matching)


def test_a_big_send_to_a_closed_port_fails_at_once_with_one_line(tmp_path, processes):
    subscribers = readers_file(tmp_path / "readers.toml", "r")
    began = time.monotonic()
    process = subprocess.Popen(send_command(subscribers), env=env_for(free_port(), tmp_path), cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    processes.append(process)
    out, err = process.communicate(timeout=30)

    assert process.returncode == 1 and time.monotonic() - began < 15
    assert err.strip().splitlines() == [err.strip()] and "cannot connect to the SMTP server" in err
    assert wait_for(lambda: living(str(subscribers)) == [], 5), "no renderer left behind"


@pytest.mark.slow
def test_twenty_sigkills_at_random_moments_lose_nothing_and_duplicate_at_most_once(counting, tmp_path, processes):
    """Each round: a 300-reader send killed at a random moment, then a send that must finish
    at once (no lock held by a ghost) and complete the round. Every round has its own readers
    (the once-a-day rule would make later rounds send nothing); they share the store."""
    seed = int(time.time())
    chance = random.Random(seed)
    env = env_for(counting.port, tmp_path)
    expected = {"2608.00001", "2608.00002", "2608.00003"}
    for round_ in range(20):
        subscribers = readers_file(tmp_path / f"round{round_}.toml", f"r{round_}-")
        killed = subprocess.Popen(send_command(subscribers), env=env, cwd=tmp_path,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        processes.append(killed)
        time.sleep(chance.uniform(0.3, 1.3))
        killed.kill()
        killed.wait(5)
        began = time.monotonic()
        after = subprocess.run(send_command(subscribers), env=env, cwd=tmp_path, capture_output=True, text=True,
                               timeout=60)
        assert after.returncode == 0, (seed, round_, after.stderr)
        assert "waiting for another digest send" not in after.stderr, (seed, round_)
        assert time.monotonic() - began < 45, (seed, round_)  # 300 readers: ~5 s idle, 32 s seen on a loaded machine

    with Store.open(tmp_path / "state.db") as store:
        recorded = store.all_sent_ids()
    for round_ in range(20):
        for n in range(300):
            address = f"r{round_}-{n}@example.org"
            if n % 3 == 0:
                assert counting.copies(address) == 0 and address not in recorded
                continue
            got = counting.got[address]
            assert 1 <= len(got) <= 2, (seed, address, len(got))
            assert recorded[address] <= set().union(*got), (seed, address, "recorded but never received")
            assert set().union(*got) == expected and recorded[address] == expected, (seed, address)
