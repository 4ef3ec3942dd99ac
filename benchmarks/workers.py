"""Workers against one PostgreSQL store, beside SQLite with one process, in the same run.

Real ``digest send`` processes deliver to a local aiosmtpd sink (its own process, benchmarks/throughput.py's) from
a fresh store each: SQLite with one process, then PostgreSQL (a server started by
tests/pg_server.py in a temporary folder, fsync off: the figures are for the
database's work, not its disk) with 1, 2 and 4 workers, split two ways: ``--shard K/N``
(each worker a fixed part of the list) and plain sends that claim readers as they go
(``SELECT ... FOR UPDATE SKIP LOCKED``, digest.claims). Each reader gets the three
papers of tests/fixtures/papers.jsonl. Prints the wall time, messages a second and
the store's bytes per delivered paper (SQLite: the file and its WAL; PostgreSQL:
the tables and indexes of the store). Each set of rows runs once straight into the
sink and once through benchmarks/delay_proxy.py (``--round-trip``, milliseconds; 0 is
straight), as if the relay were that far away. Usage:

    python benchmarks/workers.py [--readers 100000] [--workers 1,2,4] [--split shard,claim] [--round-trip 0,20]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

from delay_proxy import start_proxy  # noqa: E402
from tests.pg_server import Server, why_not  # noqa: E402
from throughput import start_smtp  # noqa: E402

from digest.store import DatabaseURL, Store  # noqa: E402

LISTING = ROOT / "tests" / "fixtures" / "papers.jsonl"
PG_SIZE = ("SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class AS c JOIN pg_namespace AS n "
           "ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'")


def readers_file(path: Path, count: int) -> Path:
    path.write_text("".join(f'[[subscribers]]\nemail = "r{n}@example.org"\nkeywords = ["exploration", '
                            '"reward model"]\n' for n in range(count)), encoding="utf-8")
    return path


def run_send(state_db: str, workers: int, readers: Path, port: int, folder: Path, split: str = "shard") -> float:
    """Wall seconds for ``workers`` processes to send the whole list (``split``: by shard, or by claiming)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")} | {
        "DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(port), "DIGEST_SMTP_SECURITY": "none",
        "DIGEST_FROM": "digest@example.org", "DIGEST_STATE_DB": state_db, "DIGEST_MIN_SCORE": "1",
        "PYTHONPATH": str(ROOT), "XDG_DATA_HOME": str(folder / "data"), "XDG_CACHE_HOME": str(folder / "cache")}
    command = [sys.executable, "-m", "digest", "send", "--subscribers", str(readers), "--source", str(LISTING)]
    shards = [[] if workers == 1 or split == "claim" else ["--shard", f"{k}/{workers}"] for k in range(1, workers + 1)]
    started = time.perf_counter()
    running = [subprocess.Popen(command + extra, env=env, cwd=folder, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True) for extra in shards]
    for process in running:
        _, err = process.communicate()
        if process.returncode != 0:
            raise SystemExit(f"a worker failed: {err.strip()}")
    return time.perf_counter() - started


def deliveries(state_db: Path) -> int:
    with Store.open(state_db) as store:
        return sum(len(ids) for ids in store.all_sent_ids().values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=2000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--split", default="shard,claim", help="how workers split the list: shard, claim or both")
    parser.add_argument("--round-trip", default="0,20", help="SMTP round trips to measure, ms (0: no proxy)")
    args = parser.parse_args()
    reason = why_not()
    if reason:
        raise SystemExit(f"no PostgreSQL to measure: {reason}")
    folder = Path(tempfile.mkdtemp(prefix="digest-workers-"))
    readers = readers_file(folder / "readers.toml", args.readers)
    smtp, smtp_port = start_smtp()
    server = Server().start()
    try:
        print(f"{args.readers} readers, 3 papers each, sink SMTP server on 127.0.0.1; {os.cpu_count()} cores")
        print(f"{'store':<24}{'rtt ms':>7}{'workers':>8}{'wall s':>9}{'msg/s':>9}{'bytes/delivery':>16}")
        for round_trip in (float(ms) for ms in args.round_trip.split(",")):
            proxy, port = start_proxy(smtp_port, round_trip) if round_trip > 0 else (None, smtp_port)
            try:
                measure(args, server, readers, port, folder, round_trip)
            finally:
                if proxy is not None:
                    proxy.terminate()
                    proxy.wait()
    finally:
        server.stop()
        smtp.terminate()
        smtp.wait()
    return 0


def measure(args: argparse.Namespace, server: Server, readers: Path, port: int, folder: Path,
            round_trip: float) -> None:
    """The rows for one SMTP round trip: SQLite with one process, then each split and worker count."""
    sqlite = folder / f"state-{round_trip:g}.db"
    seconds = run_send(str(sqlite), 1, readers, port, folder)
    wal = sqlite.with_name(sqlite.name + "-wal")
    size = sqlite.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    report("SQLite", round_trip, 1, seconds, args.readers, size / deliveries(sqlite))
    for split in args.split.split(","):
        for count in (int(n) for n in args.workers.split(",")):
            url = DatabaseURL(server.new_database(), folder / "local")
            seconds = run_send(url.url, count, readers, port, folder, split)
            with Store.open(url) as store:
                size = int(store.db.execute(PG_SIZE).fetchone()[0])
            report(f"PostgreSQL, {split}", round_trip, count, seconds, args.readers, size / deliveries(url))


def report(store: str, round_trip: float, workers: int, seconds: float, readers: int, per_delivery: float) -> None:
    print(f"{store:<24}{round_trip:>7g}{workers:>8}{seconds:>9.1f}{readers / seconds:>9.0f}{per_delivery:>16.0f}",
          flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
