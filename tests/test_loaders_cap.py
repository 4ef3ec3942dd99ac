"""A listing longer than DIGEST_MAX_PAPERS: the first papers are kept, the rest only counted.

Whatever the format, the papers kept are those reading the whole listing keeps (the
first ``max_papers`` distinct ones, by id and by DOI), and what comes after them is
never turned into papers: a 100,000-paper array costs what 5,000 papers cost.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.errors import DigestError
from digest.sources import FetchContext, fetch_all, resolve

from . import http_server
from .http_server import PlaybackServer, Reply

TODAY = date(2026, 8, 13)
UNREAD = {"json": "items", "jsonl": "lines", "atom": "entries", "rss": "items"}  # what each format leaves unread


@dataclass(frozen=True)
class Entry:
    number: int
    doi: str | None = None
    title: str | None = None  # "": an entry without a title, which is skipped with a warning

    @property
    def id(self) -> str:
        return f"2608.{self.number:05d}"

    @property
    def heading(self) -> str:
        return f"Paper {self.number}" if self.title is None else self.title


def as_json(entries: list[Entry]) -> str:
    return json.dumps([{"id": e.id, "title": e.heading, "abstract": f"Abstract {e.number}."} for e in entries])


def as_jsonl(entries: list[Entry]) -> str:
    return "".join(json.dumps({"id": e.id, "title": e.heading, "abstract": f"Abstract {e.number}."}) + "\n"
                   for e in entries)


def as_atom(entries: list[Entry]) -> str:
    body = "".join(
        f"<entry><id>http://arxiv.org/abs/{e.id}v1</id><title>{e.heading}</title>"
        f"<summary>Abstract {e.number}.</summary>{f'<arxiv:doi>{e.doi}</arxiv:doi>' if e.doi else ''}</entry>"
        for e in entries)
    return ('<feed xmlns="http://www.w3.org/2005/Atom" xmlns:arxiv="http://arxiv.org/schemas/atom">'
            f"{body}</feed>")


def as_rss(entries: list[Entry]) -> str:
    body = "".join(
        f"<item><title>{e.heading}</title><link>https://arxiv.org/abs/{e.id}</link>"
        f"<description>arXiv:{e.id}v1 Announce Type: new Abstract: Abstract {e.number}.</description>"
        f"<guid>oai:arXiv.org:{e.id}v1</guid><arxiv:announce_type>new</arxiv:announce_type>"
        f"{f'<arxiv:DOI>{e.doi}</arxiv:DOI>' if e.doi else ''}</item>"
        for e in entries)
    return f'<rss xmlns:arxiv="http://arxiv.org/schemas/atom" version="2.0"><channel>{body}</channel></rss>'


WRITERS = {"json": as_json, "jsonl": as_jsonl, "atom": as_atom, "rss": as_rss}


def saved(tmp_path: Path, fmt: str, entries: list[Entry], name: str = "listing") -> Path:
    path = tmp_path / f"{name}.{fmt if fmt.startswith('json') else 'xml'}"
    path.write_text(WRITERS[fmt](entries), "utf-8")
    return path


def kept(spec: str, max_papers: int):
    return fetch_all(resolve(spec), FetchContext(today=TODAY, max_papers=max_papers))


@pytest.mark.parametrize("fmt", WRITERS)
def test_the_papers_kept_are_those_reading_the_whole_listing_keeps(tmp_path: Path, fmt: str) -> None:
    # before the cap: a paper listed twice, two with one DOI (the same paper, in a feed) and one without a title
    entries = [Entry(n, doi=f"10.5555/{n}") for n in range(30)]
    entries[3] = Entry(1)
    entries[5] = Entry(5, doi="10.5555/4")
    entries[7] = Entry(7, title="")
    path = str(saved(tmp_path, fmt, entries))

    capped = kept(path, max_papers=10).papers
    whole = kept(path, max_papers=1000).papers

    assert [(p.id, p.title) for p in capped] == [(p.id, p.title) for p in whole[:10]]


@pytest.mark.parametrize("fmt", WRITERS)
def test_what_follows_the_first_max_papers_is_counted_not_read(tmp_path: Path, fmt: str) -> None:
    # a broken entry past the cap would be warned about if it were read
    entries = [Entry(n) for n in range(10)] + [Entry(10, title="")] + [Entry(n) for n in range(11, 16)]
    path = saved(tmp_path, fmt, entries)

    listing = kept(str(path), max_papers=10)

    assert [p.title for p in listing.papers] == [f"Paper {n}" for n in range(10)]
    assert listing.warnings == [f"{path}: kept the first 10 papers; 6 more {UNREAD[fmt]} not read "
                                "(raise DIGEST_MAX_PAPERS to keep more)"]


@pytest.mark.parametrize("fmt", ["atom", "rss"])
def test_a_later_source_reads_past_the_papers_an_earlier_one_stands_for(tmp_path: Path, fmt: str) -> None:
    # the first source's one paper is the second's first by id and its second by DOI: both are dropped,
    # and the second source must read two papers past max_papers to fill the places
    first = saved(tmp_path, fmt, [Entry(0, doi="10.5555/1")], "first")
    second = saved(tmp_path, fmt, [Entry(n, doi=f"10.5555/{n}") for n in range(10)], "second")

    listing = kept(f"{first}, {second}", max_papers=4)

    assert [p.id for p in listing.papers] == ["2608.00000", "2608.00002", "2608.00003", "2608.00004"]


entry = st.builds(Entry, st.integers(0, 5), st.sampled_from([None, "10.5555/1", "10.5555/2"]),
                  st.sampled_from([None, None, None, ""]))
sources = st.lists(st.tuples(st.sampled_from(sorted(WRITERS)), st.lists(entry, max_size=12)), min_size=1, max_size=3)


@settings(max_examples=150, deadline=None, database=None)
@given(sources, st.integers(1, 8))
def test_any_listings_keep_what_reading_them_whole_keeps(listings: list[tuple[str, list[Entry]]],
                                                          max_papers: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        paths = [saved(Path(folder), fmt, entries, f"s{n}") for n, (fmt, entries) in enumerate(listings)]
        spec = ", ".join(map(str, paths))
        try:
            whole = kept(spec, max_papers=1000).papers
        except DigestError:  # every source empty or broken: nothing to compare
            return
        capped = kept(spec, max_papers=max_papers).papers

    assert [(p.id, p.title) for p in capped] == [(p.id, p.title) for p in whole[:max_papers]]


@pytest.fixture
def web() -> Iterator[PlaybackServer]:
    playback = http_server.start()
    yield playback
    playback.shutdown()
    playback.server_close()


@pytest.mark.parametrize("spec, path, fmt", [
    ("{url}/listing.json", "/listing.json", "json"),
    ("{url}/listing.jsonl", "/listing.jsonl", "jsonl"),
    ("arxiv:cs.LG", "/rss/cs.LG", "rss"),
], ids=["url", "url-jsonl", "arxiv"])
def test_a_live_listing_is_cut_short_the_same_way(web: PlaybackServer, tmp_path: Path, spec: str, path: str,
                                                   fmt: str) -> None:
    from digest.sources.http import Fetcher

    web.route(path, Reply(body=WRITERS[fmt]([Entry(n) for n in range(25)]).encode()))
    fetcher = Fetcher(cache_dir=None, timeout=2)
    context = FetchContext(today=TODAY, http=fetcher, arxiv_base_url=web.url, max_papers=20)
    try:
        listing = fetch_all(resolve(spec.format(url=web.url)), context)
    finally:
        fetcher.close()

    assert len(listing.papers) == 20
    assert listing.warnings[-1].endswith(f": kept the first 20 papers; 5 more {UNREAD[fmt]} not read "
                                         "(raise DIGEST_MAX_PAPERS to keep more)")
