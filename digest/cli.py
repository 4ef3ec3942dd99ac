"""The ``digest`` command: a thin shell over the library API.

A ``DigestError`` becomes one line on stderr and exit code 1; anything else is a
bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from . import __version__
from .app import Digest, make_digest
from .errors import DigestError
from .model import Listing
from .settings import Settings, load_settings

Command = Callable[[argparse.Namespace], int]
log = logging.getLogger("digest")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s" if args.debug else "%(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("httpx").setLevel(logging.INFO if args.debug else logging.WARNING)
    try:
        return int(args.func(args))
    except DigestError as err:
        if args.debug:
            raise
        print(f"digest: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("digest: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="digest", description="The day's research papers, ranked for you, by email."
    )
    parser.add_argument("--version", action="version", version=f"digest {__version__}")
    parser.add_argument("--env-file", type=Path, default=Path(".env"), metavar="PATH",
                        help="settings file (default ./.env; real environment variables win)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("-v", "--verbose", action="store_true", help="show progress logs")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for add in (_add_papers,):
        add(commands)
    return parser


def _source_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", metavar="SRC",
                        help="file, sample, hf, hf:YYYY-MM-DD, arxiv:CATS or URL; "
                             "several comma-separated (default DIGEST_SOURCE)")
    parser.add_argument("--offline", action="store_true", help="use only the HTTP cache")


def _app(args: argparse.Namespace) -> Digest:
    return make_digest(settings_for(args))


def settings_for(args: argparse.Namespace) -> Settings:
    return load_settings(args.env_file)


def _warn(listing: Listing) -> None:
    for warning in listing.warnings:
        print(f"digest: warning: {warning}", file=sys.stderr)


# papers ---------------------------------------------------------------------

def _add_papers(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("papers", help="load a listing and show its papers")
    _source_option(cmd)
    cmd.add_argument("--json", action="store_true", help="one JSON object per line")
    cmd.set_defaults(func=run_papers)


def run_papers(args: argparse.Namespace) -> int:
    with _app(args) as app:
        listing = app.load_listing(args.source, offline=args.offline)
    _warn(listing)
    if not listing.papers:
        print(f"digest: no papers listed in {listing.source}", file=sys.stderr)
        return 1
    if args.json:
        for paper in listing.papers:
            print(json.dumps(paper.to_json(), ensure_ascii=False))
        return 0
    width = shutil.get_terminal_size((100, 20)).columns
    print(f"{'ID':<24} {'UP':>4}  TITLE")
    for paper in listing.papers:
        up = "" if paper.upvotes is None else str(paper.upvotes)
        print(f"{paper.id:<24} {up:>4}  {clip(paper.title, width - 31)}")
    print(f"{len(listing.papers)} papers from {listing.source}", file=sys.stderr)
    return 0


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 1)] + "…"
