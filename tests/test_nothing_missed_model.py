"""Nothing missed, nothing twice: seeded random fortnights of runs against a model of what each reader is owed.

Every simulated day draws its events from a seeded ``random.Random``: the day's
new papers (none some days, as on arXiv's weekends); the run skipped (the machine off); the source down for the run; the
whole SMTP server down (nothing listening, or a 421 greeting); one reader's RCPT
deferred (4xx) or refused with a 5xx the product retries the next day, or their
message deferred after the dot; a reader pausing or coming back (as the
preferences page does it, ``Store.set_status(..., by="web")``); a weekly reader
(``Store.save_preferences``); a reader joining the roster mid-way and one
signing up on the web (pending until confirmed); an operator's second send that
day, to everyone or ``--subscriber`` one; and, for the Daily-Papers-like source
(``hf``; the other is arXiv RSS, which lists only today's papers), papers added
to a day after its run. Each run is a real ``Digest.send`` (what ``digest send``
calls) with its clock at 07:00 (09:00 for a second send) in DIGEST_TIMEZONE
(UTC, Berlin, or New York, which moves to summer time within the runs), a real
SQLite state file, the source served by a real HTTP server on 127.0.0.1 and a
real (scripted) SMTP server, with 1 or 2 connections; DIGEST_SEND_EMPTY on or off.

The model knows only what went in: which papers each run fetched (the HTTP
server records what it served), who was due and reachable. Run by run it
predicts each reader's digest exactly; at the end the invariant is checked in
its own words, for every reader:

- every paper matching their keywords that arrived on or after the first run
  that found them due, and within the catch-up window (DIGEST_CATCHUP_DAYS,
  drawn) of a later run at which they were due and reachable, reached them;
- they got nothing else but such papers and those in the listing of a run at
  which they were served: a new reader gets no kept history, only the day's
  listing on (for ``hf`` that listing reaches back to the day before the last run);
- no paper twice, and the never-twice ledger holds exactly what was sent;
- and, run by run: a paper Daily Papers added to the day of a run or the day
  before, after that run, is in the next run's listing (its look-back).

Papers clearly match one of two topics or none, and digests are uncapped
(``DIGEST_MAX_ITEMS=0``), so nothing about ranking is ambiguous in what is owed.
More seeds: widen ``SEEDS`` locally (each run takes about two seconds).
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from digest.app import Digest
from digest.errors import DigestError
from digest.model import Subscriber
from digest.settings import load_settings
from digest.store import Store

from .http_server import Reply
from .http_server import start as start_http
from .smtp_server import free_port

pytestmark = pytest.mark.usefixtures("fast_retries")

START = date(2031, 3, 3)  # a Monday, far from today: the clock is injected
TOPICS = {"gnn": "graph neural network", "fold": "protein folding", "none": "medieval bookbinding"}
DEFER, REFUSE = "452 4.2.2 mailbox full", "554 5.7.1 refused for now"  # at RCPT; both: sent again the next day
LATER, BUSY = "451 4.3.0 try again later", "421 4.3.2 too busy, try again later"  # after the dot; the greeting
ID = re.compile(r"\b31\d\d\.\d{5}\b")
SEEDS = [1, 12, 26, 45, 56]  # together they draw every kind of event and setting (seeds 1-170 pass)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass
class Reader:
    email: str
    topic: str
    joins: int = 0  # the day number from which the roster lists them (a web sign-up: confirms)
    weekly: str | None = None  # a weekday: weekly on it (set from the preferences page)
    asks: int | None = None  # a web sign-up, not in the roster: the day they sign up (pending until they confirm)


@dataclass(frozen=True)
class Knobs:
    """The settings a world draws."""

    window: int  # DIGEST_CATCHUP_DAYS
    zone: str  # DIGEST_TIMEZONE
    send_empty: bool  # DIGEST_SEND_EMPTY: a reader due with nothing new gets a note saying so


@dataclass
class Run:
    """One send: the scheduled one at 07:00, or an operator's later one that day (everything up again)."""

    hour: int
    source_down: bool = False
    smtp_down: str = ""  # "closed": nothing listens; "busy": every connection is greeted with a 421
    rcpt: dict[str, str] = field(default_factory=dict)  # reader -> the server's reply to their RCPT
    data: dict[str, str] = field(default_factory=dict)  # reader -> its reply to their message (after the dot)
    only: str | None = None  # ``digest send --subscriber``
    connections: int = 1  # DIGEST_SMTP_CONNECTIONS


