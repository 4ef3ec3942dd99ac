"""Amazon SNS message signatures, checked before a webhook believes a word of the message.

SNS signs each message with a certificate it names by URL. The URL must be an
``https://sns.<region>.amazonaws.com/...pem`` address (anything else is a forgery
pointing at its own key); the certificate is read from ``DIGEST_SES_CERT_DIR``
(pinned by the operator: the file named as the URL's last part) or fetched once
over https and kept in memory. The signed text is the message's fields, in the
order AWS documents, as ``Key\\nValue\\n``; SignatureVersion 1 is SHA-1, 2 is SHA-256,
both RSA PKCS#1 v1.5. Any AWS account can sign messages for its own topics, so the
topic must also be ours (``DIGEST_SES_TOPIC_ARN``).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

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


class BadSignature(DigestError):
    """The message is not provably from our SNS topic: the webhook changes nothing."""


def certificate_url_ok(url: str) -> bool:
    parts = urlsplit(url)
    return (parts.scheme == "https" and parts.port is None and parts.username is None
            and bool(CERT_HOST.fullmatch(parts.hostname or "")) and parts.path.endswith(".pem"))


def fetch_over_https(url: str) -> bytes:
    """The certificate from AWS itself (TLS-verified); the URL was checked before."""
    import httpx

    try:
        with httpx.Client(timeout=10, follow_redirects=False) as client:
            answer = client.get(url)
    except httpx.HTTPError as err:
        raise BadSignature(f"cannot fetch the signing certificate {url} ({err})") from None
    if answer.status_code != 200 or len(answer.content) > MAX_CERT_BYTES:
        raise BadSignature(f"cannot fetch the signing certificate {url} (HTTP {answer.status_code})")
    return answer.content


class Certificates:
    """SNS signing keys by certificate URL: pinned in a folder, or fetched (``fetch``) and cached."""

    def __init__(self, pinned: Path | None = None, fetch: Callable[[str], bytes] = fetch_over_https,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.pinned, self.fetch, self.clock = pinned, fetch, clock
        self.keys: dict[str, rsa.RSAPublicKey] = {}

    def key(self, url: str) -> rsa.RSAPublicKey:
        if not certificate_url_ok(url):
            raise BadSignature("the signing certificate's URL is not an https sns.<region>.amazonaws.com address")
        if url not in self.keys:
            self.keys[url] = self._load(url)
        return self.keys[url]

    def _load(self, url: str) -> rsa.RSAPublicKey:
        if self.pinned is not None:
            path = self.pinned / PurePosixPath(urlsplit(url).path).name
            if not path.is_file():
                raise BadSignature(f"the signing certificate {path.name} is not in DIGEST_SES_CERT_DIR")
            pem = path.read_bytes()
        else:
            pem = self.fetch(url)
        try:
            cert = x509.load_pem_x509_certificate(pem)
        except ValueError:
            raise BadSignature(f"the signing certificate at {url} is not a PEM certificate") from None
        if not cert.not_valid_before_utc <= self.clock() <= cert.not_valid_after_utc:
            raise BadSignature(f"the signing certificate at {url} is not valid now")
        key = cert.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise BadSignature("the signing certificate's key is not RSA")
        return key


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
