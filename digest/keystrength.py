"""How guessable a secret key is: a rough entropy estimate in bits, zxcvbn's idea in a few rules.

A key is read left to right. A common password word (``password``, ``changeme``,
``secret``...) costs what picking it from a short list costs; a run of one
character, or a sequence (``12345678``, ``abcdef``, ``qwerty``), costs little
more than its first character and its length; a key that repeats one part
(``changemechangeme``) costs that part once. Every other character costs the
size of the alphabet the key draws from (lower case, upper case, digits,
symbols). A key from ``secrets.token_urlsafe(32)`` estimates at about 250 bits;
``changemechangeme`` at 8, ``password12345678`` at 17.
"""

from __future__ import annotations

import math
import string

MIN_BITS = 64.0  # below this a key is refused: its links could be forged by guessing it
COMMON = (
    "password", "passwd", "passw0rd", "changeme", "change", "secret", "letmein", "welcome", "qwerty", "azerty",
    "admin", "default", "example", "digest", "test", "token", "dragon", "monkey", "master", "login", "hello",
    "iloveyou", "sunshine", "football", "baseball", "trustno1", "shadow", "superman", "root", "pass", "demo",
    "sample", "private", "insecure", "dummy", "foobar", "key", "abc", "hunter",
)
ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm", "azertyuiop", "qwertzuiop", string.ascii_lowercase, string.digits)
_WORD_BITS = math.log2(len(COMMON) * 4)  # the word, and how it is capitalised


def entropy_bits(key: str) -> float:
    """A rough estimate of the bits an attacker must guess; lower is weaker."""
    if not key:
        return 0.0
    period = _period(key)
    if period < len(key):
        return _scan(key[:period], _pool(key)) + math.log2(len(key) / period)
    return _scan(key, _pool(key))


def is_weak(key: str) -> bool:
    return entropy_bits(key) < MIN_BITS


def _pool(key: str) -> int:
    classes = (string.ascii_lowercase, string.ascii_uppercase, string.digits)
    size = sum(len(c) for c in classes if any(ch in c for ch in key))
    return size + (33 if any(not ch.isascii() or not ch.isalnum() for ch in key) else 0)


def _period(key: str) -> int:
    """The shortest part the key repeats (the key's length when it repeats none)."""
    for size in range(1, len(key) // 2 + 1):
        if all(key[i] == key[i % size] for i in range(len(key))):
            return size
    return len(key)


def _scan(key: str, pool: int) -> float:
    one, bits, i = math.log2(pool), 0.0, 0
    lower = key.lower()
    while i < len(key):
        word = max((w for w in COMMON if lower.startswith(w, i)), key=len, default="")
        run = max(_run(lower, i), _sequence(lower, i))
        if len(word) >= run and word:
            bits, i = bits + _WORD_BITS, i + len(word)
        elif run >= 3:
            bits, i = bits + one + math.log2(run) + 1, i + run
        else:
            bits, i = bits + one, i + 1
    return bits


def _run(key: str, start: int) -> int:
    end = start
    while end < len(key) and key[end] == key[start]:
        end += 1
    return end - start


def _sequence(key: str, start: int) -> int:
    """The length of the sequence starting here: along the alphabet, the digits or a keyboard row, either way."""
    best = 1
    for row in ROWS:
        for line in (row, row[::-1]):
            at = line.find(key[start])
            if at < 0:
                continue
            size = 0
            while start + size < len(key) and at + size < len(line) and key[start + size] == line[at + size]:
                size += 1
            best = max(best, size)
    return best