@dataclass
class Day:
    """What happens on one day."""

    new: list[tuple[str, str]]  # (paper id, topic) published that day
    runs: list[Run] = field(default_factory=list)  # none: the machine was off
    pause: list[str] = field(default_factory=list)  # before the run
    resume: list[str] = field(default_factory=list)
    late: list[tuple[int, str, str]] = field(default_factory=list)  # after the run: (day number, id, topic)


def world(seed: int, kind: str) -> tuple[list[Reader], list[Day], Knobs]:
    """The readers, each day's events and the settings (New York changes to summer time on 9 March 2031,
    within the runs: a day of 23 hours)."""
    rng = random.Random(seed)
    days_run = rng.randint(10, 16)
    knobs = Knobs(window=rng.choice([2, 4, 14]), zone=rng.choice(["UTC", "America/New_York", "Europe/Berlin"]),
                  send_empty=rng.random() < 0.4)
    readers = [Reader("daily@example.org", "gnn"), Reader("fold@example.org", "fold"),
               Reader("weekly@example.org", "gnn", weekly=rng.choice(WEEKDAYS)),
               Reader("new@example.org", rng.choice(["gnn", "fold"]), joins=rng.randint(2, days_run - 3))]
    confirms = rng.randint(2, days_run - 3)
    readers.append(Reader("web@example.org", rng.choice(["gnn", "fold"]), joins=confirms,
                          asks=confirms - rng.randint(0, 1)))
    emails = [reader.email for reader in readers]
    serial = 0
    days: list[Day] = []
    paused: set[str] = set()
    for number in range(days_run):
        new = []
        for _ in range(rng.choice([0, 1, 2, 3, 4])):  # none: a day nothing is announced (arXiv's weekend)
            serial += 1
            new.append((_paper_id(number, serial), rng.choice(list(TOPICS))))
        day = Day(new)
        if number == 0 or rng.random() > 0.12:
            run = Run(7, source_down=number > 0 and rng.random() < 0.1,
                      smtp_down=rng.choice(["closed", "busy"]) if rng.random() < 0.1 else "",
                      connections=rng.choice([1, 1, 2]))
            if rng.random() < 0.35:
                run.rcpt[rng.choice(emails)] = rng.choice([DEFER, REFUSE])
            if rng.random() < 0.15:
                run.data[rng.choice(emails)] = LATER
            day.runs.append(run)
            if rng.random() < 0.15:  # the operator sends again once things are up: to all, or to one reader
                joined = [reader.email for reader in readers if reader.joins <= number]
                day.runs.append(Run(9, only=rng.choice([None, *joined])))
        if rng.random() < 0.2:
            who = rng.choice([reader.email for reader in readers if reader.joins <= number])
            (day.resume if who in paused else day.pause).append(who)
            paused ^= {who}
        if kind == "hf" and rng.random() < 0.4:  # Daily Papers lists more for that day, or the day before, later
            serial += 1
            day.late.append((max(number - rng.randint(0, 1), 0), _paper_id(number, serial), rng.choice(list(TOPICS))))
        days.append(day)
    return readers, days, knobs


def _paper_id(number: int, serial: int) -> str:
    day = START + timedelta(days=number)
    return f"31{day.month:02d}.{day.day:02d}{serial:03d}"


