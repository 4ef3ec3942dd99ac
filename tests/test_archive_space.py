"""Pruning the archive gives its space back to the disk; ``digest store compact`` does it for an old file.

Real SQLite files in tmp_path, filled with kept digests of many readers and days.
"""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pytest

from digest.model import Paper
from digest.store import KeptDigest, KeptPick, Store

FIRST = date(2026, 10, 1)
DAYS, READERS, PICKS = 20, 40, 20


def digests_of(day: date) -> list[KeptDigest]:
    papers = [Paper(id=f"{day:%y%m}.{day.day:02d}{n:03d}", title=f"Paper {n} of {day}", abstract="words " * 150)
              for n in range(60)]
    return [KeptDigest(email=f"r{r}@example.org", message_id=f"<{day}.{r}@example.org>", sent_on=day,
                       source="arXiv cs.LG", day=day, templates="t1", total=30, keywords=("model",), terms=("model",),
                       picks=tuple(KeptPick(papers[(r + n) % 60], 1.5 + n, n + 1, (("model", False),))
                                   for n in range(PICKS)))
            for r in range(READERS)]


def fill(path: Path, keep_days: int = 90) -> None:
    with Store.open(path) as store:
        for offset in range(DAYS):
            store.archive_digests(digests_of(FIRST + timedelta(days=offset)), keep_days=keep_days)


def size(path: Path) -> int:
    """The file's size once the WAL is folded in (the last connection closed).

    The tests compare what grows above the empty schema's pages (``empty``): a few
    hundred bytes a digest, the archive is smaller than the schema itself here.
    """
    return path.stat().st_size


def old_style_file(path: Path) -> None:
    """A database made before incremental auto-vacuum: free pages stay in the file."""
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA auto_vacuum=NONE")
    raw.execute("CREATE TABLE made_before (x)")
    raw.close()


def test_a_new_database_gives_pruned_space_back_to_the_disk(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    Store.open(path).close()
    empty = size(path)  # the schema's own pages: the archive's bytes are what grows above them
    fill(path)
    full = size(path)

    with Store.open(path) as store:
        store.archive_digests(digests_of(FIRST + timedelta(days=DAYS)), keep_days=2)
        assert store.db.execute("SELECT count(DISTINCT day) FROM archive_records").fetchone()[0] == 3

    assert size(path) - empty < (full - empty) / 2


def test_an_old_database_keeps_its_free_pages_until_compacted(tmp_path: Path, run_cli,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "state.db"
    old_style_file(path)
    Store.open(path).close()
    empty = size(path)
    fill(path)
    with Store.open(path) as store:
        store.prune_archive(FIRST + timedelta(days=DAYS - 2))
    pruned = size(path)
    monkeypatch.setenv("DIGEST_STATE_DB", str(path))

    code, out, err = run_cli("store", "compact")

    assert code == 0 and err == "" and out.startswith(f"{path}: ")
    assert size(path) - empty < (pruned - empty) / 2
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental from now on


def test_after_compacting_an_old_database_each_prune_shrinks_it(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    old_style_file(path)
    with Store.open(path) as store:
        store.compact()
    empty = size(path)
    fill(path)
    full = size(path)

    with Store.open(path) as store:
        store.prune_archive(FIRST + timedelta(days=DAYS - 2))

    assert size(path) - empty < (full - empty) / 2


def test_compact_waits_for_a_running_send_and_says_so(tmp_path: Path, run_cli,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from digest.lock import send_lock

    path = tmp_path / "state.db"
    fill(path)
    monkeypatch.setenv("DIGEST_STATE_DB", str(path))
    with send_lock(path):
        code, _, err = run_cli("store", "compact", "--wait", "0.2")
    assert code == 1 and err.count("\n") == 1 and "another digest send" in err


def test_compact_without_a_database_names_the_setting(tmp_path: Path, run_cli,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_STATE_DB", str(tmp_path / "nowhere.db"))
    code, out, err = run_cli("store", "compact")
    assert code == 1 and out == "" and err.count("\n") == 1 and "DIGEST_STATE_DB" in err
    assert not (tmp_path / "nowhere.db").exists()
