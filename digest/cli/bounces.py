"""``digest bounces``: read the bounce mailbox and act on it (suppress, unsubscribe)."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from pathlib import Path

from ..errors import ConfigError
from .common import clean, path, require_state, settings_for
from .readers import _roster_or_none


def _add_bounces(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser(
        "bounces", help="read the bounce mailbox (DIGEST_BOUNCE_IMAP_URL): suppress dead addresses and complainers")
    cmd.add_argument("--subscribers", type=path, metavar="FILE", help="subscribers TOML file")
    cmd.set_defaults(func=run_bounces)


def run_bounces(args: argparse.Namespace) -> int:
    from ..bounces import check_bounces
    from ..checks import BOUNCES_WITHOUT_ADDRESS
    from ..store import Store

    settings = settings_for(args)
    if settings.bounce_imap_url and not settings.bounce_address:
        raise ConfigError(BOUNCES_WITHOUT_ADDRESS)
    require_state(settings)  # no send ever used a store that is not there: the mailbox's bounces are another's
    if not settings.bounce_imap_url:
        print("digest: note: DIGEST_BOUNCE_IMAP_URL is not set; only the refusals at RCPT are counted",
              file=sys.stderr)
    roster = [r.email for r in _roster_or_none(settings, args.subscribers)]
    today = datetime.fromtimestamp(time.time(), settings.zone).date()
    with Store.open(settings.state_db) as store:
        report = check_bounces(settings, store, roster, today)
    for line in report.lines():
        print(clean(line))
    print(f"read {report.read} message(s): {len(report.suppressed)} suppressed, {len(report.unsubscribed)} "
          f"unsubscribed, {len(report.counted)} counted, {len(report.policy)} policy, {report.unmatched} unmatched, "
          f"{report.ignored} ignored", file=sys.stderr)
    return 0
