"""Scale: many readers against one listing, and the whole send pipeline over SMTP.

Two figures, each measured in the same run as its reference:

1. Ranking: 10,000 distinct keyword profiles against 1,000 papers (index once,
   score every profile). Target: under 2 s on a 2-core machine.
2. Sending: rank + render + build + send for 10,000 readers into a local SMTP
   server (aiosmtpd on 127.0.0.1), against the rate the same server accepts
   pre-built messages of the same size on one connection. Target: >= 60%.

Papers come from ../shared/ranking/docs.jsonl when it is beside the project (read
in place), else from a synthetic listing built from the bundled sample. Usage:

    python benchmarks/throughput.py [--readers 10000] [--papers 1000] [--shared PATH] [--skip-send]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from digest.app import Digest
from digest.keywords import parse_profile
from digest.model import Paper, Subscriber, make_paper
from digest.rank import Index, Selection, rank, rank_many
from digest.settings import load_settings
from digest.sources import FetchContext, SampleSource

ROOT = Path(__file__).resolve().parents[1]
STOP = set("a an the of for and in on to with by from via using based is are we our this that".split())


def load_papers(count: int, shared: Path) -> tuple[list[Paper], str]:
    docs = shared / "ranking" / "docs.jsonl"
    if docs.exists():
        papers = []
        with docs.open(encoding="utf-8") as handle:
            for line in handle:
                item = json.loads(line)
                papers.append(make_paper(id=item["id"], title=item["title"], abstract=item["abstract"]))
                if len(papers) == count:
                    break
        return papers, f"{len(papers)} abstracts from {docs}"
    return synthetic_papers(count), f"{count} synthetic papers from the bundled sample"


def synthetic_papers(count: int) -> list[Paper]:
    from datetime import date

    sample = SampleSource().fetch(FetchContext(today=date.today())).papers
    sentences = [s.strip() for p in sample for s in re.split(r"(?<=\.)\s+", p.abstract) if s.strip()]
    titles = [p.title for p in sample]
    rng = random.Random(7)
    return [
        make_paper(id=f"2699.{n:05d}", title=f"{rng.choice(titles)} ({n})",
                   abstract=" ".join(rng.sample(sentences, k=min(6, len(sentences)))))
        for n in range(count)
    ]


def keyword_pool(papers: list[Paper], shared: Path) -> list[str]:
    """Phrases readers might write: the labelled queries, frequent title bigrams, and title
    words frequent enough to be a topic but not so common that nobody would pick them
    (in at most 2% of titles: "control" yes, "system" or "approach" no)."""
    pool: list[str] = []
    qrels = shared / "ranking" / "qrels.jsonl"
    if qrels.exists():
        pool += [json.loads(line)["query"] for line in qrels.open(encoding="utf-8")]
    words = Counter()
    pairs = Counter()
    for paper in papers:
        tokens = [t for t in re.findall(r"[a-z][a-z-]+", paper.title.lower())]
        words.update({t for t in tokens if t not in STOP and len(t) > 3})
        pairs.update(f"{a} {b}" for a, b in zip(tokens, tokens[1:]) if a not in STOP and b not in STOP)
    limit = max(2, len(papers) // 50)
    pool += [w for w, n in words.most_common() if n <= limit][:600] + [p for p, _ in pairs.most_common(900)]
    return list(dict.fromkeys(pool))


def distinct_profiles(pool: list[str], count: int, seed: int = 11) -> list[tuple[str, ...]]:
    """``count`` different keyword lists, 3-6 keywords, some excluded, weighted or prefixed.

    Keywords are drawn with Zipf-like popularity (the k-th keyword of the shuffled pool
    weighted 1/k^0.8): a few topics are common, most are in a long tail, as in any
    real mailing list.
    """
    rng = random.Random(seed)
    order = pool[:]
    rng.shuffle(order)
    weights = [1 / (rank + 1) ** 0.8 for rank in range(len(order))]
    seen: set[tuple[str, ...]] = set()
    while len(seen) < count:
        chosen = list(dict.fromkeys(rng.choices(order, weights, k=rng.randint(3, 6))))
        decorated = []
        for keyword in chosen:
            roll = rng.random()
            if roll < 0.08:
                keyword = f"-{keyword}"
            elif roll < 0.15:
                keyword = f"{keyword}^2"
            elif roll < 0.20 and " " not in keyword:
                keyword = f"{keyword[: max(4, len(keyword) - 3)]}*"
            decorated.append(keyword)
        if not any(not k.startswith("-") for k in decorated):
            continue
        seen.add(tuple(decorated))
    return sorted(seen)


def bench_rank(papers: list[Paper], profiles: list[tuple[str, ...]]) -> dict[str, float]:
    started = time.perf_counter()
    parsed = [parse_profile(", ".join(p)) for p in profiles]
    parse_s = time.perf_counter() - started
    started = time.perf_counter()
    index = Index(papers)
    index_s = time.perf_counter() - started
    selection = Selection(max_items=10, min_score=2.0)
    started = time.perf_counter()
    picks = rank_many(index, parsed, selections=[selection] * len(parsed))
    rank_s = time.perf_counter() - started
    serial_index = Index(papers)  # the same work on one core, from a cold index
    started = time.perf_counter()
    serial = rank_many(serial_index, parsed, selections=[selection] * len(parsed), workers=1)
    serial_s = time.perf_counter() - started + index_s
    same = [[p.paper.id for p in r] for r in serial] == [[p.paper.id for p in r] for r in picks]
    return {
        "parse_s": parse_s, "index_s": index_s, "rank_s": rank_s, "serial_s": serial_s, "same": same,
        "total_s": parse_s + index_s + rank_s,
        "mean_picks": sum(map(len, picks)) / len(picks),
        "readers_with_picks": sum(1 for p in picks if p) / len(picks),
    }


# --- sending ----------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_smtp() -> tuple[subprocess.Popen, int]:
    """aiosmtpd in its own process (its own core and GIL), discarding what it accepts."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", "-c", "aiosmtpd.handlers.Sink"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server, port
        except OSError:
            time.sleep(0.05)
    server.kill()
    raise SystemExit("the local SMTP server did not start")


