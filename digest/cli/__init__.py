"""The ``digest`` command: a thin shell over the library API.

A ``DigestError`` becomes one line on stderr and exit code 1; anything else is a
bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import codecs
import io
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from .. import __version__
from ..errors import DigestError
from .bounces import _add_bounces
from .common import chosen_readers, clean, clip, count, path, plural, readers_for, settings_for
from .listing import LEGEND, _add_papers, _add_preview, _add_rank
from .readers import _add_feedback, _add_readers, _add_serve
from .sending import ZonedFormatter, _add_check, _add_run, _add_send, _add_status
from .store import _add_store

__all__ = [
    "LEGEND", "ZonedFormatter", "build_parser", "chosen_readers", "clean", "clip", "count", "main", "plural",
    "readers_for", "settings_for",
]

Command = Callable[[argparse.Namespace], int]
log = logging.getLogger("digest")


# OpenBLAS starts a thread per core when numpy loads, and they spin: a tenth of a second and more of CPU
# in every cold ``digest`` process. digest's numpy work is column sums and small products on one core (a big
# send forks its own second process), so one thread is all it uses. Read when numpy loads: after parsing.
BLAS_THREADS = ("OPENBLAS_NUM_THREADS",)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _escape_what_stdout_cannot_encode()
    for name in BLAS_THREADS:  # one BLAS thread, unless the environment says otherwise
        os.environ.setdefault(name, "1")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s") if args.debug
                         else CommandFormatter())
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO if args.verbose else logging.WARNING,
                        handlers=[handler])
    logging.getLogger("httpx").setLevel(logging.INFO if args.debug else logging.WARNING)
    # psycopg logs "error ignored terminating <psycopg.Pipeline ...>" for a failure digest reports in its own words
    logging.getLogger("psycopg").setLevel(logging.DEBUG if args.debug else logging.CRITICAL)
    try:
        return int(args.func(args))
    except DigestError as err:
        if args.debug:
            raise
        print(f"digest: error: {clean(str(err))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("digest: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def _escape_what_stdout_cannot_encode() -> None:
    """A character the terminal's encoding cannot carry (a title's ``☃`` with ``PYTHONIOENCODING=ascii`` or in a
    Latin-1 terminal) is written as a ``\\uXXXX`` escape, not a ``UnicodeEncodeError`` traceback halfway through
    the table. In ``--json`` output the escape is the same character to any JSON reader."""
    stream = sys.stdout
    if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
        stream.reconfigure(errors=JSON_ESCAPE)


def _json_escape(err: UnicodeError) -> tuple[str, int]:
    """The codec error handler: each character as JSON escapes it (one beyond U+FFFF as its surrogate pair)."""
    if not isinstance(err, UnicodeEncodeError):
        raise err
    units = err.object[err.start:err.end].encode("utf-16-be", "surrogatepass")
    return "".join(f"\\u{units[i]:02x}{units[i + 1]:02x}" for i in range(0, len(units), 2)), err.end


JSON_ESCAPE = "digest-json-escape"
codecs.register_error(JSON_ESCAPE, _json_escape)


class CommandFormatter(logging.Formatter):
    """A warning or error logged by the library reads like the command's own lines: ``digest: warning: ...``.

    Progress (``-v``) stays bare; the daemon logs with times instead (``ZonedFormatter``).
    """

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        if record.levelno < logging.WARNING or line.startswith("digest:"):
            return line
        return f"digest: {line}"


GLOBAL_OPTIONS = {"--debug": "--debug", "-v": "-v", "--verbose": "-v", "--env-file": "--env-file PATH",
                  "--version": "--version"}


class _Parser(argparse.ArgumentParser):
    """``digest send --debug`` is the usual slip: the error says where a global option goes."""

    argv: Sequence[str] = ()

    def parse_args(  # type: ignore[override]
            self, args: Sequence[str] | None = None, namespace: None = None) -> argparse.Namespace:
        self.argv = sys.argv[1:] if args is None else list(args)
        return super().parse_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments: "):
            given = [arg.split("=", 1)[0] for arg in message.split(": ", 1)[1].split()]
            misplaced = [GLOBAL_OPTIONS[arg] for arg in given if arg in GLOBAL_OPTIONS]
            commands = {name for action in self._actions if isinstance(action, argparse._SubParsersAction)
                        for name in action.choices}
            command = next((arg for arg in self.argv if arg in commands), "COMMAND")
            if misplaced:
                message += (f"; {misplaced[0].split()[0]} is a global option: write it before the command, "
                            f"digest {misplaced[0]} {command} ...")
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="digest", description="The day's research papers, ranked for you, by email."
    )
    parser.add_argument("--version", action="version", version=f"digest {__version__}")
    parser.add_argument("--env-file", type=path, metavar="PATH",
                        help="settings file (default ./.env if there is one; real environment variables win)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("-v", "--verbose", action="store_true", help="show progress logs")
    parser.set_defaults(func=_help_for(parser))
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for add in (_add_papers, _add_rank, _add_preview, _add_send, _add_run, _add_check, _add_status,
                _add_serve, _add_readers, _add_feedback, _add_bounces, _add_store):
        add(commands)
    return parser


def _help_for(parser: argparse.ArgumentParser) -> Command:
    """``digest`` with no command: the help, and exit code 2 (a usage error)."""
    def show(args: argparse.Namespace) -> int:
        parser.print_help()
        return 2
    return show
