"""Amazon SNS message signatures, checked before a webhook believes a word of the message.

SNS signs each message with a certificate it names by URL. The URL must be an
``https://sns.<region>.amazonaws.com/...pem`` address (anything else is a forgery
pointing at its own key); the certificate is read from ``DIGEST_SES_CERT_DIR``
(pinned by the operator: the file named as the URL's last part) or fetched once
over https, and kept in memory (the ``MAX_KEYS`` most recently used), its validity
dates checked at every use: an expired one is loaded again, and refused. A fetch
reads at most ``MAX_CERT_BYTES`` and takes at most ``FETCH_SECONDS`` in all, however
slowly the server sends (``digest.deadlines``).

Anyone who knows the topic ARN can name such URLs, and each fetch holds one of the
server's worker threads for up to 10 s, so fetching is bounded: one fetch per URL
at a time (other messages naming it wait for its result), at most ``AT_ONCE``
messages waiting on certificates at all (the others are refused at once,
``CertificateUnavailable``: a 503, which SNS retries), and a certificate that
could not be used is not fetched again for a while (``REMEMBERED``). The signed text is the message's fields, in the
order AWS documents, as ``Key\\nValue\\n``; SignatureVersion 1 is SHA-1, 2 is SHA-256,
both RSA PKCS#1 v1.5. Any AWS account can sign messages for its own topics, so the
topic must also be ours (``DIGEST_SES_TOPIC_ARN``).
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .. import deadlines
from ..errors import DigestError

CERT_HOST = re.compile(r"sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?")
SIGNED = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}
OPTIONAL = frozenset({"Subject"})
HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
MAX_CERT_BYTES = 64 * 1024
FETCH_SECONDS = 10.0  # for a whole fetch: connecting, TLS, headers and body
AT_ONCE = 4  # messages waiting on certificate fetches at once, of the app's 40 worker threads
WAIT = 15.0  # seconds a message waits for another's fetch of its certificate (a fetch times out after 10)
MAX_REMEMBERED = 1000  # failed certificate URLs kept: a caller can name any number of them
MAX_KEYS = 100  # good keys kept: AWS signs with a few certificates, but any it serves may be named


class BadSignature(DigestError):
    """The message is not provably from our SNS topic: the webhook changes nothing."""


class CertificateUnavailable(DigestError):
    """The signing certificate cannot be had just now (too many being fetched, or AWS did not answer): retry."""


# How long a certificate URL that failed answers the same without a new fetch: an unusable certificate
# (AWS's 404, not a PEM, expired) for 10 minutes; one AWS did not give for 15 s, under SNS's 20 s between
# retries, so that a real message's retry fetches it again.
REMEMBERED: dict[type[DigestError], timedelta] = {BadSignature: timedelta(minutes=10),
                                                  CertificateUnavailable: timedelta(seconds=15)}


def certificate_url_ok(url: str) -> bool:
    parts = urlsplit(url)
    return (parts.scheme == "https" and parts.port is None and parts.username is None
            and bool(CERT_HOST.fullmatch(parts.hostname or "")) and parts.path.endswith(".pem"))


def certificate_client() -> httpx.Client:
    """The web app's one client for ``fetch_certificate`` (closed by the app's lifespan): its timeouts cut short
    by each fetch's deadline (``digest.deadlines``), a connection for each fetch that may run at once."""
    client = httpx.Client(timeout=FETCH_SECONDS, limits=httpx.Limits(max_connections=AT_ONCE),
                          follow_redirects=False, headers={"accept-encoding": "identity"})
    deadlines.install(client)
    return client


def fetch_certificate(client: httpx.Client, url: str, seconds: float = FETCH_SECONDS) -> bytes:
    """The certificate at ``url`` (checked before), read within ``seconds`` in all (connecting, TLS, headers,
    body: a server dripping bytes is cut off) and never more than ``MAX_CERT_BYTES`` of it."""
    try:
        with deadlines.within(seconds), client.stream("GET", url) as answer:
            if answer.status_code >= 500:
                raise CertificateUnavailable(f"cannot fetch the signing certificate {url} (HTTP {answer.status_code})")
            if answer.status_code != 200:
                raise BadSignature(f"cannot fetch the signing certificate {url} (HTTP {answer.status_code})")
            return _body(answer, url)
    except httpx.HTTPError as err:
        raise CertificateUnavailable(f"cannot fetch the signing certificate {url} ({err})") from None


def _body(answer: httpx.Response, url: str) -> bytes:
    """Read as it arrives, up to the limit: a longer body is refused without reading the rest. Raw bytes: a
    certificate is never compressed (none is asked for), and inflating one could make it any size."""
    body = bytearray()
    for piece in answer.iter_raw():
        body += piece
        if len(body) > MAX_CERT_BYTES:
            raise BadSignature(f"the signing certificate at {url} is larger than {MAX_CERT_BYTES // 1024} KB")
    return bytes(body)


@dataclass(frozen=True)
class _Good:
    """A certificate's key and the time it is valid in: checked each time the key is used, not only when loaded."""

    key: rsa.RSAPublicKey
    not_before: datetime
    not_after: datetime

    def valid(self, now: datetime) -> bool:
        return self.not_before <= now <= self.not_after


@dataclass(frozen=True)
class _Failed:
    """A certificate URL that failed, until when it answers so (a new exception each time, not one
    re-raised: its traceback would grow with every raise)."""

    kind: type[DigestError]
    message: str
    until: datetime