class Source:
    """The HTTP side: what each day lists now, and which paper ids the server handed out."""

    def __init__(self) -> None:
        self.listed: dict[date, list[tuple[str, str]]] = {}
        self.topic: dict[str, str] = {}
        self.down = False
        self.today = START
        self.served: set[str] = set()

    def add(self, day: date, papers: list[tuple[str, str]]) -> None:
        self.listed.setdefault(day, []).extend(papers)
        self.topic.update(papers)

    def rss(self, request) -> Reply:
        if self.down:
            return Reply(503, headers={"Retry-After": "0"})
        papers = self.listed.get(self.today, [])
        self.served.update(pid for pid, _ in papers)
        items = "".join(f"<item><title>{_title(pid, topic)}</title><link>https://arxiv.org/abs/{pid}</link>"
                        f"<description>arXiv:{pid}v1 Announce Type: new \nAbstract: {_abstract(topic)}</description>"
                        f"<guid isPermaLink=\"false\">oai:arXiv.org:{pid}v1</guid>"
                        "<arxiv:announce_type>new</arxiv:announce_type></item>" for pid, topic in papers)
        return Reply(body=('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
                           'xmlns:arxiv="http://arxiv.org/schemas/atom"><channel><title>cs.LG</title>'
                           f"{items}</channel></rss>").encode())

    def daily_papers(self, request) -> Reply:
        if self.down:
            return Reply(503, headers={"Retry-After": "0"})
        asked = date.fromisoformat(request.query["date"])
        papers = self.listed.get(asked, []) if request.query.get("p") == "0" else []
        self.served.update(pid for pid, _ in papers)
        return Reply.json(json.dumps([
            {"paper": {"id": pid, "authors": [{"name": "A. Author"}], "publishedAt": f"{asked}T00:00:00.000Z",
                       "title": _title(pid, topic), "summary": _abstract(topic), "upvotes": 1},
             "publishedAt": f"{asked}T00:00:00.000Z", "title": _title(pid, topic)} for pid, topic in papers]))


def _title(pid: str, topic: str) -> str:
    return f"A {TOPICS[topic]} study {pid}"


def _abstract(topic: str) -> str:
    return f"We present a {TOPICS[topic]} method. The {TOPICS[topic]} results are strong."


def at_hour(day: date, hour: int, zone: str) -> float:
    return datetime(day.year, day.month, day.day, hour, tzinfo=ZoneInfo(zone)).timestamp()


def ids_in(raw: bytes) -> set[str]:
    message = message_from_bytes(raw, policy=policy.default)
    return set(ID.findall(message.get_body(("plain",)).get_content()))


@dataclass
class Model:
    """What each reader is owed, from what went in. Times are (day number, hour): the runs' clocks."""

    knobs: Knobs
    arrival: dict[str, tuple[int, int]] = field(default_factory=dict)  # paper -> when it first came in a listing
    received: dict[str, set[str]] = field(default_factory=dict)
    last: dict[str, tuple[int, int]] = field(default_factory=dict)  # reader -> their last accepted digest
    first_due: dict[str, tuple[int, int]] = field(default_factory=dict)
    served: dict[str, list[tuple[tuple[int, int], set[str]]]] = field(default_factory=dict)  # due, reachable: listing

    def due(self, reader: Reader, number: int) -> bool:
        """Once a day; weekly: at the first run on or after their weekday since their last digest."""
        last = self.last.get(reader.email)
        if last is not None and last[0] == number:
            return False
        if reader.weekly is None or last is None:
            return True
        today = START + timedelta(days=number)
        latest = today - timedelta(days=(today.weekday() - WEEKDAYS.index(reader.weekly)) % 7)
        return START + timedelta(days=last[0]) < latest

    def digest(self, reader: Reader, now: tuple[int, int], listing: set[str], topic: dict[str, str]) -> set[str]:
        """The papers this reader's digest holds now (empty: no digest), were it sent: the listing, and what
        arrived after their last digest (or from when they were first due), within the window."""
        email = reader.email
        self.first_due.setdefault(email, now)
        kept = {pid for pid, at in self.arrival.items()
                if (at > self.last[email] if email in self.last else at >= self.first_due[email])
                and at[0] >= now[0] - self.knobs.window}
        return {pid for pid in listing | kept if topic[pid] == reader.topic} - self.received.get(email, set())


