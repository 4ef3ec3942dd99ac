"""``digest store``: care of the state database (compact)."""

from __future__ import annotations

import argparse

from ..errors import StoreError
from .common import settings_for


def _add_store(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("store", help="the state database: compact (give free space back to the disk)")
    cmd.add_argument("action", choices=("compact",),
                     help="compact: rewrite the database without its free pages (VACUUM), and from then on "
                          "give the space of pruned digests back at once")
    cmd.add_argument("--wait", type=float, default=600.0, metavar="SECONDS",
                     help="how long to wait for a running send to finish (default 600)")
    cmd.set_defaults(func=run_store)


def run_store(args: argparse.Namespace) -> int:
    from ..lock import send_lock
    from ..store import Store

    settings = settings_for(args)
    if not settings.state_db.exists():
        raise StoreError(f"there is no state database at {settings.state_db} to compact; check DIGEST_STATE_DB")
    with send_lock(settings.state_db, wait=args.wait), Store.open(settings.state_db) as store:
        before, after = store.compact()
    print(f"{settings.state_db}: {_size(before)} -> {_size(after)}")
    return 0


def _size(count: int) -> str:
    value = float(count)
    for unit in ("bytes", "KB", "MB"):
        if value < 1024:
            return f"{count} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"
