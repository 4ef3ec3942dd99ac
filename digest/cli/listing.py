"""The listing commands: papers, rank and preview."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import OutputError
from .common import (
    _app, _source_option, _warn, address, chosen_readers, clean, clip, count, path, plural, port, say, settings_for,
)

if TYPE_CHECKING:
    from ..app import Digest
    from ..model import Subscriber
    from ..ranking.hints import KeywordHint
    from ..ranking.select import Pick
    from ..settings import Settings


# papers ---------------------------------------------------------------------

def _add_papers(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("papers", help="load a listing and show its papers")
    _source_option(cmd)
    cmd.add_argument("--json", action="store_true", help="one JSON object per line")
    cmd.set_defaults(func=run_papers)


def run_papers(args: argparse.Namespace) -> int:
    import shutil

    with _app(args) as app:
        listing = app.load_listing(args.source, offline=args.offline)
    _warn(listing)
    if not listing.papers:  # an empty day (a weekend, a holiday) is no error, as for send; an unreadable listing is
        if not listing.notes:
            print(f"digest: no papers listed in {listing.source}", file=sys.stderr)
        return 0
    if args.json:
        for paper in listing.papers:
            print(json.dumps(paper.to_json(), ensure_ascii=False))
        return 0
    width = shutil.get_terminal_size((100, 20)).columns
    print(f"{'ID':<24} {'UP':>4}  TITLE")
    for paper in listing.papers:
        up = "" if paper.upvotes is None else str(paper.upvotes)
        print(f"{clean(paper.id):<24} {up:>4}  {clip(paper.title, width - 31)}")
    print(f"{plural(len(listing.papers), 'paper')} from {clean(listing.source)}", file=sys.stderr)
    return 0


# rank -----------------------------------------------------------------------

def _add_rank(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("rank", help="show what each reader would get, and why")
    _source_option(cmd)
    who = cmd.add_mutually_exclusive_group()
    who.add_argument("--keywords", help='e.g. "reward model*, RLHF^2, -survey"')
    who.add_argument("--subscribers", type=path, metavar="FILE", help="subscribers TOML file")
    cmd.add_argument("--subscriber", type=address, metavar="EMAIL",
                     help="only this reader (with --keywords: those keywords with this reader's votes)")
    cmd.add_argument("--limit", type=count, metavar="N",
                     help="at most N picks per reader, instead of DIGEST_MAX_ITEMS (0: no limit)")
    cmd.add_argument("--json", action="store_true", help="one JSON object per pick")
    cmd.set_defaults(func=run_rank)


def run_rank(args: argparse.Namespace) -> int:
    from ..app import make_digest

    settings = settings_for(args)
    with make_digest(settings) as app:
        said: list[str] = []  # about the readers, once the listing is read
        readers = chosen_readers(args, settings, app, said)  # the web sign-ups too, as the send adds them
        if args.keywords is None:  # a reader's own changes on the web app win, as in the send
            readers = held_back(app.with_own_changes(readers), app.held_back(readers), named=bool(args.subscriber),
                                said=said)
        since = app.last_run_day(args.source)  # as a send would: the look-back of this source
        listing = app.load_listing(args.source, offline=args.offline, since=since)
        for line in said:
            print(line, file=sys.stderr)
        _warn(listing)
        plan = app.candidates(listing, readers)
        hints: dict[str, tuple[KeywordHint, ...]] = {}
        results = app.rank_readers(plan.listing, readers, plan, limit=args.limit, hints=hints)
    print_hints(hints)
    for reader, picks in results:
        if args.json:
            print_picks_json(reader, picks)
        else:
            print_picks(reader, picks, len(results) > 1)
    if not args.json and any(picks for _, picks in results):
        print(LEGEND)
    return 0


def held_back(readers: list[Subscriber], held: dict[str, str], named: bool,
              said: list[str] | None = None) -> list[Subscriber]:
    """Readers the send skips (paused, unsubscribed, suppressed) are left out, as they get nothing; one named by
    ``--subscriber`` is shown, with a line saying so (as a disabled one is; kept in ``said`` when given)."""
    if not named:
        return [reader for reader in readers if reader.email.lower() not in held]
    for reader in readers:
        if reader.email.lower() in held:
            say(f"digest: {clean(reader.email)} is {held[reader.email.lower()]}: no digest is sent to them; "
                "shown anyway", said)
    return readers


LEGEND = "where found: [t] title, [a] abstract, [t+a] both"


def print_hints(hints: dict[str, tuple[KeywordHint, ...]]) -> None:
    """On stderr (stdout may be parsed): each keyword that matched nothing, and what the papers say."""
    for email, found in hints.items():
        for hint in found:
            who = f"{clean(email)}: " if len(hints) > 1 and email else ""
            print(f"digest: hint: {who}{clean(hint.sentence())}", file=sys.stderr)


def print_picks_json(reader: Subscriber, picks: list[Pick]) -> None:
    for pick in picks:
        print(json.dumps({
            "subscriber": reader.email or None, "rank": pick.rank, "id": pick.paper.id,
            "title": pick.paper.title, "score": pick.score,
            "matched": [m.keyword for m in pick.matched],
            "where": {m.keyword: list(m.fields) for m in pick.matched},
            "because": pick.because or None,
            "followed": pick.followed or None,
        }, ensure_ascii=False))


def print_picks(reader: Subscriber, picks: list[Pick], heading: bool) -> None:
    """A table as wide as the terminal: the title gets what the matched keywords leave."""
    import shutil

    if heading:
        print(f"\n== {clean(reader.name or reader.email)} <{clean(reader.email)}>: {plural(len(picks), 'pick')}")
    if not picks:
        print("(nothing new matches)")
        return
    wheres = [matched_where(pick) for pick in picks]
    room = shutil.get_terminal_size((110, 20)).columns - 14  # "#", SCORE and the gaps between columns
    matched_width = min(max(len(w) for w in wheres + ["MATCHED"]), max(room // 2, 20))
    title_width = max(room - matched_width, 20)
    print(f"{'#':>3} {'SCORE':>6}  {'TITLE':<{title_width}}  MATCHED")
    for pick, where in zip(picks, wheres):
        title = clip(pick.paper.title, title_width)
        print(f"{pick.rank:>3} {pick.score:>6.2f}  {title:<{title_width}}  {clip(where, matched_width)}".rstrip())


def matched_where(pick: Pick) -> str:
    """``reward model [t+a]; RLHF [a]``: each keyword and the fields it was found in (and why a liked paper
    lifted it, and the followed author or lab it is by: ``by Yann LeCun``)."""
    reasons = [f"{m} [{'+'.join(f[0] for f in m.fields)}]" for m in pick.matched]
    return "; ".join(reasons + [why for why in (pick.because, pick.followed) if why])


# preview --------------------------------------------------------------------

def _add_preview(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("preview", help="the email in your browser, exactly as it would be sent")
    _source_option(cmd)
    cmd.add_argument("--subscriber", type=address, metavar="EMAIL", help="preview this reader's digest")
    who = cmd.add_mutually_exclusive_group()  # as in rank: the keywords would silently win over the file
    who.add_argument("--subscribers", type=path, metavar="FILE", help="subscribers TOML file")
    who.add_argument("--keywords", help="preview for these keywords instead")
    cmd.add_argument("--output", type=path, metavar="FILE", help="write the HTML to FILE and exit")
    cmd.add_argument("--port", type=port, default=8025, metavar="N", help="port on 127.0.0.1 (default 8025)")
    cmd.add_argument("--no-browser", action="store_true", help="do not open a browser")
    cmd.set_defaults(func=run_preview)


SAMPLE_KEYWORDS = "reinforcement learning, reward model*, LLM, -survey"  # what the sample is about


def preview_readers(args: argparse.Namespace, settings: Settings, app: Digest | None = None,
                    said: list[str] | None = None) -> list[Subscriber]:
    """The configured readers (with ``app``, and the web sign-ups); with none at all, neither a roster nor a
    confirmed sign-up (a fresh install), the bundled sample previews for its demo keywords."""
    from ..subscribers import single_reader

    configured = args.keywords or args.subscriber or args.subscribers or settings.subscribers or settings.keywords
    if configured or (args.source or settings.source).strip() != "sample" or (app and app.web_sign_ups(())):
        return chosen_readers(args, settings, app, said)
    print(f"digest: no reader configured (DIGEST_KEYWORDS, DIGEST_SUBSCRIBERS); "
          f"previewing the sample for its demo keywords: {SAMPLE_KEYWORDS}", file=sys.stderr)
    return [single_reader(settings, SAMPLE_KEYWORDS)]


def run_preview(args: argparse.Namespace) -> int:
    from ..app import make_digest
    from ..web.preview import Preview, serve

    settings = settings_for(args)
    with make_digest(settings) as app:
        said: list[str] = []  # about the reader, once the email is made
        readers = preview_readers(args, settings, app, said)
        preview = Preview(app, readers[0], source=args.source, offline=args.offline,
                          own_changes=args.keywords is None)  # as rank: --keywords are the keywords previewed
        html = preview.rendered().html if args.output else ""  # a failure is the one line said (the server
        # renders on each request, the templates perhaps mid-edit)
        _warn(preview.listing)  # what the listing dropped, or a day with none, as papers and rank say it
        for line in said:
            print(line, file=sys.stderr)
        if len(readers) > 1:  # no --subscriber: whose email this is was nowhere said
            who = clean(readers[0].email) or "DIGEST_KEYWORDS (no DIGEST_TO)"
            print(f"digest: previewing the digest of {who}, the first of {len(readers)} readers; "
                  "--subscriber EMAIL previews another's", file=sys.stderr)
        if args.keywords is None:  # a paused reader is previewed, with a line saying they get nothing
            held_back(readers[:1], app.held_back(readers[:1]), named=True)
        if preview.unsummarised:
            print(f"digest: note: no summary by {clean(settings.llm_model)} for {preview.unsummarised} of "
                  f"{plural(len(preview.picks), 'paper')} here: the send asks DIGEST_LLM_URL for them; the preview "
                  "never asks, it shows the summaries a send kept", file=sys.stderr)
        if not preview.picks and not settings.send_empty:  # the send sends nothing then: the email shown is not sent
            who = clean(preview.reader.email) or "this reader"
            print(f"digest: nothing new for {who}: no email is sent (DIGEST_SEND_EMPTY is off); shown anyway, "
                  "as DIGEST_SEND_EMPTY=true would send it", file=sys.stderr)
        if args.output:
            try:
                args.output.write_text(html, encoding="utf-8")
            except OSError as err:
                raise OutputError.writing(args.output, err, "choose another file with --output FILE") from err
            print(f"wrote {args.output}")
            return 0
        return serve(preview, args.port, open_browser=not args.no_browser)