@pytest.mark.parametrize("kind", ["arxiv", "hf"])
@pytest.mark.parametrize("seed", SEEDS)
def test_every_reader_gets_every_paper_owed_exactly_once(faulty, faults, tmp_path, seed, kind):
    readers, days, knobs = world(seed, kind)
    source = Source()
    web = start_http()
    web.handler("/rss/cs.LG", source.rss)
    web.handler("/api/daily_papers", source.daily_papers)
    spec = "arxiv:cs.LG" if kind == "arxiv" else "hf"
    model = Model(knobs)
    paused: set[str] = set()
    late: list[tuple[int, str]] = []  # papers added to a day after its run, not fetched yet: (day number, id)
    served_days: set[int] = set()  # days with a run that read its listing and met the SMTP server
    log: list[str] = [f"seed {seed} {kind}, {knobs}, readers {readers}"]
    try:
        for number, day in enumerate(days):
            today = START + timedelta(days=number)
            source.add(today, day.new)
            with Store.open(tmp_path / "state.db") as store:
                for reader in readers:
                    if reader.asks == number:
                        store.request_signup(reader.email, f"rid-{number}", [TOPICS[reader.topic]])
                    if reader.asks is not None and reader.joins == number:
                        store.confirm_signup(reader.email)
                    if reader.weekly and number == reader.joins:
                        store.save_preferences(reader.email, keywords=[TOPICS[reader.topic]], max_items=None,
                                               frequency=reader.weekly, status="active")
                for email in day.pause:
                    store.set_status(email, "paused", by="web")
                for email in day.resume:
                    store.set_status(email, "active", by="web")
            paused = (paused | set(day.pause)) - set(day.resume)
            log.append(f"day {number} {today:%a}: {day}")
            for run in day.runs:
                roster = [Subscriber(r.email, (TOPICS[r.topic],)) for r in readers
                          if r.joins <= number and r.asks is None]
                got, listing = _run(run, source, faults, tmp_path, web.url, faulty.port, today, knobs, spec, roster)
                expected = _expect(model, run, readers, paused, number, listing, source.topic)
                log.append(f"  {run}: listing {sorted(listing or ())} expected {expected} got {got}")
                assert got == expected, "\n".join(log)
                if listing is not None:
                    late = _late_ones_fetched(late, listing, number, knobs.window, served_days, log)
                    served_days |= {number} if not run.smtp_down else set()
                if run is day.runs[0]:  # Daily Papers adds to a day after the day's run
                    late += _add_late(source, day)
            if not day.runs:
                late += _add_late(source, day)
    finally:
        web.shutdown()
        web.server_close()

    _check_the_invariant(faults, tmp_path, readers, model, source, "\n".join(log))


def _add_late(source: Source, day: Day) -> list[tuple[int, str]]:
    for on, pid, topic in day.late:
        source.add(START + timedelta(days=on), [(pid, topic)])
    return [(on, pid) for on, pid, _ in day.late]


def _late_ones_fetched(late: list[tuple[int, str]], listing: set[str], number: int, window: int,
                       served_days: set[int], log: list[str]) -> list[tuple[int, str]]:
    """The next run that reads Daily Papers reaches back to the day before the last one that served its readers
    (at most the catch-up window): a paper added to the day of a run, or the day before, after that run, is in
    its listing. Returns those still to fetch (none: each is judged at the first run after it came)."""
    if not any(day < number for day in served_days):
        return []  # no run served its readers yet: the look-back is today's alone
    missed = [(on, pid) for on, pid in late if number - on + 1 <= window and pid not in listing]
    assert missed == [], "a paper Daily Papers added to a past day was not fetched\n" + "\n".join(log)
    return []


def _run(run: Run, source: Source, faults, tmp_path: Path, web_url: str, port: int, today: date, knobs: Knobs,
         spec: str, roster: list[Subscriber]) -> tuple[dict[str, set[str]], set[str] | None]:
    """What each reader got from one run, and the ids the run fetched (None: its listing could not be had)."""
    before = len(faults.received)
    source.today, source.down, source.served = today, run.source_down, set()
    faults.rcpt, faults.after_dot_for = dict(run.rcpt), dict(run.data)
    busy = range(faults.connections + 1, faults.connections + 100) if run.smtp_down == "busy" else range(0)
    faults.greet = {n: BUSY for n in busy}  # the connections this run opens
    _send(tmp_path, web_url, port, run, today, knobs, spec, roster)
    got: dict[str, set[str]] = {}
    for email, raw in faults.received[before:]:
        assert email not in got, f"two digests to {email} in one run"
        got[email] = ids_in(raw)
    return got, None if run.source_down else set(source.served)


