"""What every command group shares: settings and app loading, the source option,
the readers to act on, and text made safe for the terminal."""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError, KeywordError, StoreError, expand_home

if TYPE_CHECKING:  # the library is imported by the command that runs, after the arguments are parsed
    from ..app import Digest
    from ..model import Listing, Subscriber
    from ..settings import Settings


def _source_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", type=source, metavar="SRC",
                        help="file, sample, hf, hf:YYYY-MM-DD, arxiv:CATS, biorxiv:SUBJECT, medrxiv:SUBJECT or URL; "
                             "several comma-separated (default DIGEST_SOURCE)")
    parser.add_argument("--offline", action="store_true", help="use only the HTTP cache")


def source(text: str) -> str:
    """An argparse type: a source spec. An empty one (``--source "$SRC"`` with SRC unset) read DIGEST_SOURCE
    without a word, as if no --source were given."""
    if not text.strip():
        raise argparse.ArgumentTypeError("the source is empty; e.g. --source sample, --source hf or a file "
                                         "(leave --source out for DIGEST_SOURCE)")
    return text


def no_state_yet(state_db: Path) -> str:
    return f"no state database at {state_db} yet: check DIGEST_STATE_DB, or run digest send once to create it"


def require_state(settings: Settings) -> None:
    """A command that only reads what the state store recorded creates no empty one where there is none: a
    mistyped DIGEST_STATE_DB showed every reader active and nothing recorded, as if it were so."""
    if not settings.state_db.exists():
        raise StoreError(no_state_yet(settings.state_db))


def say_if_new_state(settings: Settings) -> None:
    """A command that records something (a pause, a vote) makes the database where there is none, as on a
    first install, but says so: on a mistyped DIGEST_STATE_DB no send would see what it records."""
    if not settings.state_db.exists():
        print(f"digest: note: there is no state database at {settings.state_db} yet; making it (if digest has "
              "sent from here before, check DIGEST_STATE_DB: no send would see this)", file=sys.stderr)


def _app(args: argparse.Namespace) -> Digest:
    from ..app import make_digest

    return make_digest(settings_for(args))


def settings_for(args: argparse.Namespace) -> Settings:
    from ..settings import default_env_file, load_settings

    return load_settings(args.env_file if args.env_file is not None else default_env_file())


def count(text: str) -> int:
    """An argparse type: a number of picks, 0 to MAX_ITEMS as DIGEST_MAX_ITEMS (a larger one overflowed the
    ranking's arrays)."""
    from ..settings import MAX_ITEMS

    if not text.isdigit() or len(text) > 9 or int(text) > MAX_ITEMS:
        shown = repr(text) if len(text) <= 20 else f"{text[:20]!r}…"
        raise argparse.ArgumentTypeError(f"{shown} is not a whole number from 0 to {MAX_ITEMS}")
    return int(text)


def address(text: str) -> str:
    """An argparse type: a reader's address as the roster and the store keep it (ASCII: ``ada@bücher.example``
    is ``ada@xn--bcher-kva.example``), so the reader the subscribers file names is found as written there.
    One that is no address stays as typed: the command says there is no such reader. An empty one is a usage
    error of its own: it read as "no reader  in the roster", and ``--subscriber ""`` as every reader."""
    from ..addresses import parse_address

    if not text.strip():
        raise argparse.ArgumentTypeError("the address is empty; give the reader's email, e.g. ada@example.com")
    try:
        return parse_address(text)
    except ConfigError:
        return text.strip()


def path(text: str) -> Path:
    """An argparse type: a file or folder, ``~`` and ``~user`` expanded as the shell would have (a quoted
    ``'~/x'`` made a folder named ``~``)."""
    try:
        return expand_home(Path(text))
    except ConfigError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def host(text: str) -> str:
    """An argparse type: the address to listen on. An empty one (``--host "$HOST"`` with HOST unset) listened on
    every address of the machine, as 0.0.0.0 does, without a word."""
    if not text.strip():
        raise argparse.ArgumentTypeError("the address is empty; give 127.0.0.1 (this machine only) or 0.0.0.0 "
                                         "(every address, behind a proxy)")
    return text.strip()


def port(text: str) -> int:
    """An argparse type: a TCP port, 0-65535 (0: any free one)."""
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return int(text)


