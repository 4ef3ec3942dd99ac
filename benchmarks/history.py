"""History: the day's send costs what today's work costs, whatever the size of the history.

Builds a state store through the store's own API: ``--readers`` readers (10,000) who
each got ``--per-day`` papers (10) of the ``--listed`` papers (50) of each of
``--days`` days (365). Then runs today's send work (open the store, check the history,
rank, render, build, write to an outbox; no SMTP: ``digest send --dry-run``'s code) in
a fresh process, on that store and on an empty one, for the same readers and the same
listing (``--today`` new papers, plus the last two days' papers, as a Monday's
lookback has them). Prints CPU time, wall time and peak memory side by side with their
ratios (target: at most 1.15x the empty store), the history check alone in a process of
its own, and the store's bytes per delivery (target: at most 40).

Papers come from ../shared/ranking/docs.jsonl when it is beside the project, else from
a synthetic listing; the readers' keywords are drawn as in ``throughput.py``. Usage:

    python benchmarks/history.py [--readers 10000] [--days 365] [--per-day 10] [--listed 50]
                                 [--today 200] [--repeat 2] [--old-load] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from email.utils import make_msgid
from pathlib import Path

from throughput import ROOT, distinct_profiles, keyword_pool, load_papers

from digest.model import Paper, Subscriber, make_paper
from digest.store import Store

LOOKBACK = 2  # days of history that are in today's listing too
TARGET = 1.15  # the day's send on the year-old store, against the same send on an empty store


def history_ids(day: int, listed: int) -> list[str]:
    """The ids of the papers listed ``day`` days ago (arXiv-like, unique per day)."""
    return [f"25{day // 100:02d}.{day % 100:02d}{n:03d}" for n in range(listed)]


def build_history(path: Path, emails: list[str], days: int, per_day: int, listed: int) -> dict[str, float]:
    """Write the history day by day, one ``record_deliveries`` batch a day, as a year of sends would."""
    started = time.perf_counter()
    now = datetime.now(timezone.utc).replace(hour=7, minute=0, second=0, microsecond=0)
    with Store.open(path) as store:
        for day in range(days, 0, -1):
            ids = history_ids(day, listed)
            batch = []
            for number, email in enumerate(emails):
                first = (number * 7 + day) % listed
                batch.append((email, make_msgid(domain="example.org"),
                              [ids[(first + k) % listed] for k in range(per_day)], None))
            store.record_deliveries(batch, at=now - timedelta(days=day))
            if day % 30 == 0:
                print(f"  history: {days - day + 1}/{days} days written, {time.perf_counter() - started:.0f} s",
                      file=sys.stderr, flush=True)
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        tables = dict(store.db.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"))
        messages = store.db.execute("SELECT count(*) FROM messages").fetchone()[0]
    deliveries = len(emails) * days * per_day
    return {"seconds": time.perf_counter() - started, "bytes": path.stat().st_size, "deliveries": deliveries,
            "messages": messages, "tables": tables}


def reuse_or_build(work: Path, emails: list[str], args: argparse.Namespace) -> dict:
    key = f"{len(emails)} {args.days} {args.per_day} {args.listed}"
    figures = work / "history.json"
    if (work / "history.db").exists() and figures.exists() and json.loads(figures.read_text())["key"] == key:
        print("  history: reusing the one built before in " + str(work), file=sys.stderr)
        return json.loads(figures.read_text())
    for name in ("history.db", "history.db-wal", "history.db-shm"):
        (work / name).unlink(missing_ok=True)
    history = build_history(work / "history.db", emails, args.days, args.per_day, args.listed)
    figures.write_text(json.dumps({**history, "key": key}))
    return history


def todays_listing(pool: list[Paper], today: int, listed: int) -> list[Paper]:
    """Today's new papers, then the last LOOKBACK days' papers (already sent to many readers)."""
    fresh = pool[:today]
    texts = iter(pool[today:])
    old = [make_paper(id=pid, title=p.title, abstract=p.abstract)
           for day in range(1, LOOKBACK + 1) for pid, p in zip(history_ids(day, listed), texts)]
    return fresh + old


# --- the measured send, in a fresh process ------------------------------------------

def child(state_db: Path, listing: Path, readers_file: Path, outbox: Path) -> None:
    """Today's send work on ``state_db``; prints one JSON line of figures."""
    from digest.app import Digest
    from digest.settings import load_settings

    readers = [Subscriber(email=r["email"], keywords=tuple(r["keywords"]))
               for r in json.loads(readers_file.read_text(encoding="utf-8"))]
    settings = load_settings(None, {"DIGEST_FROM": "Digest <digest@example.org>", "DIGEST_STATE_DB": str(state_db),
                                    "DIGEST_MAX_ITEMS": "10"})
    app = Digest(settings)
    started, cpu = time.perf_counter(), cpu_seconds()
    report = app.send(readers, source=str(listing), dry_run=True, outbox=outbox)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    print(json.dumps({
        "seconds": seconds, "cpu_s": cpu,
        "written": len(report.written), "nothing_new": len(report.nothing_new),
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "child_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }))


def check_child(state_db: Path, listing: Path) -> None:
    """The history check alone, as the send does it, in its own process (its memory is not the send's)."""
    papers = [json.loads(line)["id"] for line in listing.read_text(encoding="utf-8").splitlines()]
    with Store.open(state_db) as store:
        store.db.execute("SELECT count(*) FROM addresses").fetchone()
        started, before = time.perf_counter(), status_kb("VmRSS")
        known = sum(map(len, store.sent_among(papers).values()))
        store.readers_sent_since(datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0))
        check_s = time.perf_counter() - started
    print(json.dumps({"check_s": check_s, "known": known,
                      "check_mb": (status_kb("VmHWM") - before) / 1024}))


def status_kb(field: str) -> int:
    """A field of /proc/self/status in kB (VmRSS: resident now, VmHWM: the peak so far; Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def cpu_seconds() -> float:
    """CPU time of this process and its (finished) children: steadier than wall time on a busy machine."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def old_load(state_db: Path) -> None:
    """What every send did before: load the whole history (``all_sent_ids``)."""
    started = time.perf_counter()
    with Store.open(state_db) as store:
        pairs = sum(map(len, store.all_sent_ids().values()))
    print(json.dumps({"seconds": time.perf_counter() - started, "pairs": pairs,
                      "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def measure(*args: str) -> dict:
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"measuring {args[0]} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def send_both(work: Path, history_db: Path, repeat: int) -> tuple[dict, dict]:
    """The same send on the empty and the full store, alternately; the best of ``repeat`` each."""
    runs: dict[str, list[dict]] = {"empty": [], "history": []}
    for _ in range(repeat):
        for name in runs:
            db = history_db if name == "history" else work / "empty.db"
            outbox = work / "outbox"
            shutil.rmtree(outbox, ignore_errors=True)
            db.unlink(missing_ok=True) if name == "empty" else None
            runs[name].append(measure("--child", str(db), str(work / "listing.jsonl"),
                                      str(work / "readers.json"), str(outbox)))
            runs[name][-1].update(measure("--check-child", str(db), str(work / "listing.jsonl")))
    best = {name: {key: min(r[key] for r in results) for key in results[0]} for name, results in runs.items()}
    pairs = sorted(h["cpu_s"] / e["cpu_s"] for h, e in zip(runs["history"], runs["empty"]))
    print("  each run's CPU time, s: with the history " + " ".join(f"{r['cpu_s']:.2f}" for r in runs["history"])
          + "; empty " + " ".join(f"{r['cpu_s']:.2f}" for r in runs["empty"])
          + f"; the ratio of each pair (run one after the other), median {pairs[len(pairs) // 2]:.2f}x")
    return best["empty"], best["history"]


def report(history: dict, empty: dict, full: dict, old: dict | None) -> None:
    per = history["bytes"] / history["deliveries"]
    print(f"store: {history['deliveries']:,} deliveries in {history['messages']:,} messages, "
          f"{history['bytes'] / 1e6:.0f} MB = {per:.1f} bytes per delivery [target <= 40: "
          f"{'ok' if per <= 40 else 'MISSED'}] (written in {history['seconds']:.0f} s)")
    print("  by table and index: " + ", ".join(
        f"{name} {size / history['deliveries']:.1f}" for name, size in
        sorted(history["tables"].items(), key=lambda item: -item[1]) if size / history["deliveries"] >= 0.05)
        + " bytes per delivery")
    print(f"history check (sent_among today's ids + readers_sent_since), in a process of its own: "
          f"{full['check_s'] * 1e3:.0f} ms and +{full['check_mb']:.1f} MB peak on the full store "
          f"({full['known']:,} (reader, paper) pairs already sent among today's papers), "
          f"{empty['check_s'] * 1e3:.0f} ms on the empty one")
    for label, key, unit in [("CPU time", "cpu_s", "s"), ("wall time", "seconds", "s"),
                             ("peak memory, sending process", "rss_mb", "MB"),
                             ("peak memory, rendering process", "child_rss_mb", "MB")]:
        ratio = full[key] / empty[key] if empty[key] else float("nan")
        print(f"today's send, {label}: {full[key]:.2f} {unit} with the history, {empty[key]:.2f} {unit} "
              f"on an empty store = {ratio:.2f}x [target <= {TARGET}x: {'ok' if ratio <= TARGET else 'MISSED'}]")
    print(f"  ({full['written']:,} digests built, {full['nothing_new']:,} readers with nothing new; "
          f"empty store: {empty['written']:,} built; CPU time counts both processes, and is the figure "
          f"to trust on a busy machine)")
    if old:
        print(f"the old full load of this history (all_sent_ids): {old['seconds']:.1f} s, "
              f"{old['rss_mb']:.0f} MB peak, {old['pairs']:,} pairs")


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*map(Path, sys.argv[2:6]))
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "--check-child":
        check_child(Path(sys.argv[2]), Path(sys.argv[3]))
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "--old-load-child":
        old_load(Path(sys.argv[2]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--per-day", type=int, default=10, help="papers each reader got each day")
    parser.add_argument("--listed", type=int, default=50, help="papers listed each day of the history")
    parser.add_argument("--today", type=int, default=200, help="new papers in today's listing")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each send; the best counts")
    parser.add_argument("--old-load", action="store_true", help="also time the old full load of the history")
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--workdir", type=Path, help="keep the files here, and reuse a history built there before "
                                                     "with the same options (default: a temporary folder)")
    args = parser.parse_args()
    if args.per_day > args.listed:
        parser.error("--per-day must be at most --listed")

    pool, origin = load_papers(args.today + LOOKBACK * args.listed, args.shared)
    profiles = distinct_profiles(keyword_pool(pool, args.shared), args.readers)
    print(f"readers: {args.readers:,}, history: {args.days} days x {args.per_day} papers each; "
          f"today's listing: {args.today} new + {LOOKBACK * args.listed} from the last {LOOKBACK} days ({origin})")
    with contextlib.ExitStack() as stack:
        work = args.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        work.mkdir(parents=True, exist_ok=True)
        listing = todays_listing(pool, args.today, args.listed)
        (work / "listing.jsonl").write_text("".join(json.dumps(p.to_json()) + "\n" for p in listing), encoding="utf-8")
        emails = [f"reader{n}@example.org" for n in range(len(profiles))]
        (work / "readers.json").write_text(json.dumps(
            [{"email": e, "keywords": list(p)} for e, p in zip(emails, profiles)]), encoding="utf-8")
        history = reuse_or_build(work, emails, args)
        empty, full = send_both(work, work / "history.db", args.repeat)
        old = measure("--old-load-child", str(work / "history.db")) if args.old_load else None
        report(history, empty, full, old)
    return 0


if __name__ == "__main__":
    sys.exit(main())