def raw_rate(port: int, messages: list[bytes], seconds: float = 10.0) -> float:
    """Pre-built messages over one connection: the server's ceiling for this size."""
    sent = 0
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            for number, message in enumerate(messages):
                smtp.sendmail("digest@example.org", [f"reader{number}@example.org"], message)
                sent += 1
        elapsed = time.perf_counter() - started
    return sent / elapsed


def bench_send(papers: list[Paper], profiles: list[tuple[str, ...]], workdir: Path) -> dict[str, float]:
    listing = workdir / "listing.jsonl"
    listing.write_text("".join(json.dumps(p.to_json()) + "\n" for p in papers), encoding="utf-8")
    server, port = start_smtp()
    try:
        settings = load_settings(None, {
            "DIGEST_FROM": "Digest <digest@example.org>", "DIGEST_SMTP_HOST": "127.0.0.1",
            "DIGEST_SMTP_PORT": str(port), "DIGEST_SMTP_SECURITY": "none",
            "DIGEST_STATE_DB": str(workdir / "state.db"), "DIGEST_MAX_ITEMS": "10",
        })
        readers = [Subscriber(email=f"reader{n}@example.org", keywords=profile) for n, profile in enumerate(profiles)]
        # the reference: the same kind of messages, built beforehand
        app = Digest(settings)
        index = Index(papers)
        sample = []
        for reader in readers[:200]:
            picks = rank(index, parse_profile(", ".join(reader.keywords)), selection=app.selection_for(reader))
            if picks:
                sample.append(app.build(reader, app.render(reader, picks))[1])
        reference = raw_rate(port, sample)
        started = time.perf_counter()
        report = app.send(readers, source=str(listing))
        elapsed = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait()
    rate = len(report.sent) / elapsed
    return {
        "reference_rate": reference, "pipeline_rate": rate, "ratio": rate / reference,
        "elapsed_s": elapsed, "sent": len(report.sent), "nothing_new": len(report.nothing_new),
        "failed": len(report.failed), "mean_kb": sum(map(len, sample)) / len(sample) / 1024,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=10_000)
    parser.add_argument("--papers", type=int, default=1_000)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--skip-send", action="store_true", help="only the ranking figure")
    args = parser.parse_args()

    papers, origin = load_papers(args.papers, args.shared)
    pool = keyword_pool(papers, args.shared)
    profiles = distinct_profiles(pool, args.readers)
    distinct_keywords = len({k for p in profiles for k in p})
    print(f"listing: {origin}")
    print(f"readers: {len(profiles)} distinct profiles, {distinct_keywords} distinct keywords "
          f"(of a pool of {len(pool)})")

    figures = bench_rank(papers, profiles)
    print(f"ranking: {figures['total_s']:.2f} s in all (parse {figures['parse_s']:.2f} s, index "
          f"{figures['index_s']:.2f} s, rank {figures['rank_s']:.2f} s = "
          f"{figures['rank_s'] / len(profiles) * 1e3:.3f} ms per reader); "
          f"{figures['readers_with_picks']:.0%} of readers get picks, {figures['mean_picks']:.1f} on average "
          f"[target < 2 s: {'ok' if figures['total_s'] < 2 else 'MISSED'}]")
    print(f"ranking on one core: {figures['serial_s'] + figures['parse_s']:.2f} s in all; "
          f"same picks as the two-core run: {figures['same']}")
    if args.skip_send:
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        send = bench_send(papers, profiles, Path(tmp))
    print(f"sending: reference {send['reference_rate']:.0f} msg/s (pre-built, {send['mean_kb']:.0f} KB, one "
          f"connection); pipeline {send['pipeline_rate']:.0f} msg/s (rank + render + build + send + record, "
          f"{send['sent']} sent, {send['nothing_new']} with nothing new, {send['failed']} failed, "
          f"{send['elapsed_s']:.1f} s) = {send['ratio']:.0%} of the reference "
          f"[target >= 60%: {'ok' if send['ratio'] >= 0.6 else 'MISSED'}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
