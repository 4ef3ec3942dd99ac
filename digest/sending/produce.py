"""Produce: each reader's message, in order, built here or by a forked child for big lists.

Ranking, rendering and building are CPU work, sending is mostly waiting for the
server. For a big list (and a single-threaded process: forking a threaded one is
unsafe; the send's lease, renewing its locks on PostgreSQL, stops its thread for the
fork: ``Lease.paused_for_fork``) a forked child does the CPU work on another core and
hands the built messages over a bounded queue. The child records nothing, holds nothing and
outlives nothing:

- it closes its inherited copy of the send lock at once, so a killed parent
  never leaves the lock held;
- it asks the kernel to kill it when its parent dies (``PR_SET_PDEATHSIG`` on
  Linux) and, everywhere, gives up when its parent is gone while it waits;
- it restores the default SIGTERM (the CLI's "finish the message in hand"
  handler is the parent's business) and ignores SIGINT (Ctrl-C reaches the
  whole process group; the parent decides);
- the parent never waits for it without a bound: terminate, join with a
  timeout, then kill;
- it opens its own connection to the state store (a SQLite connection never
  crosses a fork) to ask, just before each message is built, whether the
  reader still wants mail: an unsubscribe that arrives mid-send is honoured
  for every message built after it.

Which readers are built comes in batches of positions (``digest.sending.claiming``):
one batch of all of them, or on PostgreSQL the readers this send claimed, asked
for only as the sender needs more; the parent claims, and hands the child each
batch over a second queue.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import queue
import signal
from collections.abc import Callable, Collection, Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..archive import KEPT_BEYOND
from ..errors import DigestError, KeywordError
from ..limits import Stopped
from ..envelope import messages_made_for
from ..ranking.authors import follows_of
from ..ranking.batch import Ahead, Batch, Reader, chunks
from ..ranking.profile import Profile, parse_profile
from ..ranking.reader import Examples, embed_examples
from ..model import Listing, Subscriber
from ..ranking.hints import KeywordHint
from ..ranking.index import Index
from ..ranking.select import Pick, Scores, rank_counted, rank_whole
from ..ranking.many import fork_is_safe
from ..readers import refusal
from ..store import Store
from .catchup import Plan
from .claiming import Batches
from .deliver import Outgoing
from .pipeline import Pipeline

if TYPE_CHECKING:
    from ..lease import Lease
    from ..lock import SendLocks

log = logging.getLogger("digest")

PRODUCER_MIN = 200  # readers; below this a second process is not worth starting
JOIN_SECONDS = 2.0  # how long the parent waits for a terminated child before killing it
RECEIVE_STEP = 0.05  # seconds: how often the parent, waiting for the child's next message, looks at the stop signal
PR_SET_PDEATHSIG = 1
AHEAD = 64  # readers handed to the child beyond those it has built (its channel holds as many)


@dataclass(frozen=True, slots=True)
class Skipped:
    """The reader asked for no mail (unsubscribed, paused) after the send started: nothing built."""

    status: str


@dataclass(frozen=True, slots=True)
class Nothing:
    """Nothing new for the reader (no empty digests), and their keywords that matched nothing."""

    hints: tuple[KeywordHint, ...] = ()


Produced = Generator[tuple[Subscriber, Outgoing | Skipped | Nothing], None, None]


def produce(app: Pipeline, listing: Listing, readers: Sequence[Subscriber], sent: Mapping[str, Collection[str]],
            lock: "SendLocks | None" = None, store: Store | None = None,
            problems: dict[str, str] | None = None, batches: "Batches | None" = None,
            lease: "Lease | None" = None) -> Produced:
    """Each reader with its built message (``Nothing``: nothing new; ``Skipped``), in the readers' order.

    ``store`` (this process's connection) gives the readers' votes and answers
    whether a reader still wants mail; the forked child opens its own for the latter.
    ``problems`` gets the readers ranked without something of theirs (a library it could not read).
    ``batches``: the positions to build (default: every reader).
    ``lease``: the send's (``digest.lease``): its renewing thread is paused while the producer forks.
    """
    examples = app.examples_for_readers(readers, listing.papers, store, problems=problems)  # never in the child
    batches = batches if batches is not None else Batches(readers)
    if len(readers) >= PRODUCER_MIN:
        with lease.paused_for_fork() if lease is not None else nullcontext():
            child = _fork(app, listing, readers, sent, examples, lock, batches) if fork_is_safe() else None
        if child is not None:
            log.info("building %d messages in a second process while sending", len(readers))
            yield from _from_child(readers, child, batches, app.stopping.is_set)
            return
    with Gate(app.settings.state_db, store) as gate:
        for number, item in build_all(app, listing, readers, sent, gate, examples, batches):
            yield readers[number], item


class Gate:
    """Asks the store, just before each message is built, whether the reader still wants it."""

    def __init__(self, db: Path, store: Store | None = None) -> None:
        self.db, self.store, self._own = db, store, store is None

    def refused(self, email: str) -> str | None:
        """Why the reader gets no mail now (unsubscribed, paused, pending, suppressed: bounces), else None."""
        if self.store is None:
            self.store = Store.open(self.db)
        return refusal(self.store, email)

    def __enter__(self) -> "Gate":
        return self

    def __exit__(self, *exc: object) -> None:
        if self._own and self.store is not None:
            self.store.close()


def build_all(app: Pipeline, listing: Listing, readers: Sequence[Subscriber], sent: Mapping[str, Collection[str]],
              gate: Gate, examples: Sequence[Examples | None],
              batches: Iterable[Sequence[int]]) -> Generator[tuple[int, Outgoing | Skipped | Nothing], None, None]:
    """Rank, render and build the message of the reader at each position of ``batches`` in turn (the
    index is made once).

    ``examples``: each reader's votes and library, worked out before a fork (the
    child never reads them from the store). The readers' keyword scores are worked
    out a chunk of readers ahead (``ranking.batch.Ahead``), only of the readers in
    the batches: on PostgreSQL those this send claimed, not the ones other sends build.
    """
    index = app.make_index(listing.papers)
    embed_keywords(index, readers)
    embed_examples(index, examples)  # with meaning on, every reader's votes and library in one batch
    batch = Batch(index)
    looked: dict[int, Collection[str]] = {}  # the chunk's readers' papers sent, looked up once each

    def sent_to(number: int) -> Collection[str]:
        if number not in looked:
            looked[number] = sent.get(readers[number].email.lower(), set())
        return looked[number]

    # Ahead walks a reader for the very object its ranking is asked with: a second lookup makes a new
    # view, which would be compared with the first paper by paper
    ahead = Ahead(batch, len(readers), lambda n: batched(app, readers[n], sent_to(n), examples[n]))
    for chunk in chunks(batches, batch.chunk):
        looked.clear()
        ahead.expect(chunk)
        for number in chunk:
            yield number, _build_one(app, index, listing, readers[number], sent, sent_to(number), gate,
                                     examples[number], ahead.get(number))


def _build_one(app: Pipeline, index: Index, listing: Listing, reader: Subscriber,
               sent: Mapping[str, Collection[str]], papers_sent: Collection[str], gate: Gate,
               examples: Examples | None, scored: tuple[Profile | None, Scores | None]) -> Outgoing | Skipped | Nothing:
    """The reader's message (``Nothing``: nothing new), or ``Skipped`` when it no longer wants mail.
    ``papers_sent``: the reader's part of ``sent``."""
    status = gate.refused(reader.email)
    if status is not None:
        log.info("%s is %s now; nothing built", reader.email, status)
        return Skipped(status)
    profile, first = scored
    picks, total, more = picks_and_total(app, index, reader, papers_sent,
                                         examples, profile, first)
    since = sent.covers(reader.email) if isinstance(sent, Plan) else None
    hints = app.keyword_hints(index, reader, sent)
    built = app.prepare_message(reader, picks, listing=listing, total=total, since=since, hints=hints, more=more)
    if built is None:
        return Nothing(hints)
    return replace(built, seen_upto=sent.upto) if isinstance(sent, Plan) else built


