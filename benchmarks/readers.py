"""Operator paths with a big roster: ``digest readers list`` and the reader pages' lookup.

Writes a subscribers file of ``--readers`` readers (100,000) and a state store where
some of them changed their settings on the web, plus web sign-ups. Each figure is
printed beside a reference measured in the same run, in the same process:

1. ``tomllib`` parsing the file (the least any command that reads the roster pays),
   and ``load_subscribers`` (parse and validate every reader);
2. ``digest readers list`` (in-process, output to /dev/null): target, at most 2x
   ``load_subscribers`` plus the time to print the lines, i.e. linear;
3. the reader pages (the real app through Starlette's test client): the first page
   (reads and indexes the roster), then the mean of ``--views`` preference pages of
   roster readers, of web sign-ups (found by the id stored with them: the page's
   cost without any roster, the reference) and of a reader since removed from the
   file (a valid link that must answer 404); then one page after the file changed
   (read again) and the pages after it. Target: a roster reader's page within 2x a
   sign-up's.

Usage:

    python benchmarks/readers.py [--readers 100000] [--changed 2000] [--signups 1000] [--views 200]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import resource
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from digest.cli import main as digest_main  # noqa: E402
from digest.settings import Settings  # noqa: E402
from digest.store import Store  # noqa: E402
from digest.subscribers import load_subscribers  # noqa: E402
from digest.tokens import links_for, reader_id  # noqa: E402

SECRET = "benchmark-secret-key-0123456789abcdef"
WORDS = ("reinforcement learning", "reward model*", "diffusion", "world model", "-survey", "LLM", "retrieval",
         "graph neural network*", "protein", "robot*", "causal", "quantization", "speech", "vision transformer",
         "exploration", "benchmark^2", "federated", "privacy", "sparse attention", "mixture of experts")


@dataclass
class Timed:
    wall: float
    cpu: float


@contextlib.contextmanager
def timed() -> Iterator[Timed]:
    figures = Timed(0.0, 0.0)
    wall, cpu = time.perf_counter(), time.process_time()
    yield figures
    figures.wall, figures.cpu = time.perf_counter() - wall, time.process_time() - cpu


def write_roster(path: Path, count: int, seed: int = 5) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        for n in range(count):
            keywords = ", ".join(f'"{k}"' for k in rng.sample(WORDS, rng.randint(3, 6)))
            out.write(f'[[subscribers]]\nemail = "reader{n:06d}@example.org"\nname = "Reader {n}"\n'
                      f"keywords = [{keywords}]\nmax_items = {rng.randint(5, 20)}\n\n")


def fill_store(db: Path, readers: int, changed: int, signups: int, seed: int = 6) -> list[str]:
    """Web changes for ``changed`` roster readers and ``signups`` confirmed sign-ups; returns the sign-ups."""
    rng = random.Random(seed)
    with Store.open(db) as store:
        for n in rng.sample(range(readers), changed):
            store.save_preferences(f"reader{n:06d}@example.org", keywords=["diffusion", "robot*"], max_items=7,
                                   frequency="run", status="paused" if n % 3 == 0 else "active")
        emails = [f"web{n:05d}@example.net" for n in range(signups)]
        for email in emails:
            store.request_signup(email, reader_id(SECRET, email), ["retrieval"])
            store.confirm_signup(email)
    return emails


def bench_list(roster: Path, settings_env: dict[str, str]) -> Timed:
    os.environ.update(settings_env)
    with timed() as t, open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), \
            contextlib.redirect_stderr(io.StringIO()):
        code = digest_main(["readers", "list", "--subscribers", str(roster)])
    assert code == 0
    return t


def mean_ms(get: Callable[[str], int], paths: list[str], expect: int) -> float:
    with timed() as t:
        for path in paths:
            assert get(path) == expect, path
    return 1000 * t.wall / len(paths)


def bench_pages(settings: Settings, roster: Path, readers: int, signups: list[str], views: int) -> dict[str, float]:
    from starlette.testclient import TestClient

    from digest.web import make_app

    rng = random.Random(7)
    pick = [f"reader{n:06d}@example.org" for n in rng.sample(range(1, readers), views)]
    page = {e: links_for(settings, e).preferences.removeprefix(settings.public_url) for e in pick + signups}
    removed = links_for(settings, "gone@example.org").preferences.removeprefix(settings.public_url)
    figures: dict[str, float] = {}
    with TestClient(make_app(settings), base_url="http://127.0.0.1") as client:
        get = lambda path: client.get(path).status_code  # noqa: E731
        before = rss_mb()
        figures["first page, ms"] = mean_ms(get, [page[pick[0]]], 200)
        figures["memory held by the index, MB"] = rss_mb() - before
        figures["roster reader's page, ms"] = mean_ms(get, [page[e] for e in pick], 200)
        figures["web sign-up's page (reference), ms"] = mean_ms(get, [page[e] for e in signups[:views]], 200)
        figures["removed reader's link (404), ms"] = mean_ms(get, [removed] * views, 404)
        os.utime(roster)  # the operator saved the file: the next page reads it again
        figures["first page after the file changed, ms"] = mean_ms(get, [page[pick[1]]], 200)
        figures["roster reader's page after that, ms"] = mean_ms(get, [page[e] for e in pick], 200)
    return figures


def rss_mb() -> float:
    """Resident memory now (Linux), not the peak: loading the roster above already set that."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readers", type=int, default=100_000)
    parser.add_argument("--changed", type=int, default=2_000, help="roster readers with web changes")
    parser.add_argument("--signups", type=int, default=1_000, help="confirmed web sign-ups")
    parser.add_argument("--views", type=int, default=200, help="pages timed per kind")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        roster, db = Path(tmp) / "subscribers.toml", Path(tmp) / "state.db"
        write_roster(roster, args.readers)
        signups = fill_store(db, args.readers, args.changed, args.signups)
        print(f"{args.readers:,} readers ({roster.stat().st_size / 1e6:.1f} MB), {args.changed:,} with web changes, "
              f"{args.signups:,} web sign-ups")
        with timed() as parse:
            tomllib.loads(roster.read_text(encoding="utf-8"))
        with timed() as load:
            load_subscribers(roster)
        listing = bench_list(roster, {"DIGEST_STATE_DB": str(db)})
        for name, t in (("reference: tomllib parsing the file", parse), ("load_subscribers (parse, validate)", load),
                        ("digest readers list", listing)):
            print(f"{name:<40} {t.wall:7.2f} s wall {t.cpu:7.2f} s CPU")
        print(f"readers list / load_subscribers: {listing.cpu / load.cpu:.2f}x CPU (target <= 2x)")
        settings = Settings(state_db=db, subscribers=roster, secret_key=SECRET, public_url="http://127.0.0.1")
        pages = bench_pages(settings, roster, args.readers, signups, args.views)
        for name, value in pages.items():
            print(f"{name:<40} {value:9.2f}")
        print(f"load average at the end: {os.getloadavg()[0]:.1f} (wall times include waiting for the CPU)")
        ratio = pages["roster reader's page, ms"] / pages["web sign-up's page (reference), ms"]
        print(f"roster reader's page / sign-up's page: {ratio:.2f}x (target <= 2x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