def seconds(text: str) -> float:
    """An argparse type: a finite number of seconds, 0 or more (``nan`` or ``inf`` would wait forever)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 0 <= value <= 86_400:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds from 0 to 86400")
    return value


def _warn(listing: Listing) -> None:
    for warning in listing.warnings:
        print(f"digest: warning: {clean(warning)}", file=sys.stderr)
    for note in listing.notes:
        print(f"digest: {clean(note)}", file=sys.stderr)


def clip(text: str, width: int) -> str:
    text = clean(text)
    return text if len(text) <= width else text[: max(width - 1, 1)] + "…"


_BIDI = [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]  # reorder text on screen
_CONTROLS = {code: None for code in [*range(0x20), 0x7F, *range(0x80, 0xA0), *_BIDI] if code != 0x0A} | {0x09: " "}


def clean(text: str) -> str:
    """Text for the terminal: no control characters (C0 and C1, but newline, and the bidirectional ones) from
    a listing or a store, whatever they hold: an escape sequence in a title must not recolour or rewrite the
    screen, nor a right-to-left override reverse the rest of the line."""
    return text.translate(_CONTROLS)


def plural(number: int, word: str) -> str:
    """``text.plural`` for the command modules, imported when first used (``text`` loads a stemmer)."""
    from ..text import plural

    return plural(number, word)


def readers_for(args: argparse.Namespace, settings: Settings) -> list[Subscriber]:
    """The roster (``--keywords``, ``--subscribers``, the settings'); none when nothing names a reader: the readers
    may all be web sign-ups (``Digest.require_readers`` says whether there is anybody)."""
    from ..settings import is_utf8
    from ..subscribers import roster_from_settings, single_reader

    if getattr(args, "keywords", None) is not None:
        if not args.keywords.strip():
            raise KeywordError("--keywords is empty; e.g. --keywords 'reinforcement learning, -survey'")
        if not is_utf8(args.keywords):  # no email or terminal line can carry them
            raise KeywordError("--keywords is not UTF-8 text; type them again in a UTF-8 terminal")
        return [single_reader(settings, args.keywords)]
    return roster_from_settings(settings, getattr(args, "subscribers", None))


def votes_address(email: str) -> str:
    """``--keywords`` with ``--subscriber EMAIL``: the address whose votes rank those keywords, any reader's (the
    roster's, a web sign-up's) or none yet; only no address at all is refused."""
    from ..addresses import parse_address

    try:
        return parse_address(email)
    except ConfigError as err:
        raise ConfigError(f"--subscriber {email}: {err}") from None


def say(line: str, said: list[str] | None = None) -> None:
    """A line on stderr now, or kept in ``said`` to print later."""
    if said is None:
        print(line, file=sys.stderr)
    else:
        said.append(line)


def chosen_readers(args: argparse.Namespace, settings: Settings, app: Digest | None = None,
                   said: list[str] | None = None) -> list[Subscriber]:
    """``rank`` and ``preview``'s readers: with ``app`` and no ``--keywords``, the confirmed web sign-ups too, as
    the send adds them (nobody at all, roster nor sign-up, is the error saying how to add readers);
    ``--keywords`` with ``--subscriber``: those keywords for that reader, with their votes.
    One named by ``--subscriber`` is shown even when disabled (``enabled = false``), with a
    line saying no digest goes to them (kept in ``said`` when given, for the command to print once it has what it
    needs: a listing that cannot be read is then the one line)."""
    readers = readers_for(args, settings)
    if getattr(args, "keywords", None) is not None and getattr(args, "subscriber", None):
        return [dataclasses.replace(readers[0], email=votes_address(args.subscriber), name="")]
    if app is not None and getattr(args, "keywords", None) is None:
        readers += app.require_readers(readers)
    elif not readers:
        from ..subscribers import no_readers

        raise ConfigError(no_readers(settings))
    if getattr(args, "subscriber", None):
        readers = [r for r in readers if r.email.lower() == args.subscriber.lower()]
        if not readers:
            raise ConfigError(f"no subscriber {args.subscriber} in the configured readers")
        if not readers[0].enabled:
            say(f"digest: {clean(readers[0].email)} is disabled (enabled = false): no digest is sent to them; "
                "shown anyway", said)
            readers = [dataclasses.replace(readers[0], enabled=True)]
    return readers