class Certificates:
    """SNS signing keys by certificate URL: pinned in a folder, or fetched (``fetch``, e.g. ``fetch_certificate``
    over the app's client) and cached.

    Thread-safe: ``key`` runs in the app's worker threads. A URL's first caller loads it
    (a flight); callers meanwhile wait for that flight, and at most ``at_once`` callers
    load or wait at all.
    """

    def __init__(self, pinned: Path | None = None, fetch: Callable[[str], bytes] | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc), at_once: int = AT_ONCE) -> None:
        self.pinned, self.fetch, self.clock = pinned, fetch, clock
        self._good: dict[str, _Good] = {}
        self._failed: dict[str, _Failed] = {}
        self._flights: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(at_once)

    def key(self, url: str) -> rsa.RSAPublicKey:
        if not certificate_url_ok(url):
            raise BadSignature("the signing certificate's URL is not an https sns.<region>.amazonaws.com address")
        with self._lock:
            known = self._known(url)
        if known is not None:
            return known
        if not self._slots.acquire(blocking=False):
            raise CertificateUnavailable("too many signing certificates are being fetched at once; try again later")
        try:
            return self._once(url)
        finally:
            self._slots.release()

    def _known(self, url: str) -> rsa.RSAPublicKey | None:
        """The cached key, or the remembered failure raised anew; None: not tried lately (or its certificate
        is not valid now: loaded again, a pinned file may have been replaced). Under the lock."""
        good = self._good.pop(url, None)
        if good is not None and good.valid(self.clock()):
            self._good[url] = good  # last: the most recently used are kept
            return good.key
        failed = self._failed.get(url)
        if failed is not None and self.clock() < failed.until:
            raise failed.kind(failed.message)
        self._failed.pop(url, None)
        return None

    def _once(self, url: str) -> rsa.RSAPublicKey:
        """Load ``url`` once however many ask at the same time: the first loads, the others wait for it."""
        with self._lock:
            known = self._known(url)  # a flight may have landed since the first look
            if known is not None:
                return known
            flight = self._flights.get(url)
            first = flight is None
            if flight is None:
                flight = self._flights[url] = threading.Event()
        return self._fly(url, flight) if first else self._await(url, flight)

    def _fly(self, url: str, flight: threading.Event) -> rsa.RSAPublicKey:
        try:
            good = self._load(url)
            with self._lock:
                self._keep(url, good)
            return good.key
        except (BadSignature, CertificateUnavailable) as err:
            if self.pinned is None:  # a pinned file may be added any time, and reading it costs nothing
                with self._lock:
                    self._remember(url, err)
            raise
        finally:
            with self._lock:
                del self._flights[url]
            flight.set()

    def _await(self, url: str, flight: threading.Event) -> rsa.RSAPublicKey:
        if not flight.wait(WAIT):
            raise CertificateUnavailable(f"the signing certificate {url} is still being fetched; try again later")
        with self._lock:
            known = self._known(url)
        if known is None:
            raise CertificateUnavailable(f"the signing certificate {url} could not be loaded; try again later")
        return known

    def _keep(self, url: str, good: _Good) -> None:
        """Under the lock; past ``MAX_KEYS`` the least recently used goes (it is loaded again if named again)."""
        if len(self._good) >= MAX_KEYS:
            del self._good[next(iter(self._good))]
        self._good[url] = good

    def _remember(self, url: str, err: DigestError) -> None:
        """Under the lock; the expired first, else the oldest, make room."""
        now = self.clock()
        if len(self._failed) >= MAX_REMEMBERED:
            for old in [u for u, f in self._failed.items() if f.until <= now] or list(self._failed)[:1]:
                del self._failed[old]
        span = next(span for kind, span in REMEMBERED.items() if isinstance(err, kind))
        self._failed[url] = _Failed(type(err), str(err), now + span)

    def _load(self, url: str) -> _Good:
        if self.pinned is not None:
            path = self.pinned / PurePosixPath(urlsplit(url).path).name
            if not path.is_file():
                raise BadSignature(f"the signing certificate {path.name} is not in DIGEST_SES_CERT_DIR")
            pem = path.read_bytes()
        elif self.fetch is not None:
            pem = self.fetch(url)
        else:
            raise BadSignature(f"the signing certificate {url} is not pinned, and this server does not fetch any")
        try:
            cert = x509.load_pem_x509_certificate(pem)
        except ValueError:
            raise BadSignature(f"the signing certificate at {url} is not a PEM certificate") from None
        key = cert.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise BadSignature("the signing certificate's key is not RSA")
        good = _Good(key, cert.not_valid_before_utc, cert.not_valid_after_utc)
        if not good.valid(self.clock()):
            raise BadSignature(f"the signing certificate at {url} is not valid now")
        return good


def signed_text(message: dict[str, Any]) -> bytes:
    fields = SIGNED.get(str(message.get("Type")))
    if fields is None:
        raise BadSignature(f"unknown SNS message type {str(message.get('Type'))[:40]!r}")
    lines = []
    for name in fields:
        value = message.get(name)
        if value is None and name in OPTIONAL:
            continue
        if not isinstance(value, str):
            raise BadSignature(f"the SNS message has no {name}")
        lines.append(f"{name}\n{value}\n")
    return "".join(lines).encode()


def verify(message: dict[str, Any], certificates: Certificates, topic_arn: str) -> None:
    """Return quietly for a message our topic signed; ``BadSignature`` otherwise."""
    if message.get("TopicArn") != topic_arn:
        raise BadSignature("the message is from another SNS topic than DIGEST_SES_TOPIC_ARN")
    algorithm = HASHES.get(str(message.get("SignatureVersion")))
    if algorithm is None:
        raise BadSignature("unknown SignatureVersion")
    text = signed_text(message)
    try:
        signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
    except (binascii.Error, ValueError):
        raise BadSignature("the signature is not base64") from None
    key = certificates.key(str(message.get("SigningCertURL", "")))
    try:
        key.verify(signature, text, padding.PKCS1v15(), algorithm())
    except InvalidSignature:
        raise BadSignature("the signature does not match the message") from None