def embed_keywords(index: Index, readers: Sequence[Subscriber]) -> None:
    """With meaning on, embed every reader's keywords in one batch, before the first reader is ranked.

    One at a time, each new keyword is its own model call and store round trip.
    A reader whose keywords do not parse is left to ``picks_and_total`` to report.
    """
    if index.vectors is None:
        return
    profiles = []
    for reader in readers:
        try:
            profiles.append(parse_profile(reader.keywords))
        except KeywordError:
            continue
    index.embed_keywords(profiles)


def batched(app: Pipeline, reader: Subscriber, sent: Collection[str], examples: Examples | None) -> Reader:
    """Who the reader is to ``Ahead``: its profile (None: it does not parse, ``picks_and_total`` says why),
    whether it may be scored with others (not with votes or a library), its selection and papers sent."""
    try:
        profile: Profile | None = parse_profile(reader.keywords)
    except KeywordError:
        profile = None
    return profile, not examples, app.selection_for(reader), sent


def picks_and_total(app: Pipeline, index: Index, reader: Subscriber, sent: Collection[str],
                    examples: Examples | None = None, profile: Profile | None = None,
                    first: Scores | None = None) -> tuple[list[Pick], int | None, list[Pick]]:
    """The reader's picks; when ``max_items`` cut the list, how many matched in all ("20 of 30") and, when the
    digest is archived (``Digest.archives``), the papers beyond the picks, in rank order (the first
    ``KEPT_BEYOND``: the reader's whole list).

    Without the archive nothing shows the whole list: only its length is counted (``count_matches``).
    ``profile``: the reader's, parsed already; ``first``: its scores worked out with other readers'.
    """
    profile = profile if profile is not None else parse_profile(reader.keywords)
    selection = app.selection_for(reader)
    follows = follows_of(reader)
    if not app.archives:
        picks, total = rank_counted(index, profile, sent=sent, selection=selection, examples=examples,
                                    follows=follows, first=first)
        return picks, total, []
    picks, every = rank_whole(index, profile, sent=sent, selection=selection, examples=examples, follows=follows,
                              first=first)
    if selection.max_items is None or len(picks) < selection.max_items:
        return picks, None, []
    chosen = {pick.paper.id for pick in picks}
    beyond = [pick for pick in every if pick.paper.id not in chosen]
    more = [replace(pick, rank=len(picks) + number) for number, pick in enumerate(beyond[:KEPT_BEYOND], 1)]
    return picks, len(picks) + len(beyond), more


