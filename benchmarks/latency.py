"""Latency to the relay: the send pipeline through an SMTP server 20 or 50 ms away.

Real relays are 10 to 100 ms away, not on loopback, and one SMTP connection pays
four round trips per message (MAIL, RCPT, DATA, end of data). This sends digests
through a delaying TCP proxy on 127.0.0.1 (benchmarks/delay_proxy.py, its own
process) in front of aiosmtpd (another process), for each round trip and each
``DIGEST_SMTP_CONNECTIONS``, and prints each rate beside a reference measured in
the same run through the same proxy: smtplib sending pre-built messages of the
same size over as many parallel connections (one thread each).

Target (issue #13, "latency"): 10,000 readers, 20 ms, 8 connections: at least 70%
of the reference.

Readers, profiles and the listing are benchmarks/throughput.py's. A slow
combination (one connection at 50 ms would take ~17 minutes for 10,000 readers) is
run with fewer readers, so that it lasts about ``--max-seconds`` at the rate the
reference just measured; the count used is printed, and rates are per second, so
comparable. The issue's combination (20 ms, 8 connections) always sends to all
``--readers``. The reference is measured just before and just after each send and
averaged, as the load of a shared machine drifts. Usage:

    python benchmarks/latency.py [--readers 10000] [--delays 20,50] [--connections 1,4,8]
                                 [--max-seconds 60] [--reference-seconds 10] [--shared PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import smtplib
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from delay_proxy import start_proxy  # noqa: E402
from throughput import built_sample, distinct_profiles, keyword_pool, load_papers, start_smtp  # noqa: E402

from digest.app import make_digest  # noqa: E402
from digest.model import Paper, Subscriber  # noqa: E402
from digest.settings import load_settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TARGET = (20.0, 8, 0.70)  # round trip (ms), connections, share of the reference
MIN_READERS = 200  # the send pipeline's second process starts from 200 readers, as in a real list
SENDER = "digest@example.org"


@dataclass
class Run:
    round_trip_ms: float
    connections: int
    readers: int
    sent: int
    failed: int
    elapsed: float
    reference: float
    references: tuple[float, float]  # before, after

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed

    @property
    def ratio(self) -> float:
        return self.rate / self.reference


def settings_for(port: int, connections: int, state_db: Path) -> dict[str, str]:
    return {
        "DIGEST_FROM": f"Digest <{SENDER}>", "DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(port),
        "DIGEST_SMTP_SECURITY": "none", "DIGEST_STATE_DB": str(state_db), "DIGEST_MAX_ITEMS": "10",
        "DIGEST_SMTP_CONNECTIONS": str(connections),
    }


def sample_messages(papers: list[Paper], readers: list[Subscriber], workdir: Path) -> tuple[list[bytes], float]:
    """Messages built as the pipeline builds them (first 200 readers), and the share of readers with picks."""
    sample = built_sample(make_digest(load_settings(None, settings_for(25, 1, workdir / "sample.db"))), papers, readers)
    return sample, len(sample) / min(len(readers), 200)


def round_trip(port: int, tries: int = 15) -> float:
    """The median NOOP round trip through the proxy, in seconds."""
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        times = []
        for _ in range(tries):
            started = time.perf_counter()
            smtp.noop()
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def reference_rate(port: int, messages: list[bytes], connections: int, seconds: float) -> float:
    """Pre-built messages over ``connections`` parallel smtplib connections (one thread each)."""
    counts = [0] * connections
    ends = [0.0] * connections
    started = time.perf_counter()

    def send(slot: int) -> None:
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            number = slot
            while time.perf_counter() - started < seconds:
                smtp.sendmail(SENDER, [f"reader{number}@example.org"], messages[number % len(messages)])
                counts[slot] += 1
                number += connections
                ends[slot] = time.perf_counter()

    threads = [threading.Thread(target=send, args=(slot,)) for slot in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (max(ends) - started)


def readers_for(wanted: int, reference: float, with_picks: float, max_seconds: float) -> int:
    """As many readers as fit in ``max_seconds`` at the reference rate (whole hundreds), at most ``wanted``."""
    fits = int(reference * max_seconds / max(with_picks, 0.01)) // 100 * 100
    return max(min(wanted, fits), min(wanted, MIN_READERS))


def pipeline(port: int, connections: int, readers: list[Subscriber], listing: Path,
             state_db: Path) -> tuple[int, int, float]:
    """``digest send`` through the library API: (sent, failed, seconds), ranking and recording included."""
    app = make_digest(load_settings(None, settings_for(port, connections, state_db)))
    started = time.perf_counter()
    report = app.send(readers, source=str(listing))
    return len(report.sent), len(report.failed), time.perf_counter() - started


def one_combination(port: int, round_trip_ms: float, connections: int, args: argparse.Namespace,
                    readers: list[Subscriber], sample: list[bytes], with_picks: float, workdir: Path) -> Run:
    """The reference just before and just after the pipeline (the load of a shared machine drifts), averaged."""
    before = reference_rate(port, sample, connections, args.reference_seconds)
    count = len(readers)
    if (round_trip_ms, connections) != TARGET[:2]:
        count = readers_for(count, before, with_picks, args.max_seconds)
    state_db = workdir / f"state-{round_trip_ms:g}-{connections}.db"
    sent, failed, elapsed = pipeline(port, connections, readers[:count], workdir / "listing.jsonl", state_db)
    after = reference_rate(port, sample, connections, args.reference_seconds)
    return Run(round_trip_ms, connections, count, sent, failed, elapsed, (before + after) / 2, (before, after))


def describe(run: Run) -> str:
    line = (f"{run.round_trip_ms:g} ms, {run.connections} connection{'s' if run.connections > 1 else ''}: "
            f"pipeline {run.rate:.1f} msg/s ({run.readers} readers, {run.sent} sent, {run.failed} failed, "
            f"{run.elapsed:.1f} s); reference {run.reference:.1f} msg/s (before {run.references[0]:.1f}, after "
            f"{run.references[1]:.1f}) = {run.ratio:.0%} of the reference")
    if (run.round_trip_ms, run.connections) == TARGET[:2]:
        line += f" [target >= {TARGET[2]:.0%}: {'ok' if run.ratio >= TARGET[2] else 'MISSED'}]"
    return line


def load() -> str:
    return "load average " + ", ".join(f"{value:.2f}" for value in os.getloadavg())


def run_all(args: argparse.Namespace, papers: list[Paper], readers: list[Subscriber], workdir: Path) -> list[Run]:
    (workdir / "listing.jsonl").write_text("".join(json.dumps(p.to_json()) + "\n" for p in papers), encoding="utf-8")
    sample, with_picks = sample_messages(papers, readers, workdir)
    print(f"messages: {sum(map(len, sample)) / len(sample) / 1024:.0f} KB on average; "
          f"{with_picks:.0%} of readers get one")
    server, smtp_port = start_smtp()
    runs = []
    try:
        for delay in args.delays:
            proxy, port = start_proxy(smtp_port, delay)
            try:
                print(f"relay {delay:g} ms away: measured round trip {round_trip(port) * 1e3:.1f} ms")
                for connections in args.connections:
                    runs.append(one_combination(port, delay, connections, args, readers, sample, with_picks, workdir))
                    print("  " + describe(runs[-1]) + f" ({load()})", flush=True)
            finally:
                proxy.terminate()
                proxy.wait()
    finally:
        server.terminate()
        server.wait()
    return runs


def table(runs: list[Run]) -> str:
    lines = ["| round trip | connections | readers | digest send msg/s | reference msg/s | ratio |",
             "| --- | --- | --- | --- | --- | --- |"]
    for run in runs:
        lines.append(f"| {run.round_trip_ms:g} ms | {run.connections} | {run.readers:,} | {run.rate:.1f} | "
                     f"{run.reference:.1f} | {run.ratio:.0%} |")
    return "\n".join(lines)


def numbers(text: str, kind: type) -> list:
    return [kind(part) for part in text.split(",") if part.strip()]


def stop_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so the servers this started are stopped on the way out."""
    def stop(number: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def main() -> int:
    stop_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=10_000)
    parser.add_argument("--delays", type=lambda text: numbers(text, float), default=[20.0, 50.0],
                        help="round trips to the relay, in ms (default 20,50)")
    parser.add_argument("--connections", type=lambda text: numbers(text, int), default=[1, 4, 8],
                        help="DIGEST_SMTP_CONNECTIONS values (default 1,4,8)")
    parser.add_argument("--max-seconds", type=float, default=60.0,
                        help="fewer readers for a combination that would take longer (default 60)")
    parser.add_argument("--reference-seconds", type=float, default=10.0)
    parser.add_argument("--papers", type=int, default=1_000)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    args = parser.parse_args()

    papers, origin = load_papers(args.papers, args.shared)
    profiles = distinct_profiles(keyword_pool(papers, args.shared), args.readers)
    readers = [Subscriber(email=f"reader{n}@example.org", keywords=profile) for n, profile in enumerate(profiles)]
    print(f"listing: {origin}; {len(readers)} readers; {load()}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            runs = run_all(args, papers, readers, Path(tmp))
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
    print(f"\n{table(runs)}\n\n{time.perf_counter() - started:.0f} s in all; {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
