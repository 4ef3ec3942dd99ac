"""Sent memory: what the never-twice answer costs in memory for a big list with a lookback.

Builds a state store through the store's own API: ``--readers`` readers (100,000) who
each got ``--per-day`` (20) of the ``--listed`` (50) papers of each of the last
``--days`` (2) days, the days a Monday's listing looks back over. Today's listing is
``--today`` (200) new papers plus those days' papers, so every reader already got
``--days`` x ``--per-day`` of today's papers (4 million pairs by default).

Then, each in a fresh process on the same store, it measures the peak memory added
(``VmHWM`` minus the resident size just before) by:

- ``sent_among(today's ids)``, as a send asks it, then one ``in`` test and a ``len``
  through each reader's view (the producer's use), and what stays resident after;
- the reference: the old answer, the same pairs as a Python set of ids per reader.

Target: at most +100 MB for 100,000 readers with 2 lookback days. Usage:

    python benchmarks/sentmemory.py [--readers 100000] [--days 2] [--per-day 20] [--listed 50]
                                    [--today 200] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from history import build_history, history_ids

from digest.store import Store

TARGET_MB = 100


def status_kb(field: str) -> int:
    """A field of /proc/self/status in kB (VmRSS: resident now, VmHWM: the peak so far)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise SystemExit("this benchmark reads /proc/self/status (Linux)")


def todays_ids(days: int, listed: int, today: int) -> list[str]:
    return [f"2699.{n:05d}" for n in range(today)] + [pid for day in range(1, days + 1)
                                                       for pid in history_ids(day, listed)]


def child(kind: str, state_db: Path, ids_file: Path) -> None:
    """One measurement in this fresh process; prints one JSON line."""
    ids = json.loads(ids_file.read_text())
    with Store.open(state_db) as store:
        store.db.execute("SELECT count(*) FROM addresses").fetchone()  # the connection warmed, as in a send
        before = status_kb("VmRSS")
        started = time.process_time()
        if kind == "view":
            answer = store.sent_among(ids)
            pairs = hits = 0
            for email in answer:  # the producer's use: a view per reader, asked and dropped
                view = answer.get(email, frozenset())
                pairs, hits = pairs + len(view), hits + (ids[-1] in view)
        else:  # the old answer: a set of ids per reader
            answer = {}
            rows = store.db.execute(
                "SELECT a.email, p.id FROM json_each(:ids) AS today CROSS JOIN papers AS p ON p.id = today.value "
                "CROSS JOIN sent AS s ON s.paper = p.key CROSS JOIN addresses AS a ON a.id = s.reader",
                {"ids": json.dumps(sorted(ids))})
            for email, paper_id in rows:
                answer.setdefault(email, set()).add(paper_id)
            pairs = sum(map(len, answer.values()))
        cpu = time.process_time() - started
        print(json.dumps({"readers": len(answer), "pairs": pairs, "cpu_s": cpu,
                          "peak_mb": (status_kb("VmHWM") - before) / 1024,
                          "held_mb": (status_kb("VmRSS") - before) / 1024}))


def measure(*args: str) -> dict:
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"measuring {args[1]} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def build_or_reuse(work: Path, args: argparse.Namespace) -> None:
    key = f"{args.readers} {args.days} {args.per_day} {args.listed}"
    marker = work / "sentmemory.key"
    if (work / "sentmemory.db").exists() and marker.exists() and marker.read_text() == key:
        print("  reusing the store built before in " + str(work), file=sys.stderr)
        return
    for name in ("sentmemory.db", "sentmemory.db-wal", "sentmemory.db-shm"):
        (work / name).unlink(missing_ok=True)
    emails = [f"reader{n}@example.org" for n in range(args.readers)]
    built = build_history(work / "sentmemory.db", emails, args.days, args.per_day, args.listed)
    print(f"  store written in {built['seconds']:.0f} s ({built['bytes'] / 1e6:.0f} MB)", file=sys.stderr)
    marker.write_text(key)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=2, help="lookback days, all in today's listing")
    parser.add_argument("--per-day", type=int, default=20, help="papers each reader got each day")
    parser.add_argument("--listed", type=int, default=50, help="papers listed each day")
    parser.add_argument("--today", type=int, default=200, help="new papers in today's listing")
    parser.add_argument("--workdir", type=Path, help="keep the store here and reuse it (default: a temporary folder)")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        work = args.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        work.mkdir(parents=True, exist_ok=True)
        build_or_reuse(work, args)
        (work / "ids.json").write_text(json.dumps(todays_ids(args.days, args.listed, args.today)))
        db, ids = str(work / "sentmemory.db"), str(work / "ids.json")
        view, sets = measure("--child", "view", db, ids), measure("--child", "sets", db, ids)
    print(f"never-twice answer for {view['readers']:,} readers, {args.days} lookback days, "
          f"{view['pairs']:,} (reader, paper) pairs among today's {args.today + args.days * args.listed} papers:")
    for label, figures in [("positions per reader (sent_among)", view), ("old: a set of ids per reader", sets)]:
        print(f"  {label}: +{figures['peak_mb']:.0f} MB peak, +{figures['held_mb']:.0f} MB held, "
              f"{figures['peak_mb'] * 2**20 / max(figures['pairs'], 1):.0f} bytes per pair at the peak, "
              f"{figures['cpu_s']:.2f} s CPU")
    ok = view["peak_mb"] <= TARGET_MB
    print(f"  peak: {view['peak_mb'] / sets['peak_mb']:.2f}x the old sets [target <= +{TARGET_MB} MB: "
          f"{'ok' if ok else 'MISSED'}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