@dataclass(frozen=True)
class Child:
    """The forked producer, the queue it hands its messages over, and the one it is handed its work on."""

    process: Any
    channel: Any
    work: Any


def _fork(app: Pipeline, listing: Listing, readers: Sequence[Subscriber], sent: Mapping[str, Collection[str]],
          examples: Sequence[Examples | None], lock: "SendLocks | None", batches: "Batches") -> Child:
    """The producer, forked (this process has one thread: ``fork_is_safe``)."""
    context = multiprocessing.get_context("fork")
    channel = context.Queue(maxsize=AHEAD)  # bounds memory: the child waits for the sender
    work = context.Queue()  # the batches of positions to build, then None
    child = context.Process(target=_child_main,
                            args=(app, listing, readers, sent, examples, channel, work, (lock, batches), os.getpid()),
                            name="digest-render", daemon=True)
    child.start()
    return Child(child, channel, work)


def _from_child(readers: Sequence[Subscriber], forked: Child, batches: "Batches",
                halted: Callable[[], bool]) -> Produced:
    """Each reader with its message as the forked producer hands it over, the work handed to it as it goes."""
    child, channel, work = forked.process, forked.channel, forked.work
    feed = Feed(work, batches)
    try:
        feed.top_up()
        while feed.outstanding:
            message = _receive(channel, child, halted)
            if isinstance(message, BaseException):
                raise message
            number, item = message
            feed.outstanding -= 1
            feed.top_up()
            yield readers[number], item
    finally:
        _end(child)
        for queue_ in (channel, work):
            queue_.close()
            queue_.cancel_join_thread()


class Feed:
    """The parent's side of the work queue: a batch more whenever fewer than ``AHEAD`` are unbuilt."""

    def __init__(self, work: Any, batches: Iterable[list[int]]) -> None:
        self.work, self.batches = work, iter(batches)
        self.outstanding = 0  # handed to the child, not yet received back
        self.ended = False

    def top_up(self) -> None:
        while not self.ended and self.outstanding < AHEAD:
            batch = next(self.batches, None)
            if batch is None:
                self.work.put(None)
                self.ended = True
            else:
                self.work.put(batch)
                self.outstanding += len(batch)


def _batches(work: Any, parent: int) -> Iterator[list[int]]:
    """In the child: the batches of positions the parent hands over, until it says there are no more."""
    while True:
        try:
            batch = work.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != parent:
                os._exit(1)
            continue
        if batch is None:
            return
        yield batch


def _end(child: Any) -> None:
    """Stop the child, waiting a bounded time: SIGTERM, then SIGKILL."""
    if child.is_alive():
        child.terminate()
        child.join(JOIN_SECONDS)
    if child.is_alive():
        log.warning("the rendering process did not stop; killing it")
        child.kill()
    child.join(JOIN_SECONDS)


def _receive(channel: Any, child: Any, halted: Callable[[], bool]) -> Any:
    """The child's next message; ``Stopped`` when a stop signal comes first (the child may be ranking or
    embedding a long while before its first message): the child is ended, nothing it had built is lost."""
    while True:
        if halted():
            raise Stopped("stopped while the messages were built")
        try:
            return channel.get(timeout=RECEIVE_STEP)
        except queue.Empty:
            if not child.is_alive():
                raise DigestError(f"the rendering process stopped unexpectedly (exit code {child.exitcode})") from None


def _child_main(app: Pipeline, listing: Listing, readers: Sequence[Subscriber], sent: Mapping[str, Collection[str]],
                examples: Sequence[Examples | None], channel: Any, work: Any, inherited: Sequence[Any],
                parent: int) -> None:
    """In the forked child: let go of the parent's things (its locks, its claims), then build each
    message it is handed, in order."""
    for held in inherited:
        if held is not None:
            held.close_inherited()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    messages_made_for(parent)  # their Message-IDs name the send's process, which recorded the run
    _die_with(parent)
    try:
        with Gate(app.settings.state_db) as gate:  # its own connection, opened after the fork
            for message in build_all(app, listing, readers, sent, gate, examples, _batches(work, parent)):
                _put(channel, message, parent)
    except BaseException as err:  # noqa: BLE001 (handed to the parent, which raises it)
        _put(channel, err if isinstance(err, DigestError) else DigestError(f"rendering failed: {err!r}"), parent)
    finally:
        channel.close()
        channel.join_thread()


def _die_with(parent: int) -> None:
    """Ask Linux to SIGKILL this process when the parent dies (elsewhere ``_put`` notices)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _put(channel: Any, message: Any, parent: int) -> None:
    """Put, waiting for room while the parent lives."""
    while True:
        try:
            channel.put(message, timeout=1.0)
            return
        except queue.Full:
            if os.getppid() != parent:
                os._exit(1)
