"""``digest store``: care of the state database (compact), and moving it to PostgreSQL (copy)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError, StoreError
from .common import seconds, settings_for

if TYPE_CHECKING:
    from ..store import DatabaseURL, Store


def _add_store(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("store", help="the state database: compact (give free space back to the disk), "
                                            "copy (move a SQLite history into PostgreSQL)")
    cmd.add_argument("action", choices=("compact", "copy"),
                     help="compact: rewrite the database without its free pages (VACUUM), and from then on "
                          "give the space of pruned digests back at once; copy: every table of the SQLite "
                          "store into the empty PostgreSQL database --to names")
    cmd.add_argument("--to", metavar="URL", help="copy: postgresql://USER:PASSWORD@HOST:PORT/DB (an empty database)")
    cmd.add_argument("--wait", type=seconds, default=600.0, metavar="SECONDS",
                     help="how long to wait for a running send to finish (default 600)")
    cmd.set_defaults(func=run_store)


def run_store(args: argparse.Namespace) -> int:
    from ..lock import send_lock
    from ..store import Store

    settings = settings_for(args)
    if args.action == "copy":
        return _copy(settings.state_db, args.to, args.wait)
    if not settings.state_db.exists():
        raise StoreError(f"there is no state database at {settings.state_db} to compact; check DIGEST_STATE_DB")
    with send_lock(settings.state_db, wait=args.wait), Store.open(settings.state_db) as store:
        before, after = store.compact()
    print(f"{settings.state_db}: {_size(before)} -> {_size(after)}")
    return 0


def _copy(state_db: Path, to: str | None, wait: float) -> int:
    """Hold the send lock of the SQLite store while its history goes over, and the target's whole-list lock
    alone (as compact does): no send writes to either meanwhile, nor reads the target's empty ledger."""
    from ..lock import send_lock
    from ..settings import database_url
    from ..store import Store
    from ..store.copy import copy_store
    from ..store.journal import Journal
    from ..store.engine import is_url

    if not to or not is_url(to):
        raise ConfigError("digest store copy needs --to postgresql://USER:PASSWORD@HOST:PORT/DB (an empty database)")
    if is_url(state_db) or not state_db.exists():
        raise StoreError(f"there is no SQLite state database at {state_db} to copy; set DIGEST_STATE_DB to its path")
    try:
        target = database_url(to)
    except ValueError as err:
        raise ConfigError(f"--to: {err}") from None  # not the URL: its password is what failed to parse
    with (send_lock(state_db, wait=wait), Store.open(state_db) as source, _opened(target) as destination,
          send_lock(target, wait=wait)):
        Journal.beside(state_db).replay(source)  # deliveries still waiting beside the file go over too
        copied = copy_store(source, destination)
    for table, rows in copied.items():
        print(f"{table}: {rows} rows")
    print(f"copied {state_db} into {target}; set DIGEST_STATE_DB={target} (with its password) to use it")
    return 0


def _size(count: int) -> str:
    value = float(count)
    for unit in ("bytes", "KB", "MB"):
        if value < 1024:
            return f"{count} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def _opened(target: DatabaseURL) -> Store:
    """The copy's PostgreSQL database, its errors naming --to, where the URL came from (not DIGEST_STATE_DB)."""
    from ..store import Store

    try:
        return Store.open(target)
    except StoreError as err:
        raise StoreError(str(err).replace("DIGEST_STATE_DB", "--to"), transient=err.transient) from None
