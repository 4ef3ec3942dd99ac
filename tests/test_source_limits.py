"""Live sources are bounded in time and size, whatever the server does.

A real HTTP server on 127.0.0.1 trickles headers and bodies, sends bodies that never
end, gzip bombs and oversized bodies. Each request ends within about a second of its
deadline (3 x DIGEST_HTTP_TIMEOUT) or as soon as the body passes DIGEST_HTTP_MAX_BYTES,
with one line naming the URL and the setting, and nothing cut short is cached.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from digest.errors import SourceError
from digest.sources.http import Fetcher

from . import http_server
from .conftest import FIXTURES
from .http_server import PlaybackServer, Reply, endless, gzip_bomb

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 0.5  # seconds; the deadline is three times this
DEADLINE = 3 * TIMEOUT
MAX_BYTES = 1_000_000
LISTING = (FIXTURES / "hf_api.json").read_bytes()


@pytest.fixture
def web() -> Iterator[PlaybackServer]:
    playback = http_server.start()
    yield playback
    playback.shutdown()
    playback.server_close()


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "http-cache"


@pytest.fixture
def fetcher(cache_dir: Path) -> Iterator[Fetcher]:
    client = Fetcher(cache_dir=cache_dir, timeout=TIMEOUT, max_bytes=MAX_BYTES, backoff=0.05)
    yield client
    client.close()


def cached_bodies(cache_dir: Path) -> list[Path]:
    return sorted(cache_dir.glob("*.body")) if cache_dir.exists() else []


def failure(fetcher: Fetcher, url: str) -> tuple[str, float]:
    started = time.monotonic()
    with pytest.raises(SourceError) as caught:
        fetcher.get(url)
    return str(caught.value), time.monotonic() - started


# Time ---------------------------------------------------------------------------------

TRICKLES = {
    "body one byte at a time": Reply.json(LISTING, drip=0.1),
    "headers one byte at a time": Reply.json(LISTING, header_drip=0.1),
    "chunked body that never ends": Reply(chunks=endless(b"[" * 10, every=0.1)),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", TRICKLES)
def test_a_trickling_server_is_cut_off_at_the_deadline(web, fetcher, cache_dir, name):
    web.route("/listing.json", TRICKLES[name])

    message, took = failure(fetcher, f"{web.url}/listing.json")

    assert DEADLINE - 0.1 <= took < DEADLINE + 1.5
    assert message == (f"{web.url}/listing.json: no complete response within 1.5 s (3 x DIGEST_HTTP_TIMEOUT); "
                       "the server is too slow, try again later or raise DIGEST_HTTP_TIMEOUT")
    assert cached_bodies(cache_dir) == []
    assert len(web.requests) == 1  # a server that slow is not asked again


def test_a_slow_but_steady_server_within_the_deadline_is_fine(web, fetcher, cache_dir):
    body = b'[{"title": "Reward Models", "abstract": "We train reward models."}]'
    web.route("/listing.json", Reply.json(body, header_drip=0.002, drip=0.005))

    assert fetcher.get(f"{web.url}/listing.json").content == body
    assert len(cached_bodies(cache_dir)) == 1


# Size ---------------------------------------------------------------------------------

def test_a_gzip_bomb_stops_at_the_cap_without_inflating(web, fetcher, cache_dir):
    web.route("/bomb.json", Reply.json(gzip_bomb(), headers={"Content-Encoding": "gzip"}))

    tracemalloc.start()
    try:
        message, took = failure(fetcher, f"{web.url}/bomb.json")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert message == (f"{web.url}/bomb.json: the response is larger than 1 MB (DIGEST_HTTP_MAX_BYTES) after "
                       "decompression; stopped reading. Raise DIGEST_HTTP_MAX_BYTES if the listing really is "
                       "that large")
    assert peak < 5 * MAX_BYTES  # the bomb is 50 MB inflated
    assert took < 2
    assert cached_bodies(cache_dir) == []


@pytest.mark.parametrize("reply, detail", [
    (Reply.json(b"[" + b" " * 5_000_000 + b"]"), " (the server announces 5 MB)"),
    (Reply(chunks=endless()), ""),
    (Reply(chunks=lambda: [b" " * 600_000, b" " * 600_000]), ""),
], ids=["content-length", "endless-chunked", "chunked"])
def test_an_oversized_body_stops_at_the_cap(web, fetcher, cache_dir, reply, detail):
    web.route("/big.json", reply)

    message, took = failure(fetcher, f"{web.url}/big.json")

    assert message.startswith(f"{web.url}/big.json: the response is larger than 1 MB "
                              f"(DIGEST_HTTP_MAX_BYTES){detail}; stopped reading.")
    assert took < 2
    assert cached_bodies(cache_dir) == []


def test_a_body_just_under_the_cap_is_read_and_cached(web, fetcher, cache_dir):
    body = b"[" + b" " * (MAX_BYTES - 2) + b"]"
    web.route("/big.json", Reply.json(gzip.compress(body), headers={"Content-Encoding": "gzip"}))

    assert fetcher.get(f"{web.url}/big.json").content == body
    assert len(cached_bodies(cache_dir)) == 1


@pytest.mark.parametrize("encoding, packed", [
    ("gzip", gzip.compress(LISTING)),
    ("deflate", zlib.compress(LISTING)),
    ("deflate", zlib.compress(LISTING)[2:-4]),  # raw deflate, as some servers send it
    ("identity", LISTING),
], ids=["gzip", "deflate-zlib", "deflate-raw", "identity"])
def test_compressed_responses_are_decoded(web, fetcher, encoding, packed):
    web.route("/listing.json", Reply.json(packed, headers={"Content-Encoding": encoding}))

    assert fetcher.get(f"{web.url}/listing.json").content == LISTING


@pytest.mark.parametrize("copies", [1, 100], ids=["small", "each-member-past-one-decoding-step"])
def test_a_gzip_body_of_several_members_is_read_whole(web, fetcher, copies):
    # RFC 1952: a gzip body may be several members one after another (`cat a.gz b.gz`); curl reads them all
    whole = LISTING * copies
    half = len(whole) // 2
    packed = gzip.compress(whole[:half]) + gzip.compress(whole[half:])
    web.route("/listing.json", Reply.json(packed, headers={"Content-Encoding": "gzip"}))

    assert fetcher.get(f"{web.url}/listing.json").content == whole


@pytest.mark.parametrize("encoding, packed, problem", [
    ("br", b"\x1b\x03", "the server sent Content-Encoding 'br', which digest cannot read"),
    ("gzip", b"not gzip at all", "the response is not valid gzip data"),
])
def test_a_body_we_cannot_decode_is_a_clear_error(web, fetcher, cache_dir, encoding, packed, problem):
    web.route("/listing.json", Reply.json(packed, headers={"Content-Encoding": encoding}))

    message, _ = failure(fetcher, f"{web.url}/listing.json")

    assert message.startswith(f"{web.url}/listing.json: {problem}")
    assert cached_bodies(cache_dir) == []


@pytest.mark.parametrize("encoding, packed", [
    ("gzip", gzip.compress(LISTING)[: len(gzip.compress(LISTING)) // 2]),
    ("gzip", gzip.compress(LISTING)[:-4]),  # all of the data, but not the length that checks it
    ("deflate", zlib.compress(LISTING)[: len(zlib.compress(LISTING)) // 2]),
], ids=["gzip-half", "gzip-without-trailer", "deflate-half"])
def test_a_compressed_body_cut_short_is_an_error_and_never_cached(web, fetcher, cache_dir, encoding, packed):
    # The Content-Length matches what is sent: only the compressed stream itself shows it stops early
    web.route("/listing.json", Reply.json(packed, headers={"Content-Encoding": encoding}))

    message, _ = failure(fetcher, f"{web.url}/listing.json")

    assert message == (f"{web.url}/listing.json: the response was cut short (its {encoding} data ends "
                       "early); try again later")
    assert cached_bodies(cache_dir) == []


def test_bytes_after_the_end_of_a_gzip_body_are_ignored_not_inflated_forever(web, tmp_path):
    # A body that inflates past one decoding step, then a newline after the gzip data (as some servers
    # add): the finished stream was handed those bytes again and again, a loop no deadline ends.
    # A real process, so that a loop fails the test instead of hanging it.
    papers = [{"id": f"2608.{n:05d}", "title": f"Reward models {n}", "abstract": "We train reward models. " * 20}
              for n in range(300)]
    packed = gzip.compress(json.dumps(papers).encode())
    web.route("/listing.json", Reply.json(packed + b"\n", headers={"Content-Encoding": "gzip"}))
    env = {**os.environ, "PYTHONPATH": str(REPO), "DIGEST_CACHE_DIR": str(tmp_path / "cache"),
           "DIGEST_STATE_DB": str(tmp_path / "state.db")}

    done = subprocess.run([sys.executable, "-m", "digest", "--env-file", "/dev/null", "papers", "--source",
                           f"{web.url}/listing.json"], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=30)

    assert done.returncode == 0, done.stderr
    assert f"300 papers from {web.url}/listing.json" in done.stderr


def test_an_error_page_is_read_only_far_enough_for_its_message(web, fetcher):
    web.route("/listing.json", Reply(404, gzip_bomb(), {"Content-Encoding": "gzip"}))

    message, took = failure(fetcher, f"{web.url}/listing.json")

    assert message == f"{web.url}/listing.json: HTTP 404 Not Found; check the source name or URL"
    assert took < 2


# From the command line ------------------------------------------------------------------

@pytest.mark.parametrize("reply, setting", [
    (Reply.json(gzip_bomb(), headers={"Content-Encoding": "gzip"}), "DIGEST_HTTP_MAX_BYTES"),
    pytest.param(Reply.json(LISTING, drip=0.2), "DIGEST_HTTP_TIMEOUT", marks=pytest.mark.slow),
], ids=["gzip-bomb", "slow-drip"])
def test_cli_one_line_naming_the_url_and_the_setting(web, monkeypatch, run_cli, reply, setting):
    monkeypatch.setenv("DIGEST_HTTP_TIMEOUT", "0.5")
    monkeypatch.setenv("DIGEST_HTTP_MAX_BYTES", "1MB")
    web.route("/listing.json", reply)

    code, out, err = run_cli("papers", "--source", f"{web.url}/listing.json")

    assert code == 1 and out == ""
    [line] = err.strip().splitlines()
    assert line.startswith(f"digest: error: {web.url}/listing.json: ") and setting in line


def test_the_settings_reach_the_fetcher():
    from digest.settings import load_settings

    settings = load_settings(None, {"DIGEST_HTTP_TIMEOUT": "4", "DIGEST_HTTP_MAX_BYTES": "2MB"})
    client = Fetcher.from_settings(settings)
    try:
        assert (client.timeout, client.deadline, client.max_bytes) == (4, 12, 2_000_000)
    finally:
        client.close()


@pytest.fixture
def tls_web(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PlaybackServer]:
    """The playback server behind TLS, its CA trusted through SSL_CERT_FILE."""
    import ssl

    import trustme

    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    playback = http_server.start(tls=context)
    yield playback
    playback.shutdown()
    playback.server_close()


@pytest.mark.slow
def test_the_deadline_holds_over_tls_too(tls_web, cache_dir):
    tls_web.route("/listing.json", Reply.json(LISTING, drip=0.1))
    client = Fetcher(cache_dir=cache_dir, timeout=TIMEOUT, max_bytes=MAX_BYTES)
    try:
        assert tls_web.url.startswith("https://")
        message, took = failure(client, f"{tls_web.url}/listing.json")
    finally:
        client.close()

    assert "no complete response within 1.5 s" in message
    assert took < DEADLINE + 1.5
