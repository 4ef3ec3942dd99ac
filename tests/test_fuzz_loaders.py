"""Property tests: whatever bytes or JSON a listing holds, loading it either gives
well-formed papers or raises a DigestError (one line at the CLI), never anything else.

Bounded: a few hundred examples each, a few seconds in all.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest.errors import DigestError
from digest.model import Listing, MissingText, Paper, make_paper
from digest.sources import FetchContext, FileSource, fetch_all, resolve
from digest.sources.hf_text import parse_hf_text
from digest.sources.http import Fetcher
from digest.sources.parse import parse_listing

from . import http_server
from .http_server import Reply

TODAY = date(2026, 8, 13)
FUZZ = settings(max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
FUZZ_SHAPES = settings(FUZZ, max_examples=50)  # generating nested JSON costs more than parsing it
INVISIBLE = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")

# Text that likes to break things: bidi controls, NUL, odd whitespace, lone surrogates (valid
# JSON: "\ud800") and the halves of a pair. Every Unicode category is drawn, Cs included.
nasty_chars = st.sampled_from("\u202e\u2066\u2069\u200f\u061c\x00\x1b\x85\u2028\t\n\r \ufeff\U0001f600"
                              "\ud800\udbff\udc00\udfff\ud83d\ude00")
any_char = st.characters()  # no codec and no exclusions: every category, Cs (surrogates) included


def text_of(chars: st.SearchStrategy[str], min_size: int = 0, max_size: int = 40) -> st.SearchStrategy[str]:
    """Not ``st.text``: it merges an alphabet of several strategies into code point ranges,
    where the few surrogates among a million code points are almost never drawn."""
    return st.lists(chars, min_size=min_size, max_size=max_size).map("".join)


nasty_text = text_of(st.one_of(nasty_chars, any_char))
json_scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=10**40)
                | st.floats() | nasty_text)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[http_server.PlaybackServer, Fetcher]]:
    """One real local HTTP server and client for every example (no cache: each example is fresh)."""
    server = http_server.start()
    fetcher = Fetcher(cache_dir=None, timeout=2, retries=0)
    yield server, fetcher
    fetcher.close()
    server.shutdown()
    server.server_close()


def maybe(good: st.SearchStrategy) -> st.SearchStrategy:
    """Usually the right type, sometimes any JSON value at all."""
    return st.one_of(good, good, json_values)


words = text_of(st.one_of(any_char, any_char, any_char, nasty_chars), min_size=1, max_size=30)
hf_paper = st.fixed_dictionaries(
    {"id": maybe(st.sampled_from(["2608.00001", "2608.00002", "cs/0101001", "x"])),
     "title": maybe(words | nasty_text), "summary": maybe(words | nasty_text)},
    optional={"authors": maybe(st.lists(st.fixed_dictionaries({"name": maybe(words)}), max_size=3)),
              "upvotes": maybe(st.integers(min_value=0, max_value=500)),
              "publishedAt": maybe(st.sampled_from(["2026-08-13T00:00:00.000Z", "2026-02-30", ""])),
              "githubRepo": maybe(st.just("https://github.com/example/x")),
              "ai_keywords": maybe(st.lists(words, max_size=3)),
              "organization": maybe(st.fixed_dictionaries({"fullname": maybe(words)}))},
)
hf_item = st.fixed_dictionaries({"paper": maybe(hf_paper)}, optional={"title": maybe(words),
                                                                      "organization": json_values})
plain_item = st.fixed_dictionaries(
    {"title": maybe(words | nasty_text), "abstract": maybe(words | nasty_text)},
    optional={key: json_values for key in ("id", "authors", "authors_count", "published", "upvotes", "url",
                                           "github", "organization", "keywords")},
)
items = st.lists(st.one_of(hf_item, plain_item, json_values), max_size=6)


def check(paper: Paper) -> None:
    """What every later stage may rely on, whatever the listing said."""
    for text in (paper.id, paper.title, paper.abstract, *paper.authors):
        assert isinstance(text, str) and text and text == text.strip()
        assert not INVISIBLE.search(text) and "\n" not in text
    for optional in (paper.url, paper.github, paper.organization):
        assert optional is None or (isinstance(optional, str) and optional and not INVISIBLE.search(optional))
    for text in (paper.id, paper.title, paper.abstract, *paper.authors, *paper.keywords,
                 paper.url or "", paper.github or "", paper.organization or ""):
        text.encode("utf-8")  # a lone surrogate here is a UnicodeEncodeError in the store, render and mail
    for count in (paper.upvotes, paper.authors_count):
        assert count is None or (type(count) is int and 0 <= count <= 10**9)
    assert paper.published is None or isinstance(paper.published, date)
    assert all(isinstance(k, str) for k in paper.keywords)
    json.dumps(paper.to_json())


def load_or_fail(data: bytes) -> Listing | None:
    try:
        listing = parse_listing(data, "fuzz", today=TODAY)
    except DigestError as err:
        assert str(err).startswith("fuzz: ") and "\n" not in str(err)
        return None
    for paper in listing.papers:
        check(paper)
    return listing


@FUZZ
@given(st.binary(max_size=300))
def test_arbitrary_bytes_give_papers_or_a_digest_error(data: bytes) -> None:
    load_or_fail(data)


PREFIXES = [b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\xff\xfe\x00\x00", b"<?xml version='1.0'?>",
            b"<?xml version='1.0' encoding='ISO-8859-1'?>", b'<?xml version="1.0" encoding="utf-16"?>',
            b'<feed xmlns="http://www.w3.org/2005/Atom"><entry>', b"<rss><channel><item>", b"<html>",
            b"[", b"{", b'{"title": "T", "abstract": "A"}\n', b"Daily Papers\n", b"Subscribe"]


@FUZZ
@given(st.sampled_from(PREFIXES), st.binary(max_size=300))
def test_bytes_that_start_like_each_format_give_papers_or_a_digest_error(prefix: bytes, tail: bytes) -> None:
    load_or_fail(prefix + tail)


@FUZZ_SHAPES
@given(items, st.sampled_from(["utf-8", "utf-16", "utf-8-sig"]), st.booleans())
def test_hf_api_shaped_json_with_wrong_types_gives_checked_papers(value: list, encoding: str, escaped: bool) -> None:
    """``escaped``: non-ASCII as ``\\uXXXX``, as the HF API sends it, so a lone surrogate reaches the loader."""
    load_or_fail(json.dumps(value, ensure_ascii=escaped).encode(encoding, "surrogatepass"))


dense_nasty = text_of(st.one_of(nasty_chars, st.sampled_from("ab ")), min_size=1, max_size=12)


@FUZZ
@given(dense_nasty, dense_nasty, st.lists(dense_nasty, max_size=3), dense_nasty, st.booleans())
def test_bidi_and_control_characters_never_survive_loading(title, abstract, authors, org, hf) -> None:
    item = ({"paper": {"id": "2608.00001", "title": title, "summary": abstract, "organization": {"fullname": org},
                       "authors": [{"name": a} for a in authors]}} if hf else
            {"title": title, "abstract": abstract, "authors": authors, "organization": org, "url": org})
    load_or_fail(json.dumps([item]).encode())


@FUZZ_SHAPES
@given(st.lists(st.one_of(plain_item, hf_item, json_values), min_size=2, max_size=6))
def test_json_lines_with_wrong_types_give_checked_papers(tmp_path: Path, lines: list) -> None:
    path = tmp_path / "fuzz.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    try:
        listing = FileSource(path).fetch(FetchContext(today=TODAY))
    except DigestError:
        return
    for paper in listing.papers:
        check(paper)


@FUZZ
@given(st.binary(max_size=400))
def test_arbitrary_files_give_papers_or_a_digest_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.bin"
    path.write_bytes(data)
    try:
        listing = FileSource(path).fetch(FetchContext(today=TODAY, max_bytes=200))
    except DigestError as err:
        assert str(err).startswith(f"{path}: ")
        return
    for paper in listing.papers:
        check(paper)


@FUZZ
@given(st.lists(st.tuples(nasty_text, nasty_text, nasty_text), min_size=1, max_size=3), st.booleans())
def test_atom_and_rss_with_nasty_text_give_checked_papers(entries: list, atom: bool) -> None:
    load_or_fail(_feed(entries, atom))


def _feed(entries: list[tuple[str, str, str]], atom: bool) -> bytes:
    ns = "{http://www.w3.org/2005/Atom}" if atom else ""
    root = ET.Element(f"{ns}feed") if atom else ET.Element("rss")
    parent = root if atom else ET.SubElement(root, "channel")
    for title, summary, author in entries:
        entry = ET.SubElement(parent, f"{ns}entry" if atom else "item")
        ET.SubElement(entry, f"{ns}title").text = title
        ET.SubElement(entry, f"{ns}summary" if atom else "description").text = summary
        ET.SubElement(ET.SubElement(entry, f"{ns}author"), f"{ns}name").text = author
    return ET.tostring(root, encoding="utf-8")


@FUZZ
@given(st.lists(st.tuples(nasty_text, nasty_text), min_size=1, max_size=4))
def test_saved_hf_pages_with_nasty_text_give_checked_papers(blocks: list) -> None:
    body = "\n\n".join(f"{title}\n{abstract} " + "x" * 80 for title, abstract in blocks)
    load_or_fail(f"Daily Papers\n\n{body}\n".encode("utf-8", "surrogatepass"))


@FUZZ
@given(st.lists(st.tuples(nasty_text, nasty_text), min_size=1, max_size=4))
def test_saved_hf_page_text_with_any_characters_gives_checked_papers(blocks: list) -> None:
    """The text parser itself, handed a string that no file decoder would give (a lone surrogate)."""
    body = "\n\n".join(f"{title}\n{abstract} " + "x y " * 40 for title, abstract in blocks)
    papers, _ = parse_hf_text(f"Daily Papers\n\n{body}\n", today=TODAY)
    for paper in papers:
        check(paper)


@FUZZ
@given(nasty_text, nasty_text, st.lists(nasty_text, max_size=3), nasty_text, st.lists(nasty_text, max_size=3))
def test_make_paper_gives_encodable_text_whatever_it_is_handed(title, abstract, authors, org, keywords) -> None:
    """Every loader ends here, so this is the one place the text is made safe."""
    try:
        paper = make_paper(title, abstract, id=org, authors=authors, organization=org, url=org, github=org,
                           keywords=tuple(keywords))
    except MissingText:
        return
    check(paper)


hf_text_item = st.builds(
    lambda number, title, summary, names, org: {
        "paper": {"id": f"2608.{number:05d}", "title": title, "summary": summary,
                  "authors": [{"name": name} for name in names], "ai_keywords": names},
        "organization": {"fullname": org}},
    st.integers(1, 99999), nasty_text, nasty_text, st.lists(nasty_text, max_size=3), nasty_text)


@FUZZ_SHAPES
@given(st.lists(st.one_of(hf_text_item, hf_item), min_size=1, max_size=4), st.sampled_from(["hf", "url"]))
def test_hf_api_over_http_gives_checked_papers(http: tuple, value: list, spec: str) -> None:
    server, fetcher = http
    server.route("/api/daily_papers", Reply.json(json.dumps(value)))  # non-ASCII escaped, as the API sends it
    source = "hf" if spec == "hf" else f"{server.url}/api/daily_papers"
    try:
        listing = fetch_all(resolve(source), FetchContext(today=TODAY, http=fetcher, hf_base_url=server.url))
    except DigestError:
        return
    for paper in listing.papers:
        check(paper)


@FUZZ_SHAPES
@given(st.lists(hf_item, min_size=1, max_size=4))
def test_loaded_papers_survive_a_round_trip_through_json_lines(value: list) -> None:
    listing = load_or_fail(json.dumps(value).encode())
    if listing is None:
        return
    again = parse_listing("".join(json.dumps(p.to_json()) + "\n" for p in listing.papers).encode(), "again")
    assert again.papers == listing.papers


# The command line: nasty files are one line, never a traceback ---------------------------

NASTY_FILES = {
    "deep.json": b"[" * 100_000 + b"]" * 100_000,
    "deep.xml": b"<rss>" + b"<a>" * 100_000 + b"</a>" * 100_000 + b"</rss>",
    "digits.json": b'[{"title": "T", "abstract": "A", "upvotes": ' + b"9" * 5000 + b"}]",
    "types.json": json.dumps([{"paper": {"id": "2608.00001", "title": "T", "summary": "A",
                                         "authors": [{"name": 1}], "githubRepo": 2, "upvotes": "x"},
                               "organization": {"fullname": []}}]).encode(),
    "nothing-but-bad.jsonl": b'{"title": 1, "abstract": 2}\n{"title": [], "abstract": {}}\n',
    "utf16.txt": "Daily Papers\nA title\nAn abstract long enough to be one.".encode("utf-16"),
    "binary.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "bidi.json": json.dumps([{"title": "\u202e\u2066", "abstract": "A"}]).encode(),
}


@pytest.mark.parametrize("name", NASTY_FILES)
def test_cli_papers_on_a_nasty_file_is_never_a_traceback(tmp_path: Path, run_cli, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(NASTY_FILES[name])

    code, out, err = run_cli("papers", "--source", str(path), "--json")

    lines = err.strip().splitlines()
    if code == 0 and not out:  # a feed of no items: an empty day, no error
        assert lines == [f"digest: {path}: no papers listed"]
    elif code == 0:
        assert all(line.startswith("digest: warning: ") for line in lines)
    else:
        assert code == 1 and out == ""
        assert len(lines) == 1 and re.match(f"digest: (error: )?{re.escape(str(path))}: ", lines[0])


def test_a_real_digest_process_reports_deep_json_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_bytes(NASTY_FILES["deep.json"])

    done = subprocess.run([sys.executable, "-m", "digest", "--env-file", "/dev/null", "papers", "--source",
                           str(path)], capture_output=True, text=True, timeout=60, cwd=tmp_path)

    assert done.returncode == 1
    assert done.stderr == f"digest: error: {path}: JSON nested too deeply to be a listing\n"
