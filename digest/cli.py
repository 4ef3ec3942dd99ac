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
from .errors import KeywordError
from .keywords import split_keywords
from .model import Listing, Subscriber
from .subscribers import subscribers_from_settings
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
    for add in (_add_papers, _add_rank):
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


# rank -----------------------------------------------------------------------

def _add_rank(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("rank", help="show what each reader would get, and why")
    _source_option(cmd)
    who = cmd.add_mutually_exclusive_group()
    who.add_argument("--keywords", help='e.g. "reward model*, RLHF^2, -survey"')
    who.add_argument("--subscribers", type=Path, metavar="FILE", help="subscribers TOML file")
    cmd.add_argument("--limit", type=int, metavar="N", help="at most N picks per reader")
    cmd.add_argument("--json", action="store_true", help="one JSON object per pick")
    cmd.set_defaults(func=run_rank)


def readers_for(args: argparse.Namespace, settings: Settings) -> list[Subscriber]:
    if getattr(args, "keywords", None) is not None:
        if not args.keywords.strip():
            raise KeywordError("--keywords is empty; e.g. --keywords 'reinforcement learning, -survey'")
        return [Subscriber(email=settings.to, keywords=tuple(split_keywords(args.keywords)))]
    return subscribers_from_settings(settings, getattr(args, "subscribers", None))


def run_rank(args: argparse.Namespace) -> int:
    settings = settings_for(args)
    readers = readers_for(args, settings)
    with make_digest(settings) as app:
        listing = app.load_listing(args.source, offline=args.offline)
        _warn(listing)
        results = app.rank_readers(listing, readers, app.sent_ids(readers), limit=args.limit)
    for reader, picks in results:
        if args.json:
            for pick in picks:
                print(json.dumps({
                    "subscriber": reader.email or None, "rank": pick.rank, "id": pick.paper.id,
                    "title": pick.paper.title, "score": pick.score,
                    "matched": [m.keyword for m in pick.matched],
                    "where": {m.keyword: list(m.fields) for m in pick.matched},
                }, ensure_ascii=False))
        else:
            print_picks(reader, picks, len(results) > 1)
    return 0


def print_picks(reader: Subscriber, picks: list, heading: bool) -> None:
    if heading:
        print(f"\n== {reader.name or reader.email} <{reader.email}>: {len(picks)} picks")
    if not picks:
        print("(nothing new matches)")
        return
    width = shutil.get_terminal_size((110, 20)).columns
    print(f"{'#':>3} {'SCORE':>6}  {'TITLE':<60}  MATCHED")
    for pick in picks:
        where = "; ".join(f"{m} [{'+'.join(f[0] for f in m.fields)}]" for m in pick.matched)
        print(f"{pick.rank:>3} {pick.score:>6.2f}  {clip(pick.paper.title, 60):<60}  {clip(where, max(width - 74, 20))}")
