"""Signed per-reader links: unsubscribe, preferences, feedback, save, view in browser, confirm.

A token names the reader by an opaque id (a keyed hash of the address, never the
address itself) and, for feedback and save, the paper; it is signed with
``DIGEST_SECRET_KEY`` and a salt per purpose, so an unsubscribe token cannot be
replayed as a feedback token, nor one reader's token turned into another's. The
sign-up confirmation token also expires (48 hours).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import date, datetime
from typing import Any

from itsdangerous import BadData, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

from .errors import ConfigError
from .settings import MAKE_SECRET, Settings

PURPOSES = ("unsubscribe", "preferences", "feedback", "save", "view", "confirm", "csrf")
CONFIRM_MAX_AGE = 48 * 3600


class BadToken(Exception):
    """A tampered, truncated, expired or foreign token: the page says so and nothing changes."""


class ExpiredToken(BadToken):
    """A sign-up confirmation token signed by us, but past its 48 hours: late, not damaged."""


def require_secret(settings: Settings) -> str:
    """The key every link is signed with; links cannot exist without one."""
    if not settings.secret_key:
        raise ConfigError(f"DIGEST_SECRET_KEY is not set; it signs the readers' links: make one with {MAKE_SECRET}")
    return settings.secret_key


def reader_id(secret: str, email: str) -> str:
    """The opaque, stable id a token carries instead of the address."""
    mac = hmac.new(secret.encode(), b"reader-id:" + email.strip().lower().encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:15]).decode()


def reader_ids(keys: tuple[str, ...] | list[str], email: str) -> list[str]:
    """The reader's id under each key (the current one first): links and VERP addresses made before a rotation."""
    return [reader_id(key, email) for key in keys]


def address_hash(keys: tuple[str, ...] | list[str], email: str) -> str:
    """A keyed hash of the address (HMAC with the current key; plain SHA-256 when there is none): what the store
    keeps of a removed reader's suppression, so the subscribers file's entry is not mailed again."""
    return address_hashes(keys[:1], email)[0]


def address_hashes(keys: tuple[str, ...] | list[str], email: str) -> list[str]:
    """The address's hash under every key, and unkeyed (one kept before a key was set)."""
    data = b"suppressed:" + email.strip().lower().encode()
    keyed = [hmac.new(key.encode(), data, hashlib.sha256).hexdigest() for key in keys]
    return keyed + [hashlib.sha256(data).hexdigest()]


class _Dumps:
    """``URLSafeSerializer(secret, salt).dumps``, byte for byte, several times faster.

    A digest carries a dozen tokens per reader; itsdangerous builds a signer, derives
    its key and runs ``zlib.compress`` (which sets up 256 KB of state: most of the
    cost) for each, to see whether compressing shortens the token. Here the key is
    derived once, the HMAC state is copied per token, and the "does it compress"
    test runs with a 1 KB window and small tables, which find the same matches in a payload
    this short; a payload that compresses, or a long one, takes itsdangerous's own
    path.
    """

    SHORT = 200  # bytes of JSON: every LZ77 distance fits the small window (762), every symbol its buffer (512)

    def __init__(self, secret: str, salt: str) -> None:
        key = hashlib.sha1(salt.encode() + b"signer" + secret.encode()).digest()  # itsdangerous's django-concat
        self._mac = hmac.new(key, digestmod=hashlib.sha1)
        self._serializer = URLSafeSerializer(secret, salt=salt)

    def __call__(self, payload: Any) -> str:
        data = _JSON.encode(payload).encode()
        if len(data) > self.SHORT or _compressed_size(data) < len(data) - 1:
            return str(self._serializer.dumps(payload))
        value = _b64(data)
        mac = self._mac.copy()
        mac.update(value)
        return (value + b"." + _b64(mac.digest())).decode()


_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # itsdangerous's compact JSON


def _compressed_size(data: bytes) -> int:
    """``len(zlib.compress(data))`` for short data, without allocating zlib's default 256 KB."""
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 10, 3)
    return len(compressor.compress(data)) + len(compressor.flush())


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


