"""Signed links are itsdangerous tokens: the fast signer writes exactly what itsdangerous writes."""

from __future__ import annotations

import random
import string
import zlib

import pytest
from itsdangerous import URLSafeSerializer

from digest.settings import load_settings
from digest.tokens import PURPOSES, Signer, _compressed_size, links_for, signer_for

PAYLOADS = [
    "Vx3kq9Lr0aBcDeFgHiJk",
    ["Vx3kq9Lr0aBcDeFgHiJk", "2601.01234"],
    ["Vx3kq9Lr0aBcDeFgHiJk", "2026-11-23"],
    ["Vx3kq9Lr0aBcDeFgHiJk", "hf:acl-2025.long.1234"],
    ["rüdiger-€-日本", "2601.01234v2"],
    "a" * 40,  # compresses: itsdangerous's own path, with the "." prefix
    ["x" * 300, "long"],
    [1, None, {"k": 2.5}],
    "",
]


@pytest.mark.parametrize("purpose", [p for p in PURPOSES if p != "confirm"])
@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
def test_a_token_is_byte_for_byte_what_itsdangerous_signs_and_reads_back(purpose, payload) -> None:
    reference = URLSafeSerializer("k" * 40, salt=f"digest.{purpose}")
    signer = Signer("k" * 40)

    token = signer.dumps(purpose, payload)

    assert token == reference.dumps(payload)
    assert signer.loads(purpose, token) == payload


def test_the_short_compression_test_sizes_payloads_as_zlib_does() -> None:
    rng = random.Random(13)
    alphabets = [string.ascii_letters + string.digits + "-_", "ab", "0123456789.", "aé€日 "]
    for _ in range(3000):
        data = "".join(rng.choice(rng.choice(alphabets)) for _ in range(rng.randint(0, 120))).encode()[:200]
        if rng.random() < 0.3:
            data = (data[: rng.randint(1, 12)] * 40)[:200]
        assert _compressed_size(data) == len(zlib.compress(data)), data


def test_a_send_signs_with_one_signer_per_key() -> None:
    settings = load_settings(None, {"DIGEST_PUBLIC_URL": "https://digest.example.org", "DIGEST_SECRET_KEY": "Ut4nW8qZ1xC6vB3mK9pR2sL7"})

    first = links_for(settings, "ada@example.org", ["2601.01234"])
    second = links_for(settings, "ada@example.org", ["2601.01234"])

    assert signer_for("s" * 40) is signer_for("s" * 40)
    assert first == second and first.feedback["2601.01234"].up.startswith("https://digest.example.org/feedback/")