def _expect(model: Model, run: Run, readers: list[Reader], paused: set[str], number: int, listing: set[str] | None,
            topic: dict[str, str]) -> dict[str, set[str]]:
    """The model's digests for one run (and its record of them)."""
    if listing is None or not (listing or model.knobs.send_empty):  # not had, or empty: the run ends there
        return {}
    now = (number, run.hour)
    for pid in sorted(listing):
        model.arrival.setdefault(pid, now)
    expected = {}
    for reader in readers:
        email = reader.email
        if reader.joins > number or email in paused or run.only not in (None, email) or not model.due(reader, number):
            continue
        picks = model.digest(reader, now, listing, topic)
        if not run.smtp_down and email not in run.rcpt and email not in run.data:
            model.served.setdefault(email, []).append((now, set(listing)))
            if picks or model.knobs.send_empty:  # with DIGEST_SEND_EMPTY, "nothing new" is a digest too
                expected[email] = picks
                model.received.setdefault(email, set()).update(picks)
                model.last[email] = now
    return expected


def _send(tmp_path: Path, web_url: str, port: int, run: Run, today: date, knobs: Knobs, spec: str,
          roster: list[Subscriber]) -> None:
    """One day's run, as ``digest send`` makes it; a source or server that is down fails it (a DigestError)."""
    env = {"DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(free_port() if run.smtp_down == "closed" else port),
           "DIGEST_SMTP_SECURITY": "none", "DIGEST_FROM": "Digest <digest@example.com>",
           "DIGEST_STATE_DB": str(tmp_path / "state.db"), "DIGEST_SMTP_TIMEOUT": "2",
           "DIGEST_SMTP_CONNECTIONS": str(run.connections), "DIGEST_MAX_ITEMS": "0", "DIGEST_TIMEZONE": knobs.zone,
           "DIGEST_SEND_EMPTY": str(knobs.send_empty).lower(),
           "DIGEST_CATCHUP_DAYS": str(knobs.window), "DIGEST_LOOKBACK_DAYS": "1", "DIGEST_ARXIV_DELAY": "0",
           "DIGEST_HTTP_TIMEOUT": "2", "DIGEST_HF_BASE_URL": web_url, "DIGEST_ARXIV_BASE_URL": web_url,
           "DIGEST_CACHE_DIR": str(tmp_path / f"cache-{today}-{run.hour}")}  # the cache keeps real time; and the
    # model sees what a run fetched from the requests it made
    with Digest(load_settings(None, env), clock=lambda: at_hour(today, run.hour, knobs.zone)) as app:
        try:
            app.send(roster, source=spec, only=run.only)
        except DigestError:
            pass


def _check_the_invariant(faults, tmp_path: Path, readers: list[Reader], model: Model, source: Source,
                         log: str) -> None:
    """The invariant in its own words, from the model's record of who was due and reachable on which day."""
    with Store.open(tmp_path / "state.db") as store:
        ledger = {reader.email: store.sent_ids(reader.email) for reader in readers}
    for reader in readers:
        email = reader.email
        copies = Counter(pid for to, raw in faults.received if to == email for pid in ids_in(raw))
        assert [pid for pid, n in copies.items() if n > 1] == [], f"{email} got a paper twice\n{log}"
        assert set(copies) == ledger[email], f"{email}: the ledger is not what was sent\n{log}"
        served = model.served.get(email, [])
        start = model.first_due.get(email)
        owed = {pid for pid, arrived in model.arrival.items()
                if source.topic[pid] == reader.topic and start is not None and arrived >= start
                and any(when >= arrived and when[0] - arrived[0] <= model.knobs.window for when, _ in served)}
        assert owed - set(copies) == set(), f"{email} missed papers owed\n{log}"
        allowed = {pid for pid, arrived in model.arrival.items() if start is not None and arrived >= start}
        allowed |= {pid for _, listing in served for pid in listing}
        assert {pid for pid in copies if source.topic[pid] != reader.topic or pid not in allowed} == set(), \
            f"{email} got papers not theirs\n{log}"
