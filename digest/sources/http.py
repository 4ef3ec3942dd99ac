"""One polite HTTP client for every live source.

Retries connection errors, 5xx and 429 (honouring ``Retry-After``) with bounded
backoff, neither of which outlasts a stop signal (``halted``: ``Stopped``), spaces
requests to arXiv as its terms ask, refuses redirects to another host, and keeps a
conditional-request cache (ETag / Last-Modified) on disk so a re-run revalidates
instead of downloading again, and ``--offline`` can work from it alone.

Every request is bounded, whatever the server does:

* in time: httpx's timeouts apply to each socket operation, so a server dripping
  one byte a second never trips them. Each exchange (connect, headers, body) also
  has a total deadline of ``DEADLINE_FACTOR`` x ``DIGEST_HTTP_TIMEOUT``, enforced
  below httpx by a network backend that shortens every socket timeout to what is
  left of it;
* in size: the body is decompressed here, a bounded piece at a time, and counted
  as it arrives; past ``DIGEST_HTTP_MAX_BYTES`` reading stops (a 50 KB gzip bomb
  never becomes 50 MB in memory). What was cut short is never cached.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import Message
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import httpx

from .. import __version__, deadlines
from ..errors import SourceError, shown_url
from ..limits import LocalTurns, Stopped, Turns, pause
from .files import describe_size

log = logging.getLogger("digest.http")

USER_AGENT = f"digest/{__version__} (+https://github.com/digest-papers/digest; research-paper email digest)"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_REDIRECTS = 5
CACHE_MAX_AGE_DAYS = 30
DEADLINE_FACTOR = 3  # a whole exchange gets 3 x DIGEST_HTTP_TIMEOUT (60 s by default)
DEFAULT_MAX_BYTES = 50_000_000
ERROR_BODY_BYTES = 64 * 1024  # of an error page, only enough for its message
DECODE_STEP = 64 * 1024  # bytes a compressed body may grow to in one step
GZIP_MAGIC = b"\x1f\x8b"  # the start of a gzip member
MAX_RETRY_AFTER = 1e9  # seconds (31 years): a longer Retry-After (9 x 400 is no float at all) is read as this


@dataclass(frozen=True)
class Fetched:
    """A response body, and whether (and how old) it came from the cache."""

    url: str
    content: bytes
    from_cache: bool = False
    fetched_at: float = 0.0
    charset: str | None = None  # what the Content-Type names, for a body that does not say its own encoding


def content_charset(content_type: str | None) -> str | None:
    """The ``charset`` of a Content-Type header (``text/xml; charset="ISO-8859-1"``), lower case; None without."""
    if not content_type:
        return None
    message = Message()
    message["content-type"] = content_type
    return (message.get_content_charset() or "").strip() or None


def describe_age(seconds: float) -> str:
    minutes = int(max(seconds, 0) // 60)
    if minutes < 1:
        return "less than a minute old"
    if minutes < 120:
        return f"{minutes} min old"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h old"
    return f"{hours // 24} days old"


class Cache:
    """Response bodies and their validators, one pair of files per URL. A copy is stamped with
    ``clock``'s time (the fetcher's), which its freshness is read against.

    The files are named by a hash of the whole URL, and the metadata names the URL with its keys masked
    (``shown_url``: ``?key=***``, ``&access_token=***``): no key of a private feed lies in plain text beside
    the cache, and another key is still another copy."""

    def __init__(self, directory: Path, clock: Callable[[], float] = time.time) -> None:
        self.directory = directory
        self.clock = clock

    def _paths(self, url: str) -> tuple[Path, Path]:
        key = hashlib.sha256(url.encode()).hexdigest()[:40]
        return self.directory / f"{key}.body", self.directory / f"{key}.json"

    def load(self, url: str) -> tuple[bytes, dict[str, Any]] | None:
        body_path, meta_path = self._paths(url)
        try:
            meta = json.loads(meta_path.read_text("utf-8"))
            body = body_path.read_bytes()
        except (OSError, ValueError):
            return None
        if meta.get("url") not in (shown_url(url), url) or meta.get("size") != len(body):
            return None
        if meta["url"] != shown_url(url):  # written by a release that kept the key: keep it no longer
            meta["url"] = shown_url(url)
            self._write_meta(meta_path, meta)
        return body, meta

    def save(self, url: str, body: bytes, headers: Mapping[str, str]) -> None:
        meta = {
            "url": shown_url(url),
            "size": len(body),
            "etag": headers.get("etag"),
            "last_modified": headers.get("last-modified"),
            "charset": content_charset(headers.get("content-type")),
            "fetched_at": self.clock(),
        }
        body_path, meta_path = self._paths(url)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            _write_atomic(body_path, body)
            _write_atomic(meta_path, json.dumps(meta).encode())
        except OSError as err:  # a cache we cannot write only costs a refetch
            log.warning("cannot write the HTTP cache in %s: %s", self.directory, err.strerror)

    def forget(self, url: str) -> None:
        """Drop the copy of ``url`` (a body that did not read as a listing: never reused)."""
        for path in self._paths(url):
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass

    def touch(self, url: str, meta: dict[str, Any]) -> None:
        """A 304 confirmed the copy: it is as fresh as now."""
        _, meta_path = self._paths(url)
        self._write_meta(meta_path, {**meta, "url": shown_url(url), "fetched_at": self.clock()})

    @staticmethod
    def _write_meta(meta_path: Path, meta: dict[str, Any]) -> None:
        try:
            _write_atomic(meta_path, json.dumps(meta).encode())
        except OSError:  # a cache we cannot write only costs a refetch
            pass

    def prune(self, max_age_days: float = CACHE_MAX_AGE_DAYS) -> None:
        """Drop files untouched for ``max_age_days`` (by the file system's clock, as their times are)."""
        cutoff = time.time() - max_age_days * 86400
        try:
            entries = list(self.directory.iterdir())
        except OSError:
            return
        for path in entries:
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
            except OSError:
                pass


def _write_atomic(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    temporary.write_bytes(data)
    os.replace(temporary, path)


class Fetcher:
    """GET with retries, politeness, redirect checks and a conditional cache."""

    def __init__(
        self,
        *,
        cache_dir: Path | None,
        timeout: float = 20.0,
        offline: bool = False,
        retries: int = 3,
        backoff: float = 1.0,
        max_wait: float = 60.0,
        min_interval: Mapping[str, float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_bytes: int = DEFAULT_MAX_BYTES,
        deadline: float | None = None,
        shared: Path | None = None,
        clock: Callable[[], float] = time.time,
        halted: Callable[[], bool] | None = None,
    ) -> None:
        self.offline = offline
        self.halted = halted  # a stop signal: no further attempt, no wait (``Stopped``); None: never halted
        self.clock = clock  # Unix seconds: the app's clock, which a cached copy's age is read against
        self.max_bytes = max_bytes
        self.deadline = deadline if deadline is not None else DEADLINE_FACTOR * timeout
        self.retries = retries
        self.backoff = backoff
        self.max_wait = max_wait
        self.timeout = timeout
        self.min_interval = dict(min_interval or {})
        self.sleep = sleep
        self.cache = Cache(cache_dir, clock) if cache_dir else None
        if self.cache and not offline:
            self.cache.prune()
        self.shared = shared  # the state store whose buckets space requests across processes (shards)
        self._turns: dict[str, LocalTurns | Turns] = {}
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"},
            follow_redirects=False,
            event_hooks={"response": [_check_location]},
        )
        deadlines.install(self._client)

    @classmethod
    def from_settings(cls, settings: Any, *, offline: bool = False, clock: Callable[[], float] = time.time,
                      halted: Callable[[], bool] | None = None) -> "Fetcher":
        arxiv_hosts = {urlsplit(settings.arxiv_base_url).hostname or "", "arxiv.org",
                       "export.arxiv.org", "rss.arxiv.org"}
        return cls(
            cache_dir=settings.cache_dir,
            timeout=settings.http_timeout,
            max_bytes=settings.http_max_bytes,
            offline=offline,
            min_interval={host: settings.arxiv_delay for host in arxiv_hosts if host},
            shared=settings.state_db,
            clock=clock,
            halted=halted,
        )

    def close(self) -> None:
        self._client.close()

    def get(self, url: str, params: Mapping[str, Any] | None = None, *, fresh_for: float = 0.0) -> Fetched:
        """The body at ``url``; from the cache when offline, when the cached copy is younger
        than ``fresh_for`` seconds (no request at all), or when the server says 304."""
        if params:
            url = f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"
        cached = self.cache.load(url) if self.cache else None
        if self.offline:
            if cached is None:
                raise SourceError(url, "not in the cache; run once without --offline to fetch it")
            return _copy(url, cached, cached[1]["fetched_at"])
        if cached and 0 <= self.clock() - cached[1]["fetched_at"] < fresh_for:
            log.debug("%s: cached copy is fresh, not asking again", shown_url(url))
            return _copy(url, cached, cached[1]["fetched_at"])
        headers = _validators(cached[1]) if cached else {}
        response = self._request(url, headers)
        if response.status_code == 304 and cached:
            log.debug("%s: not modified, using the cached copy", shown_url(url))
            self.cache.touch(url, cached[1])  # type: ignore[union-attr]
            return _copy(url, cached, self.clock())
        if response.status_code != 200:
            raise SourceError(url, _status_problem(response))
        if self.cache:
            self.cache.save(url, response.body, response.headers)
        return Fetched(url, response.body, fetched_at=self.clock(),
                       charset=content_charset(response.headers.get("content-type")))

    def forget(self, url: str) -> None:
        """The body fetched from ``url`` did not read as a listing: drop its cached copy."""
        if self.cache:
            self.cache.forget(url)

    def _request(self, url: str, headers: dict[str, str]) -> Answer:
        """One logical GET: redirects on the same host, retries on transient failures."""
        origin = urlsplit(url).hostname
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            try:
                response = self._with_retries(current, headers)
            except _MalformedLocation as err:
                raise SourceError(url, f"redirected to a malformed URL ({err.location[:100]!r}); "
                                  "refusing to follow it. Check the URL or the base URL setting") from None
            except SourceError as err:
                if current == url:
                    raise
                # the setting to fix holds ``url``: the error names it, then where it led
                raise SourceError(url, f"redirected to {current}: {err.problem}") from err
            if response.status_code not in (301, 302, 303, 307, 308):
                return response
            location = response.headers.get("location", "")
            target = urljoin(current, location)
            problem = redirect_problem(current, target, origin) if location else "redirected nowhere"
            if problem:
                raise SourceError(url, f"{problem}; refusing to follow it. Check the URL or the base URL setting")
            current = target
        raise SourceError(url, f"more than {MAX_REDIRECTS} redirects; check the URL or the base URL setting")

    def _with_retries(self, url: str, headers: dict[str, str]) -> Answer:
        attempt = 0
        while True:
            self._stop_if_halted(url, "before the next request")
            self._wait_turn(url)
            try:
                response = self._exchange(url, headers)
            except httpx.TimeoutException as err:
                if isinstance(err, httpx.ConnectTimeout) and attempt < self.retries:
                    attempt += 1
                    self._pause(url, self._backoff(attempt), "connection timed out")
                    continue
                raise SourceError(url, _timeout_problem(err, self.timeout)) from err
            except httpx.TransportError as err:
                if attempt < self.retries:
                    attempt += 1
                    self._pause(url, self._backoff(attempt), _transport_problem(err, attempt))
                    continue
                raise SourceError(url, _transport_problem(err, attempt + 1)) from err
            if response.status_code not in RETRY_STATUSES:
                return response
            if attempt >= self.retries:
                raise SourceError(url, f"{_status_problem(response)} (after {attempt + 1} attempts)")
            attempt += 1
            wait = _retry_after(response.headers.get("retry-after"))
            if wait is None:
                wait = self._backoff(attempt)
            elif wait > self.max_wait:
                raise SourceError(
                    url, f"HTTP {response.status_code}: the server asks to wait {int(wait)} s; try again later"
                )
            self._pause(url, wait, f"HTTP {response.status_code}")

    def _exchange(self, url: str, headers: dict[str, str]) -> Answer:
        """One GET, its body read within the deadline and the size cap."""
        deadline = time.monotonic() + self.deadline
        try:
            with deadlines.within(self.deadline), self._client.stream("GET", url, headers=headers) as response:
                ok = response.status_code == 200
                body = _read_body(response, url, self.max_bytes if ok else ERROR_BODY_BYTES, strict=ok)
                return Answer(response.status_code, response.reason_phrase, response.headers, body)
        except httpx.TimeoutException as err:
            if time.monotonic() >= deadline - 0.01:
                raise SourceError(url, _deadline_problem(self.deadline)) from err
            raise

    def _backoff(self, attempt: int) -> float:
        return min(self.backoff * 2 ** (attempt - 1), self.max_wait)

    def _pause(self, url: str, seconds: float, why: str) -> None:
        log.info("%s: %s; retrying in %.1f s", shown_url(url), shown_url(why), seconds)  # as its errors do
        self._wait(url, seconds, f"while waiting to retry after {why}")

    def _wait(self, url: str, seconds: float, when: str) -> None:
        """Sleep ``seconds``; a stop signal (``halted``) ends the wait within 50 ms with ``Stopped``: a
        ``Retry-After`` of a minute, or the backoff of a server that is down, does not hold up a stop."""
        if self.halted is None:
            self.sleep(seconds)
        elif not pause(seconds, self.halted, self.sleep):
            raise Stopped(f"{shown_url(url)}: stopped {shown_url(when)}")

    def _stop_if_halted(self, url: str, when: str) -> None:
        if self.halted is not None and self.halted():
            raise Stopped(f"{shown_url(url)}: stopped {when}")

    def _wait_turn(self, url: str) -> None:
        """At most one request per ``min_interval`` seconds to hosts that ask for it (arXiv), across every
        process sharing the state store (four shards make one request per interval, not four)."""
        host = urlsplit(url).hostname or ""
        interval = self.min_interval.get(host)
        if not interval:
            return
        turns = self._turns.get(host)
        if turns is None:
            turns = Turns(self.shared, f"http:{host}", interval) if self.shared else LocalTurns(interval)
            self._turns[host] = turns
        remaining = turns.take()
        if remaining > 0:
            self._wait(url, remaining, "while waiting for its turn")


def _copy(url: str, cached: tuple[bytes, dict[str, Any]], fetched_at: float) -> Fetched:
    body, meta = cached
    return Fetched(url, body, from_cache=True, fetched_at=fetched_at, charset=meta.get("charset"))


class _MalformedLocation(Exception):
    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


def _check_location(response: httpx.Response) -> None:
    """httpx reads a redirect's Location before it hands the response back, even when not following it, and
    takes one that is no URL for a protocol error: a broken connection, retried. It is refused at once."""
    if not response.has_redirect_location:
        return
    location = response.headers["location"]
    try:
        httpx.URL(location)
    except httpx.InvalidURL:
        raise _MalformedLocation(location) from None


def redirect_problem(current: str, target: str, origin: str | None) -> str | None:
    """Why a redirect is not followed: only on the same host, over http(s), never from https down to http."""
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https"):
        return f"redirected to a URL that is not http(s) ({parts.scheme or target}:)"
    if parts.hostname != origin:
        return f"redirected to another host ({parts.hostname})"
    if urlsplit(current).scheme == "https" and parts.scheme == "http":
        return "redirected from https to plain http"
    return None


def _validators(meta: Mapping[str, Any]) -> dict[str, str]:
    headers = {}
    if meta.get("etag"):
        headers["If-None-Match"] = meta["etag"]
    if meta.get("last_modified"):
        headers["If-Modified-Since"] = meta["last_modified"]
    return headers


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header: a number, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return min(max(0.0, (when - datetime.now(timezone.utc)).total_seconds()), MAX_RETRY_AFTER)


def _status_problem(response: Answer) -> str:
    reason = response.reason_phrase or ""
    detail = ""
    if "json" in response.headers.get("content-type", ""):
        try:
            data = json.loads(response.body)
            if isinstance(data, dict) and isinstance(data.get("error"), str):
                detail = f": {data['error'][:200]}"
        except (ValueError, RecursionError):
            pass
    hint = ""
    if response.status_code == 429:
        hint = "; rate limited, try again later"
    elif response.status_code >= 500:
        hint = "; the server is having trouble, try again later"
    elif response.status_code == 404:
        hint = "; check the source name or URL"
    return f"HTTP {response.status_code} {reason}{detail}{hint}".replace("  ", " ")


def _deadline_problem(deadline: float) -> str:
    return (f"no complete response within {deadline:g} s ({DEADLINE_FACTOR} x DIGEST_HTTP_TIMEOUT); "
            "the server is too slow, try again later or raise DIGEST_HTTP_TIMEOUT")


def _timeout_problem(err: httpx.TimeoutException, timeout: float) -> str:
    if isinstance(err, httpx.ConnectTimeout):
        return f"could not connect within {timeout:g} s; check the network"
    return (f"timed out after {timeout:g} s waiting for the server; try again later "
            "or raise DIGEST_HTTP_TIMEOUT")


def _transport_problem(err: httpx.TransportError, attempts: int) -> str:
    detail = str(err).removeprefix("[Errno -2] ").removeprefix("[Errno 111] ") or type(err).__name__
    if isinstance(err, httpx.ConnectError):
        return f"cannot connect after {attempts} attempts ({detail}); check the network and the URL"
    return f"connection broken after {attempts} attempts ({detail}); try again later"


# Bounded bodies ------------------------------------------------------------------

@dataclass(frozen=True)
class Answer:
    """A response with its body already read (within the deadline and the size cap)."""

    status_code: int
    reason_phrase: str
    headers: httpx.Headers
    body: bytes


def _read_body(response: httpx.Response, url: str, limit: int, *, strict: bool) -> bytes:
    """The decoded body, up to ``limit`` bytes: past it, an error (``strict``) or cut short."""
    encoded = response.headers.get("content-encoding", "identity").strip().lower() not in ("", "identity")
    declared = response.headers.get("content-length", "")
    if strict and not encoded and declared.isdigit() and int(declared) > limit:
        raise SourceError(url, _too_big(limit, f" (the server announces {describe_size(int(declared))})"))
    body = bytearray()
    for piece in _decoded(response, url, whole=strict):
        if len(body) + len(piece) > limit:
            if strict:
                raise SourceError(url, _too_big(limit, " after decompression" if encoded else ""))
            return bytes(body + piece[: limit - len(body)])
        body += piece
    return bytes(body)


def _too_big(limit: int, detail: str) -> str:
    return (f"the response is larger than {describe_size(limit)} (DIGEST_HTTP_MAX_BYTES){detail}; "
            "stopped reading. Raise DIGEST_HTTP_MAX_BYTES if the listing really is that large")


def _decoded(response: httpx.Response, url: str, *, whole: bool) -> Iterator[bytes]:
    """The body, inflated; with ``whole``, a compressed stream that stops before its end is an error."""
    decoder = _Inflater(response.headers.get("content-encoding", ""), url)
    for raw in response.iter_raw():
        yield from decoder.decode(raw)
    yield decoder.flush(whole=whole)


class _Inflater:
    """gzip or deflate, inflated at most ``DECODE_STEP`` bytes at a time (httpx would
    inflate a whole network read at once: 64 KB of gzip bomb is 64 MB)."""

    def __init__(self, encoding: str, url: str) -> None:
        names = [e.strip().lower() for e in encoding.split(",") if e.strip().lower() not in ("", "identity")]
        if len(names) > 1 or (names and names[0] not in ("gzip", "x-gzip", "deflate")):
            raise SourceError(url, f"the server sent Content-Encoding {encoding!r}, which digest cannot read")
        self.url = url
        self.kind = names[0] if names else None
        self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16 if self.kind != "deflate" else zlib.MAX_WBITS)
        self._started = False
        self._after = b""  # bytes after the end of a gzip member, too few yet to say whether another starts
        self._ignoring = False  # what followed the end is no gzip member: the rest of the body is ignored

    def decode(self, data: bytes) -> Iterator[bytes]:
        if self.kind is None:
            yield data
            return
        if self._zlib.eof:
            data = self._next_member(data)
        while data:
            yield self._step(data)
            # at the end, zlib leaves what follows it in unconsumed_tail too: never hand that back to it
            data = self._next_member(self._zlib.unused_data) if self._zlib.eof else self._zlib.unconsumed_tail

    def _next_member(self, data: bytes) -> bytes:
        """Given the bytes after the end of the stream, those that start the next gzip member: a gzip body
        may be several members, one after another (RFC 1952; ``cat a.gz b.gz``). Anything else after the
        end is ignored, as curl and urllib3 ignore it; b"" until (and unless) a member starts."""
        data, self._after = self._after + data, b""
        if self._ignoring or self.kind == "deflate" or not data:
            return b""
        if len(data) < len(GZIP_MAGIC) and GZIP_MAGIC.startswith(data):
            self._after = data
            return b""
        if not data.startswith(GZIP_MAGIC):
            self._ignoring = True
            return b""
        self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)
        return data

    def _step(self, data: bytes) -> bytes:
        try:
            out = self._zlib.decompress(data, DECODE_STEP)
        except zlib.error as err:
            if self.kind == "deflate" and not self._started:  # raw deflate, without the zlib header
                self._zlib, self._started = zlib.decompressobj(-zlib.MAX_WBITS), True
                return self._step(data)
            raise SourceError(self.url, f"the response is not valid {self.kind} data ({err})") from err
        self._started = True
        return out

    def flush(self, *, whole: bool = False) -> bytes:
        """What is left. With ``whole``, a stream that was started but never reached its end (a body cut
        short, whose Content-Length the server counted after cutting it) is an error: never cached."""
        if self.kind is None:
            return b""
        rest = self._zlib.flush()
        if whole and self._started and not self._zlib.eof:
            raise SourceError(self.url, f"the response was cut short (its {self.kind} data ends early); "
                              "try again later")
        return rest
