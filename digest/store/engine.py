"""The two engines under the store: a SQLite file (a path) or PostgreSQL (a ``postgresql://`` URL).

``DIGEST_STATE_DB`` names either. A URL becomes a ``DatabaseURL``: a ``Path`` to
the code that passes it around (the send, the daemon, the web app never learn
which engine they talk to), whose ``str`` shows the URL without its password,
and whose ``parent`` and ``with_name`` are a local folder for what stays on each
host (the delivery journal).

``connect`` opens either and hands back a small wrapper with the same calls
(``execute``, ``executemany``, ``begin``, ``commit``, ``rollback``, ``script``,
``size_bytes``): the SQLite one passes statements through as they are, the
PostgreSQL one translates them (``digest.store.dialect``), serialises write
transactions with a transaction-level advisory lock, as SQLite's ``BEGIN
IMMEDIATE`` does, and keeps the schema version in a ``schema_version`` table.
psycopg is imported only when a URL is opened (the ``postgres`` extra).
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path, PosixPath
from typing import Any
from urllib.parse import urlsplit, urlunsplit

SCHEMES = ("postgresql://", "postgres://")


def is_url(value: object) -> bool:
    return isinstance(value, DatabaseURL) or (isinstance(value, str) and value.strip().startswith(SCHEMES))


def redact(url: str) -> str:
    """The URL without its password (and without a ``password=`` query parameter)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        user, host = netloc.rsplit("@", 1)
        netloc = (user.split(":", 1)[0] + ":***" if ":" in user else user) + "@" + host
    query = re.sub(r"(?i)(password=)[^&]*", r"\1***", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def lock_key(name: str) -> int:
    """A 64-bit advisory-lock key for ``name`` (the same on every host)."""
    return int.from_bytes(hashlib.sha256(f"digest:{name}".encode()).digest()[:8], "big", signed=True)


class DatabaseURL(PosixPath):
    """A PostgreSQL database, passed around where a state file would be.

    As a path it is ``local/NAME``: the folder on this host for its journal and
    such (``with_name``, ``parent``); ``url`` is what psycopg connects to.
    """

    url: str

    def __new__(cls, url: str, local: Path | None = None) -> "DatabaseURL":
        self = super().__new__(cls, *_local_parts(url, local))
        self.url = url.strip()
        return self

    def __init__(self, url: str, local: Path | None = None) -> None:
        if sys.version_info >= (3, 12):  # pathlib parses its arguments in __init__ from 3.12 on
            super().__init__(*_local_parts(url, local))  # type: ignore[call-arg]

    def __str__(self) -> str:
        return redact(self.url)

    def __repr__(self) -> str:
        return f"DatabaseURL({redact(self.url)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (DatabaseURL, (self.url, Path(PosixPath(*self.parts).parent)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DatabaseURL) and other.url == self.url

    def __hash__(self) -> int:
        return hash(self.url)

    @property
    def local(self) -> Path:
        return Path(*self.parts)

    @property
    def parent(self) -> Path:  # type: ignore[override]
        return self.local.parent

    def with_name(self, name: str) -> Path:  # type: ignore[override]
        return self.local.with_name(name)

    def exists(self) -> bool:  # type: ignore[override]
        """A server's database is made on first use, as a new file is."""
        return True

    def __fspath__(self) -> str:
        raise TypeError(f"{self} is a PostgreSQL database, not a file")


def _local_parts(url: str, local: Path | None) -> tuple[Path, str]:
    """This host's folder for the database's files, and their name (``pg-HOST-PORT-DB``)."""
    parts = urlsplit(url.strip())
    name = f"pg-{parts.hostname or 'local'}-{parts.port or 5432}-{parts.path.strip('/') or 'postgres'}"
    return local or Path.home() / ".local" / "share" / "digest", re.sub(r"[^A-Za-z0-9_.-]+", "-", name)


def is_database_error(err: BaseException) -> bool:
    """sqlite3's errors, psycopg's (without importing it) and the file system's."""
    import sqlite3

    return isinstance(err, (sqlite3.Error, OSError)) or type(err).__module__.split(".")[0] == "psycopg"