class Signer:
    """Signs tokens with one secret key and checks them against it and any ``old`` keys, a salt per purpose.

    Key rotation: a link in a mail delivered before the key changed was signed with
    what is now an old key (``DIGEST_SECRET_KEYS_OLD``); it still verifies, and names
    the reader by the id that key made (``reader_ids`` gives every key's id).
    """

    def __init__(self, secret: str, old: tuple[str, ...] | list[str] = ()) -> None:
        self.secret = secret
        self.keys = tuple(dict.fromkeys((secret, *old)))
        ring = list(reversed(self.keys))  # itsdangerous signs with the last key and tries every one
        self._plain = {p: URLSafeSerializer(ring, salt=f"digest.{p}") for p in PURPOSES}
        self._dumps = {p: _Dumps(secret, f"digest.{p}") for p in PURPOSES}
        self._timed = URLSafeTimedSerializer(ring, salt="digest.confirm")

    def dumps(self, purpose: str, payload: Any) -> str:
        if purpose == "confirm":
            return str(self._timed.dumps(payload))
        return self._dumps[purpose](payload)

    def loads(self, purpose: str, token: str) -> Any:
        try:
            if purpose == "confirm":
                return self._timed.loads(token, max_age=CONFIRM_MAX_AGE)
            return self._plain[purpose].loads(token)
        except SignatureExpired as err:  # checked after the signature: the token is ours
            raise ExpiredToken(purpose) from err
        except (BadData, UnicodeError, ValueError) as err:
            raise BadToken(purpose) from err

    def reader(self, purpose: str, token: str) -> str:
        """The reader id a one-reader token (unsubscribe, preferences, confirm) names."""
        payload = self.loads(purpose, token)
        if not isinstance(payload, str) or not payload:
            raise BadToken(purpose)
        return payload

    def pair(self, purpose: str, token: str) -> tuple[str, str]:
        """(reader id, paper id or day) from a feedback, save or view token."""
        payload = self.loads(purpose, token)
        if not (isinstance(payload, list) and len(payload) == 2 and all(isinstance(x, str) and x for x in payload)):
            raise BadToken(purpose)
        return payload[0], payload[1]


@lru_cache(maxsize=4)
def signer_for(secret: str) -> Signer:
    """One ``Signer`` per key, kept: a send signs a dozen links for each of thousands of readers."""
    return Signer(secret)


@dataclass(frozen=True)
class Feedback:
    """A paper's links in one reader's digest: more or less like this, and save it to the reading list."""

    up: str
    down: str
    save: str = ""


@dataclass(frozen=True)
class ReaderLinks:
    """The links one reader's digest carries."""

    unsubscribe: str
    preferences: str
    view: str
    feedback: dict[str, Feedback] = field(default_factory=dict)
    archive: str = ""  # the reader's past digests (the preferences token)
    feed: str = ""  # the same digests as a private Atom feed (the preferences token too)

    @property
    def whole_list(self) -> str:
        """This digest's every matching paper, ranked: the "and N more" link."""
        return f"{self.view}/all"


def links_for(settings: Settings, reader_id_or_email: str, paper_ids: list[str] | tuple[str, ...] = (),
              day: date | None = None) -> ReaderLinks:
    """Every link of one reader's digest for ``day`` (default today in DIGEST_TIMEZONE).

    Needs DIGEST_PUBLIC_URL (where ``digest serve`` is reached) and DIGEST_SECRET_KEY.
    """
    if not settings.public_url:
        raise ConfigError("DIGEST_PUBLIC_URL is not set; set it to where `digest serve` is reached")
    signer = signer_for(require_secret(settings))
    rid = reader_id(signer.secret, reader_id_or_email) if "@" in reader_id_or_email else reader_id_or_email
    base = settings.public_url
    when = (day or datetime.now(settings.zone).date()).isoformat()
    preferences = signer.dumps("preferences", rid)
    feedback = {}
    for paper_id in paper_ids:
        token = signer.dumps("feedback", [rid, paper_id])
        feedback[paper_id] = Feedback(f"{base}/feedback/{token}?vote=up", f"{base}/feedback/{token}?vote=down",
                                      f"{base}/save/{signer.dumps('save', [rid, paper_id])}")
    return ReaderLinks(
        unsubscribe=f"{base}/unsubscribe/{signer.dumps('unsubscribe', rid)}",
        preferences=f"{base}/preferences/{preferences}",
        view=f"{base}/d/{signer.dumps('view', [rid, when])}",
        feedback=feedback,
        archive=f"{base}/archive/{preferences}",
        feed=f"{base}/feed/{preferences}",
    )
