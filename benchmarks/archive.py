"""Archive: bytes of database per archived digest, kept as records against the HTML kept before.

One day's send of ``--readers`` readers (10,000) with up to ``--picks`` picks (20) each
from ``--papers`` papers (1,000) at ``--min-score`` (0: every reader's digest is full):
each reader's digest is ranked and rendered as the send does it (with DIGEST_PUBLIC_URL
links; a digest the maximum cut keeps the papers beyond its picks for the reader's whole
list, as the send does), then archived twice through the store's own API,
in batches of 50 as the recorder writes them: once as zlib-compressed HTML (the archive
before, ``archive_many``), once as records (``archive_digests``). Prints the bytes each
adds to an empty database per digest, the shared tables included (papers, profiles), the
time per digest, the share of each table, and checks a sample of pages re-renders byte for byte.

    PYTHONPATH=. python benchmarks/archive.py [--readers 10000] [--picks 20] [--papers 1000] [--min-score 0]
                                              [--workdir DIR]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from throughput import ROOT, distinct_profiles, keyword_pool, load_papers

from digest.app import Digest
from digest.archive import keep, render_kept
from digest.errors import KeywordError
from digest.ranking.profile import parse_profile
from digest.model import Listing, Subscriber
from digest.sending.produce import picks_and_total
from digest.settings import Settings
from digest.store import Store

BATCH = 50
NOON = datetime(2026, 11, 23, 12, tzinfo=timezone.utc).timestamp()


def digests(app: Digest, listing: Listing, readers: list[Subscriber]) -> tuple[list, list]:
    """(HTML rows, records) of every reader's digest, rendered as the send renders it."""
    pages, records = [], []
    today = app.today()
    source, day = app.describe(listing)
    index = app.make_index(listing.papers)
    for reader in readers:
        picks, total, more = picks_and_total(app, index, reader, set())
        if not picks:
            continue
        html = app.render(reader, picks, listing=listing, total=total, sent_on=today).html
        message_id = f"<{int(NOON)}.{len(pages)}.{random.getrandbits(60)}@digest.example.org>"
        pages.append((reader.email, message_id, today, html))
        records.append(keep(reader, picks, message_id=message_id, sent_on=today, source=source, day=day,
                            templates=app.renderer.version, total=total, more=more))
    return pages, records


def archived_bytes(path: Path, emails: list[str], write) -> tuple[int, float]:
    """(bytes the archive added to a database that knows the readers, seconds spent writing).

    A send records each delivery (and so the reader's address) before it archives: the
    addresses are the delivery ledger's, not the archive's.
    """
    with Store.open(path) as store:
        store.db.executemany("INSERT INTO addresses (email) VALUES (?)", [(e,) for e in emails])
    empty = path.stat().st_size
    with Store.open(path) as store:
        started = time.perf_counter()
        write(store)
        spent = time.perf_counter() - started
    return path.stat().st_size - empty, spent


def _parses(keywords: tuple[str, ...]) -> bool:
    try:
        parse_profile(keywords)
    except KeywordError:
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readers", type=int, default=10_000)
    parser.add_argument("--picks", type=int, default=20)
    parser.add_argument("--papers", type=int, default=1000)
    parser.add_argument("--min-score", type=float, default=0.0)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="digest-archive-"))
    papers, origin = load_papers(args.papers, ROOT.parent / "shared")
    profiles = [p for p in distinct_profiles(keyword_pool(papers, ROOT.parent / "shared"), 2 * args.readers)
                if _parses(p)][: args.readers]
    readers = [Subscriber(email=f"reader{n}@example.org", keywords=p) for n, p in enumerate(profiles)]
    settings = Settings(state_db=workdir / "unused.db", public_url="https://digest.example.org",
                        secret_key="benchmark-secret-key-benchmark-secret", max_items=args.picks,
                        min_score=args.min_score)
    with Digest(settings, clock=lambda: NOON) as app:
        started = time.perf_counter()
        pages, records = digests(app, Listing("arxiv:cs.LG", papers), readers)
        print(f"{len(records)} digests ({origin}), {sum(len(r.picks) for r in records) / len(records):.1f} picks "
              f"and {sum(len(r.more) for r in records) / len(records):.1f} papers beyond them (whole lists) "
              f"each on average, ranked and rendered in {time.perf_counter() - started:.1f} s")
        emails = [email for email, *_ in pages]
        old, old_s = archived_bytes(workdir / "html.db", emails, lambda store: [
            store.archive_many(pages[i:i + BATCH]) for i in range(0, len(pages), BATCH)])
        new, new_s = archived_bytes(workdir / "records.db", emails, lambda store: [
            store.archive_digests(records[i:i + BATCH]) for i in range(0, len(records), BATCH)])
        with Store.open(workdir / "records.db") as store:
            for kept, (email, _, day, html) in list(zip(records, pages))[:: max(1, len(records) // 50)]:
                again = store.kept_digest(email, day.isoformat())
                assert again is not None and render_kept(app.renderer, settings, again) == html, email
    count = len(records)
    print(f"HTML, zlib (before): {old / count:8.0f} bytes per digest, {old_s / count * 1e3:.2f} ms to archive")
    print(f"records (now):       {new / count:8.0f} bytes per digest, {new_s / count * 1e3:.2f} ms to archive "
          f"({old / new:.1f}x smaller; target 500 bytes)")
    print(f"90 days of {count} readers: {old * 90 / 2**30:.2f} GiB before, {new * 90 / 2**30:.2f} GiB now "
          "(papers shared within a day only: an upper bound)")
    shares = table_bytes(workdir / "records.db")
    print("  of which, per digest: " + ", ".join(f"{name} {size / count:.0f}" for name, size in shares.items()))
    steady = (new - shares["archive_profiles"]) / count
    print(f"  from the second day on (a reader's profile is stored once, not daily): {steady:.0f} bytes per digest")
    print("50 sampled pages re-rendered byte for byte from their records")
    return 0


def table_bytes(path: Path) -> dict[str, int]:
    """Bytes of each archive table with its indexes (SQLite's dbstat)."""
    with Store.open(path) as store:
        rows = store.db.execute("SELECT coalesce(t.tbl_name, d.name), sum(d.pgsize) FROM dbstat AS d "
                                "LEFT JOIN sqlite_master AS t ON t.name = d.name GROUP BY 1").fetchall()
    return {name: int(size) for name, size in rows if name.startswith("archive_")}  # archive_lists: whole lists


if __name__ == "__main__":
    raise SystemExit(main())
