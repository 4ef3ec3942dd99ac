"""Nothing missed: a reader's digest covers everything that arrived since their last one.

Each simulated day has its own listing file that lists only that day's papers (as
arXiv RSS does), a Digest whose clock reads 07:00 UTC on that day, and a real SMTP
server on 127.0.0.1 that counts what it queued. Dates are the tests' own, far from
today: the clock is injected, so the tests pass on any date.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from digest.app import Digest
from digest.model import Subscriber
from digest.sending import SendReport
from digest.settings import load_settings
from digest.sources import source_names
from digest.store import Store
from digest.store.runs import Tally

DAILY, WEEKLY, OTHER = "daily@example.org", "weekly@example.org", "other@example.org"
KEYWORDS = ("graph neural network",)
MONDAY = date(2031, 3, 3)

pytestmark = pytest.mark.usefixtures("fast_retries")


def listing_for(folder: Path, day: date, matching: int = 4, other: int = 3) -> Path:
    """A day's listing: ``matching`` papers about graph neural networks, ``other`` about something else."""
    lines = []
    for n in range(matching + other):
        about = "graph neural network" if n < matching else "protein folding"
        lines.append({"id": f"{day:%y%m}.{day.day:02d}{n:03d}", "title": f"A {about} study {day:%a} {n}",
                      "abstract": f"We present a {about} method. The {about} results are strong on day {day}."})
    path = folder / f"{day.isoformat()}.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def ids_of(day: date, numbers: range = range(4)) -> set[str]:
    return {f"{day:%y%m}.{day.day:02d}{n:03d}" for n in numbers}


def at_seven(day: date) -> float:
    return datetime(day.year, day.month, day.day, 7, tzinfo=timezone.utc).timestamp()


def send_on(day: date, port: int, tmp_path: Path, readers: list[Subscriber], clock: Callable[[], float] | None = None,
            **extra: str) -> SendReport:
    env = {"DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(port), "DIGEST_SMTP_SECURITY": "none",
           "DIGEST_FROM": "Digest <digest@example.com>", "DIGEST_STATE_DB": str(tmp_path / "state.db"),
           "DIGEST_SMTP_TIMEOUT": "2", "DIGEST_SMTP_CONNECTIONS": "1", "DIGEST_MAX_ITEMS": "0", **extra}
    source = listing_for(tmp_path, day)
    with Digest(load_settings(None, env), clock=clock or (lambda: at_seven(day))) as app:
        return app.send(readers, source=str(source))


def got(tmp_path: Path, email: str) -> set[str]:
    with Store.open(tmp_path / "state.db") as store:
        return store.sent_ids(email)


def weekly_on_monday(tmp_path: Path) -> None:
    with Store.open(tmp_path / "state.db") as store:
        store.save_preferences(WEEKLY, keywords=list(KEYWORDS), max_items=None, frequency="mon", status="active")



def sending_env(server, tmp_path):
    """The settings of a real send to ``server`` (aiosmtpd) with its state database in ``tmp_path``."""
    return {"DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(server.port), "DIGEST_SMTP_SECURITY": "none",
            "DIGEST_FROM": "digest@example.com", "DIGEST_STATE_DB": str(tmp_path / "state.db")}

def test_a_weekly_reader_gets_the_same_papers_as_a_daily_readers_week(faulty, faults, tmp_path):
    readers = [Subscriber(DAILY, KEYWORDS), Subscriber(WEEKLY, KEYWORDS)]
    weekly_on_monday(tmp_path)
    send_on(MONDAY, faulty.port, tmp_path, readers)
    after_monday = got(tmp_path, DAILY)
    for offset in range(1, 8):  # Tuesday to the next Monday
        send_on(MONDAY + timedelta(days=offset), faulty.port, tmp_path, readers)

    week = got(tmp_path, DAILY) - after_monday
    assert week == set().union(*(ids_of(MONDAY + timedelta(days=d)) for d in range(1, 8)))
    assert got(tmp_path, WEEKLY) - after_monday == week
    assert faults.to(DAILY) == 8 and faults.to(WEEKLY) == 2


def test_a_weekly_readers_week_is_capped_by_their_max_items(faulty, faults, tmp_path):
    weekly_on_monday(tmp_path)
    readers = [Subscriber(WEEKLY, KEYWORDS, max_items=5)]
    for offset in range(8):
        send_on(MONDAY + timedelta(days=offset), faulty.port, tmp_path, readers)
    assert faults.to(WEEKLY) == 2 and len(got(tmp_path, WEEKLY)) == 4 + 5  # Monday's 4, then the week's best 5


@pytest.mark.parametrize("fault", ["452 4.2.2 mailbox full", "554 5.7.1 refused for now"])
def test_a_reader_not_served_on_a_day_gets_that_days_papers_the_next_day(faulty, faults, tmp_path, fault):
    readers = [Subscriber(DAILY, KEYWORDS), Subscriber(OTHER, KEYWORDS)]
    send_on(MONDAY, faulty.port, tmp_path, readers)
    faults.rcpt[OTHER] = fault
    tuesday = send_on(MONDAY + timedelta(days=1), faulty.port, tmp_path, readers)
    faults.rcpt.clear()
    wednesday = send_on(MONDAY + timedelta(days=2), faulty.port, tmp_path, readers)

    assert OTHER in tuesday.deferred or OTHER in tuesday.failed
    assert OTHER in wednesday.sent
    days = [MONDAY + timedelta(days=d) for d in range(3)]
    assert got(tmp_path, OTHER) == set().union(*(ids_of(day) for day in days)) == got(tmp_path, DAILY)


def test_a_catch_up_digest_says_which_days_it_covers(server, inbox, tmp_path):
    readers = [Subscriber(DAILY, KEYWORDS)]
    send_on(MONDAY, server.port, tmp_path, readers)
    inbox.refuse.add(DAILY)
    send_on(MONDAY + timedelta(days=1), server.port, tmp_path, readers)
    inbox.refuse.clear()
    send_on(MONDAY + timedelta(days=2), server.port, tmp_path, readers)

    first, caught_up = inbox.to(DAILY)
    assert "Papers from" not in first.get_body(("plain",)).get_content()
    assert "4–5 Mar" in caught_up["Subject"]
    assert "Papers from 4–5 Mar, since your last digest" in caught_up.get_body(("plain",)).get_content()
    assert "Papers from 4–5 Mar" in caught_up.get_body(("html",)).get_content()


def test_a_paused_reader_who_comes_back_gets_what_arrived_while_away(faulty, faults, tmp_path):
    readers = [Subscriber(DAILY, KEYWORDS)]
    send_on(MONDAY, faulty.port, tmp_path, readers)
    with Store.open(tmp_path / "state.db") as store:
        store.set_status(DAILY, "paused", by="web")
    for offset in (1, 2, 3):
        assert send_on(MONDAY + timedelta(days=offset), faulty.port, tmp_path, readers).skipped == {DAILY: "paused"}
    with Store.open(tmp_path / "state.db") as store:
        store.set_status(DAILY, "active", by="web")
    back = send_on(MONDAY + timedelta(days=4), faulty.port, tmp_path, readers)

    assert back.sent == [DAILY] and faults.to(DAILY) == 2
    assert got(tmp_path, DAILY) == set().union(*(ids_of(MONDAY + timedelta(days=d)) for d in range(5)))


def test_catching_up_reaches_back_at_most_the_catch_up_window(faulty, faults, tmp_path):
    readers = [Subscriber(DAILY, KEYWORDS)]
    send_on(MONDAY, faulty.port, tmp_path, readers)
    faults.rcpt[DAILY] = "554 5.7.1 refused for now"
    for offset in range(1, 6):
        send_on(MONDAY + timedelta(days=offset), faulty.port, tmp_path, readers, DIGEST_CATCHUP_DAYS="2")
    faults.rcpt.clear()
    send_on(MONDAY + timedelta(days=6), faulty.port, tmp_path, readers, DIGEST_CATCHUP_DAYS="2")

    later = got(tmp_path, DAILY) - ids_of(MONDAY)  # Sunday's digest: from Friday on (two whole days back)
    assert later == set().union(*(ids_of(MONDAY + timedelta(days=d)) for d in (4, 5, 6)))


def test_a_new_reader_gets_the_days_listing_not_the_kept_history(faulty, faults, tmp_path):
    send_on(MONDAY, faulty.port, tmp_path, [Subscriber(DAILY, KEYWORDS)])
    both = [Subscriber(DAILY, KEYWORDS), Subscriber(OTHER, KEYWORDS)]
    send_on(MONDAY + timedelta(days=1), faulty.port, tmp_path, both)
    assert got(tmp_path, OTHER) == ids_of(MONDAY + timedelta(days=1))


def test_a_new_reader_whose_first_digest_failed_catches_up_from_that_day(faulty, faults, tmp_path):
    faults.rcpt[OTHER] = "554 5.7.1 refused for now"
    send_on(MONDAY, faulty.port, tmp_path, [Subscriber(OTHER, KEYWORDS)])
    faults.rcpt.clear()
    send_on(MONDAY + timedelta(days=1), faulty.port, tmp_path, [Subscriber(OTHER, KEYWORDS)])
    assert got(tmp_path, OTHER) == ids_of(MONDAY) | ids_of(MONDAY + timedelta(days=1))


def test_a_dry_run_shows_the_catch_up_and_records_nothing(faulty, faults, tmp_path):
    readers = [Subscriber(DAILY, KEYWORDS)]
    send_on(MONDAY, faulty.port, tmp_path, readers)
    faults.rcpt[DAILY] = "554 5.7.1 refused for now"
    send_on(MONDAY + timedelta(days=1), faulty.port, tmp_path, readers)
    env = {"DIGEST_FROM": "Digest <digest@example.com>", "DIGEST_STATE_DB": str(tmp_path / "state.db"),
           "DIGEST_MAX_ITEMS": "0"}
    wednesday = MONDAY + timedelta(days=2)
    source = listing_for(tmp_path, wednesday)
    with Digest(load_settings(None, env), clock=lambda: at_seven(wednesday)) as app:
        report = app.send(readers, source=str(source), dry_run=True, outbox=tmp_path / "out")
    [written] = report.written
    text = written.read_text()
    assert "Papers from 4–5 Mar" in text or "4=E2=80=935 Mar" in text
    with Store.open(tmp_path / "state.db") as store:
        assert store.sent_ids(DAILY) == ids_of(MONDAY)
        assert store.catchup_marks([DAILY])[DAILY].last_digest == int(at_seven(MONDAY))


def test_a_send_records_with_each_digest_what_its_plan_saw(faulty, faults, tmp_path):
    readers = [Subscriber(DAILY, KEYWORDS)]
    send_on(MONDAY, faulty.port, tmp_path, readers)
    with Store.open(tmp_path / "state.db") as store:  # the newest arrival stamp, its listing's: not the clock
        assert store.catchup_marks([DAILY])[DAILY].seen_upto == store.listed_upto() == int(at_seven(MONDAY))


def test_a_send_finds_a_new_reader_due_from_its_listings_arrival_stamp_not_a_later_clock(faulty, faults, tmp_path):
    ticks = itertools.count()  # a clock that moves on between the send's steps, as a real one does
    send_on(MONDAY, faulty.port, tmp_path, [Subscriber(DAILY, KEYWORDS)], clock=lambda: at_seven(MONDAY) + next(ticks))
    with Store.open(tmp_path / "state.db") as store:  # a paper another send keeps meanwhile is stamped after it
        assert store.catchup_marks([DAILY])[DAILY].first_due == store.listed_upto()


def test_the_store_keeps_a_papers_first_arrival_and_forgets_after_the_window(tmp_path):
    from digest.model import make_paper

    paper = make_paper("Graph study", "A graph neural network.", id="2403.00001")
    with Store.open(tmp_path / "state.db") as store:
        store.remember_listing([paper], now=1_000_000, keep_days=3)
        store.remember_listing([paper], now=1_000_000 + 86_400, keep_days=3)
        assert store.arrived_since(0) == [(paper, 1_000_000)]
        store.remember_listing([], now=1_000_000 + 5 * 86_400, keep_days=3)
        assert store.arrived_since(0) == []


def test_rank_and_the_preview_show_the_catch_up_the_send_would_send(faulty, faults, tmp_path):
    from digest.web.preview import Preview

    readers = [Subscriber(DAILY, KEYWORDS)]
    send_on(MONDAY, faulty.port, tmp_path, readers)
    faults.rcpt[DAILY] = "554 5.7.1 refused for now"
    send_on(MONDAY + timedelta(days=1), faulty.port, tmp_path, readers)
    wednesday = MONDAY + timedelta(days=2)
    env = {"DIGEST_FROM": "Digest <digest@example.com>", "DIGEST_STATE_DB": str(tmp_path / "state.db"),
           "DIGEST_MAX_ITEMS": "0"}
    with Digest(load_settings(None, env), clock=lambda: at_seven(wednesday)) as app:
        listing = app.load_listing(str(listing_for(tmp_path, wednesday)))
        plan = app.candidates(listing, readers)
        [(_, picks)] = app.rank_readers(plan.listing, readers, plan)
        preview = Preview(app, readers[0], str(listing_for(tmp_path, wednesday)))
        subject = preview.rendered().subject
    expected = ids_of(MONDAY + timedelta(days=1)) | ids_of(wednesday)
    assert {pick.paper.id for pick in picks} == expected
    assert {pick.paper.id for pick in preview.picks} == expected and subject.startswith("4–5 Mar")


# papers a Daily Papers day gains after its run ---------------------------------------------

def _fridays_run_then_a_late_paper(server, tmp_path, web, friday):
    """Friday's run sends Daily Papers' two papers of Friday (the only day with any) to DAILY; then Friday gains a
    third. Returns the settings (look-back 3 days) and the reader."""
    from .http_server import Reply
    from .test_live_sources import API, hf_page

    web.route(f"{API}?date={friday}&limit=100&p=0", hf_page([1, 2], friday.isoformat()))
    web.route(API, Reply.json("[]"))
    env = {**sending_env(server, tmp_path),
           "DIGEST_HF_BASE_URL": web.url, "DIGEST_LOOKBACK_DAYS": "3", "DIGEST_CACHE_DIR": str(tmp_path / "c")}
    reader = [Subscriber(DAILY, ("exploration",))]
    with Digest(load_settings(None, env), clock=lambda: at_seven(friday)) as app:
        app.send(reader, source="hf")
    web.route(f"{API}?date={friday}&limit=100&p=0", hf_page([1, 2, 3], friday.isoformat()))  # added later
    return env, reader


def test_papers_added_to_fridays_daily_papers_after_fridays_run_come_on_monday(server, inbox, tmp_path):
    """Monday's default look-back (3 days: Saturday to Monday) would skip Friday: it reaches back to the last run."""
    from .http_server import start as start_http
    from .test_live_sources import API, hf_page

    friday, monday = MONDAY + timedelta(days=4), MONDAY + timedelta(days=7)
    web = start_http()
    try:
        env, reader = _fridays_run_then_a_late_paper(server, tmp_path, web, friday)
        web.route(f"{API}?date={monday}&limit=100&p=0", hf_page([4], monday.isoformat()))
        web.requests.clear()
        saturday = friday + timedelta(days=1)
        env["DIGEST_CACHE_DIR"] = str(tmp_path / "c2")  # the HTTP cache keeps real time: a fresh one each day
        with Digest(load_settings(None, env), clock=lambda: at_seven(saturday)) as app:  # one reader's send
            app.send([Subscriber(OTHER, ("protein folding",))], source="hf", only=OTHER)  # does not move the mark
        web.requests.clear()
        env["DIGEST_CACHE_DIR"] = str(tmp_path / "c3")
        with Digest(load_settings(None, env), clock=lambda: at_seven(monday) + 7 * 3600) as app:
            app.send(reader, source="hf")
    finally:
        web.shutdown()
        web.server_close()

    assert got(tmp_path, DAILY) == {"2608.00001", "2608.00002", "2608.00003", "2608.00004"}
    texts = [message.get_body(preferencelist=("plain",)).get_content() for message in inbox.to(DAILY)]
    assert [text.count("Paper number") for text in texts] == [2, 2]  # Friday's two, then the late one and Monday's
    asked = sorted({r.query["date"] for r in web.requests if r.query.get("p") == "0"})
    assert asked == [(friday + timedelta(days=n)).isoformat() for n in range(-1, 4)]  # and the day before


@pytest.mark.parametrize("run_date, says", [
    ("2031-02-31", "run 2's run_date is not a day ('2031-02-31')"),
    (None, "run 2's run_date is not a day (None)"),
    (b"2031-03-02", "run 2's run_date is not a day (b'2031-03-02')"),
    ("2031-03-02", "run 2's start is not a date and time ('soon')"),  # a day, but the row's start is damaged
])
def test_a_damaged_run_is_left_out_of_the_catch_up_with_one_warning_naming_it(tmp_path, caplog, run_date, says):
    """A runs row edited by hand or damaged never stops a send: the catch-up reaches back to the last good run."""
    import sqlite3

    env = {"DIGEST_FROM": "Digest <digest@example.com>", "DIGEST_STATE_DB": str(tmp_path / "state.db")}
    with Store.open(tmp_path / "state.db") as store:
        for day in (MONDAY - timedelta(days=3), MONDAY - timedelta(days=1)):
            store.finish_run(store.start_run(day.isoformat()), 1, 0, 0)
    with sqlite3.connect(tmp_path / "state.db") as db:  # as rebuilt by hand: no constraints left
        db.executescript("CREATE TABLE copy AS SELECT * FROM runs; DROP TABLE runs; ALTER TABLE copy RENAME TO runs;")
        db.execute("UPDATE runs SET run_date = ? WHERE id = 2", (run_date,))
        if run_date == "2031-03-02":
            db.execute("UPDATE runs SET started = 'soon' WHERE id = 2")

    with Digest(load_settings(None, env), clock=lambda: at_seven(MONDAY)) as app:
        assert app.last_run_day() == MONDAY - timedelta(days=3)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and says in warnings[0] and "left out" in warnings[0]


def test_a_run_stopped_while_fetching_its_listing_does_not_move_the_look_back(server, inbox, tmp_path):
    """Monday's run is stopped before it read its listing: Tuesday's look-back still reaches back to Friday, the
    last run that read its listing and served its readers, so what Friday's Daily Papers gained after Friday's
    run still comes (reaching back only to Monday, Tuesday's 3 days would start on Sunday)."""
    from .http_server import start as start_http
    from .test_live_sources import API, hf_page

    friday, monday, tuesday = MONDAY + timedelta(days=4), MONDAY + timedelta(days=7), MONDAY + timedelta(days=8)
    web = start_http()
    try:
        env, reader = _fridays_run_then_a_late_paper(server, tmp_path, web, friday)
        env["DIGEST_CACHE_DIR"] = str(tmp_path / "c2")  # the HTTP cache keeps real time: a fresh one each day
        with Digest(load_settings(None, env), clock=lambda: at_seven(monday)) as app:
            app.stopping.set()  # SIGTERM while the listing is fetched
            stopped = app.send(reader, source="hf")
        web.route(f"{API}?date={tuesday}&limit=100&p=0", hf_page([4], tuesday.isoformat()))
        web.requests.clear()
        env["DIGEST_CACHE_DIR"] = str(tmp_path / "c3")
        with Digest(load_settings(None, env), clock=lambda: at_seven(tuesday)) as app:
            assert app.last_run_day() == friday
            app.send(reader, source="hf")
    finally:
        web.shutdown()
        web.server_close()

    assert stopped.stopped == 1 and stopped.note == "stopped while fetching the listing"
    assert got(tmp_path, DAILY) == {"2608.00001", "2608.00002", "2608.00003", "2608.00004"}
    asked = sorted({r.query["date"] for r in web.requests if r.query.get("p") == "0"})
    assert asked == [(friday + timedelta(days=n)).isoformat() for n in range(-1, 5)]  # and the day before


def test_a_run_a_stop_cut_short_does_not_count_for_the_look_back(tmp_path):
    """A run that left readers for the next start (``left_over``) did not serve them all: the look-back reaches
    back past it, as past a run that failed, to the last run that did."""
    env = {"DIGEST_FROM": "Digest <digest@example.com>", "DIGEST_STATE_DB": str(tmp_path / "state.db")}
    with Store.open(tmp_path / "state.db") as store:
        store.finish_run(store.start_run((MONDAY - timedelta(days=3)).isoformat()), 1, 0, 0)
        store.finish_run(store.start_run((MONDAY - timedelta(days=2)).isoformat()), 0, 0, 0, error="SMTP down")
        cut = Tally(sent=3, left_over=2)
        store.finish_run(store.start_run((MONDAY - timedelta(days=1)).isoformat()), 0, 0, 0, tally=cut)
    with Digest(load_settings(None, env), clock=lambda: at_seven(MONDAY)) as app:
        assert app.last_run_day() == MONDAY - timedelta(days=3)


def test_the_look_back_finds_the_last_good_run_behind_many_others(tmp_path):
    """Many later runs (one-reader sends, shards of today, stopped runs) never hide the last run that served
    its readers: the look-back would then not reach back at all."""
    env = {"DIGEST_FROM": "Digest <digest@example.com>", "DIGEST_STATE_DB": str(tmp_path / "state.db")}
    with Store.open(tmp_path / "state.db") as store:
        store.finish_run(store.start_run((MONDAY - timedelta(days=3)).isoformat()), 1, 0, 0)
        for _ in range(60):
            store.finish_run(store.start_run((MONDAY - timedelta(days=1)).isoformat(), started_by="one reader"),
                             1, 0, 0)
    with Digest(load_settings(None, env), clock=lambda: at_seven(MONDAY)) as app:
        assert app.last_run_day() == MONDAY - timedelta(days=3)


def test_papers_a_day_gains_after_the_next_days_run_come_with_the_day_after(server, inbox, tmp_path):
    """Daily Papers' day ends later than the reader's (Tokyo's 07:00 is 22:00 UTC the day before): Monday's page
    still gains papers after Tuesday's 07:00 run. With a one-day look-back Wednesday's run reads Tuesday and
    Wednesday only; the send reaches back to the day before its last run, so Monday's late paper still comes."""
    from zoneinfo import ZoneInfo

    from .http_server import Reply
    from .http_server import start as start_http
    from .test_live_sources import API, hf_page

    tuesday, wednesday = MONDAY + timedelta(days=1), MONDAY + timedelta(days=2)
    tokyo = ZoneInfo("Asia/Tokyo")
    web = start_http()
    try:
        web.route(f"{API}?date={MONDAY}&limit=100&p=0", hf_page([1], MONDAY.isoformat()))
        web.route(API, Reply.json("[]"))
        env = {**sending_env(server, tmp_path),
               "DIGEST_HF_BASE_URL": web.url, "DIGEST_LOOKBACK_DAYS": "1", "DIGEST_TIMEZONE": "Asia/Tokyo"}
        reader = [Subscriber(DAILY, ("exploration",))]
        for day, added in ((MONDAY, None), (tuesday, [1, 2]), (wednesday, [1, 2, 3])):
            if added:
                web.route(f"{API}?date={MONDAY}&limit=100&p=0", hf_page(added, MONDAY.isoformat()))
            env["DIGEST_CACHE_DIR"] = str(tmp_path / f"cache-{day}")  # the HTTP cache keeps real time
            seven = datetime(day.year, day.month, day.day, 7, tzinfo=tokyo).timestamp()
            with Digest(load_settings(None, env), clock=lambda: seven) as app:
                app.send(reader, source="hf")
    finally:
        web.shutdown()
        web.server_close()

    assert got(tmp_path, DAILY) == {"2608.00001", "2608.00002", "2608.00003"}


# the look-back is the source's own -------------------------------------------------------------

def test_a_one_off_send_of_another_source_does_not_move_the_look_back_of_the_daemons(server, inbox, tmp_path):
    """Monday's run of ``hf`` served its readers; on Wednesday an operator tried a saved file on the same state
    store (``digest send --source FILE``): Thursday's run of ``hf`` still reaches back to Monday (and the day
    before), so what Monday's Daily Papers gained after Monday's run and Tuesday's papers still come."""
    from .http_server import Reply
    from .http_server import start as start_http
    from .test_live_sources import API, hf_page

    tuesday, wednesday, thursday = (MONDAY + timedelta(days=n) for n in (1, 2, 3))
    web = start_http()
    try:
        web.route(f"{API}?date={MONDAY}&limit=100&p=0", hf_page([1, 2], MONDAY.isoformat()))
        web.route(API, Reply.json("[]"))
        env = {**sending_env(server, tmp_path),
               "DIGEST_HF_BASE_URL": web.url, "DIGEST_LOOKBACK_DAYS": "1", "DIGEST_CACHE_DIR": str(tmp_path / "c")}
        reader = [Subscriber(DAILY, ("exploration",))]
        with Digest(load_settings(None, env), clock=lambda: at_seven(MONDAY), started_by="daemon") as app:
            app.send(reader, source="hf")
        web.route(f"{API}?date={MONDAY}&limit=100&p=0", hf_page([1, 2, 3], MONDAY.isoformat()))  # added later
        web.route(f"{API}?date={tuesday}&limit=100&p=0", hf_page([4], tuesday.isoformat()))
        with Digest(load_settings(None, env), clock=lambda: at_seven(wednesday)) as app:  # the one-off try
            tried = app.send(reader, source=str(listing_for(tmp_path, wednesday)))
        web.requests.clear()
        env["DIGEST_CACHE_DIR"] = str(tmp_path / "c2")  # the HTTP cache keeps real time: a fresh one each day
        with Digest(load_settings(None, env), clock=lambda: at_seven(thursday), started_by="daemon") as app:
            assert app.last_run_day("hf") == MONDAY
            assert app.last_run_day(str(listing_for(tmp_path, wednesday))) == wednesday
            app.send(reader, source="hf")
    finally:
        web.shutdown()
        web.server_close()

    assert tried.nothing_new == [DAILY]  # it served its readers: a run that counts, for its own source
    assert got(tmp_path, DAILY) == {"2608.00001", "2608.00002", "2608.00003", "2608.00004"}
    asked = sorted({r.query["date"] for r in web.requests if r.query.get("p") == "0"})
    assert asked == [(MONDAY + timedelta(days=n)).isoformat() for n in range(-1, 4)]  # Sunday to Thursday


def test_a_source_that_failed_while_the_others_loaded_keeps_its_look_back(server, inbox, tmp_path):
    """``hf, arxiv:cs.LG``: on Tuesday Daily Papers answers 503 and the send goes on with arXiv alone. Tuesday's
    run read arXiv, not ``hf``: Wednesday's run still reaches back to Monday, the last day ``hf`` was read, and
    asks Daily Papers from Sunday (the day before) to Wednesday."""
    from .http_server import Reply
    from .http_server import start as start_http
    from .test_live_sources import API, RSS_FIXTURE, hf_page

    tuesday, wednesday = MONDAY + timedelta(days=1), MONDAY + timedelta(days=2)
    both = "hf, arxiv:cs.LG"
    web = start_http()
    try:
        web.route(f"{API}?date={MONDAY}&limit=100&p=0", hf_page([11, 12], MONDAY.isoformat()))
        web.route(API, Reply.json("[]"))
        web.route("/rss/cs.LG", Reply(body=RSS_FIXTURE))
        env = {**sending_env(server, tmp_path),
               "DIGEST_HF_BASE_URL": web.url, "DIGEST_ARXIV_BASE_URL": web.url, "DIGEST_ARXIV_DELAY": "0",
               "DIGEST_LOOKBACK_DAYS": "1"}
        reader = [Subscriber(DAILY, ("exploration",))]
        for day in (MONDAY, tuesday):
            if day == tuesday:  # Daily Papers is down all day: every attempt answers 503
                web.routes.clear()
                web.route("/rss/cs.LG", Reply(body=RSS_FIXTURE))
                web.route(API, Reply(503, headers={"Retry-After": "0"}))
            env["DIGEST_CACHE_DIR"] = str(tmp_path / f"cache-{day}")  # the HTTP cache keeps real time
            with Digest(load_settings(None, env), clock=lambda: at_seven(day)) as app:
                app.send(reader, source=both)
        web.route(API, Reply.json("[]"))  # back up
        web.requests.clear()
        env["DIGEST_CACHE_DIR"] = str(tmp_path / f"cache-{wednesday}")
        with Digest(load_settings(None, env), clock=lambda: at_seven(wednesday)) as app:
            assert app.last_run_day("arxiv:cs.LG") == tuesday
            assert app.last_run_day("hf") == app.last_run_day(both) == MONDAY
            app.send(reader, source=both)
    finally:
        web.shutdown()
        web.server_close()

    with Store.open(tmp_path / "state.db") as store:
        runs = {run.run_date: run.read_sources() for run in store.served_runs()}
    assert runs == {MONDAY.isoformat(): {"arxiv:cs.LG", "hf"}, tuesday.isoformat(): {"arxiv:cs.LG"},
                    wednesday.isoformat(): {"arxiv:cs.LG", "hf"}}
    with Store.open(tmp_path / "state.db") as store:
        failed = {run.run_date: run.sources_failed() for run in store.served_runs()}
    assert failed == {MONDAY.isoformat(): set(), tuesday.isoformat(): {"hf"}, wednesday.isoformat(): set()}
    asked = sorted({r.query["date"] for r in web.requests if r.query.get("p") == "0"})
    assert asked == [(MONDAY + timedelta(days=n)).isoformat() for n in range(-1, 3)]  # Sunday to Wednesday


@pytest.mark.parametrize("other", ["sample", "arxiv:cs.LG", "FILE", "hf:2031-03-02"])
def test_the_look_back_of_a_source_is_the_latest_served_run_that_read_it(tmp_path, other):
    """A run of other sources is passed over; a run recorded before runs kept their sources counts for every
    source, so an upgrade never shortens a look-back."""
    env = {"DIGEST_FROM": "Digest <digest@example.com>", "DIGEST_STATE_DB": str(tmp_path / "state.db")}
    other = str(listing_for(tmp_path, MONDAY)) if other == "FILE" else other
    with Store.open(tmp_path / "state.db") as store:
        store.finish_run(store.start_run((MONDAY - timedelta(days=6)).isoformat()), 1, 0, 0)  # an older release's
        store.finish_run(store.start_run((MONDAY - timedelta(days=4)).isoformat(), sources=["hf"]), 1, 0, 0)
        store.finish_run(store.start_run((MONDAY - timedelta(days=1)).isoformat(), sources=source_names(other)),
                         1, 0, 0)
    with Digest(load_settings(None, env), clock=lambda: at_seven(MONDAY)) as app:
        assert app.last_run_day("hf") == MONDAY - timedelta(days=4)
        assert app.last_run_day(other) == MONDAY - timedelta(days=1)
        assert app.last_run_day("biorxiv:neuroscience") == MONDAY - timedelta(days=6)  # the older release's run


def test_the_look_back_of_several_sources_reaches_the_one_read_least_recently(tmp_path):
    """The look-back serves every source of the spec: a run of ``hf`` and arXiv counts for ``hf`` too, a run of
    ``hf`` alone does not for arXiv, and a source no run has read yet (just added to DIGEST_SOURCE) leaves the
    others' look-back as it was."""
    env = {"DIGEST_FROM": "Digest <digest@example.com>", "DIGEST_STATE_DB": str(tmp_path / "state.db")}
    with Store.open(tmp_path / "state.db") as store:
        store.finish_run(store.start_run((MONDAY - timedelta(days=5)).isoformat(), sources=["arxiv:cs.LG"]), 1, 0, 0)
        store.finish_run(store.start_run((MONDAY - timedelta(days=4)).isoformat(), sources=["hf"]), 1, 0, 0)
        store.finish_run(store.start_run((MONDAY - timedelta(days=2)).isoformat(), sources=["arxiv:cs.LG", "hf"]),
                         1, 0, 0)
        store.finish_run(store.start_run((MONDAY - timedelta(days=1)).isoformat(), sources=["hf"]), 1, 0, 0)
        for _ in range(60):  # many runs of a saved file since: they hide nothing
            store.finish_run(store.start_run(MONDAY.isoformat(), sources=["/srv/saved.json"]), 1, 0, 0)
    with Digest(load_settings(None, env), clock=lambda: at_seven(MONDAY + timedelta(days=1))) as app:
        assert app.last_run_day("hf") == MONDAY - timedelta(days=1)
        assert app.last_run_day("arxiv:cs.LG") == MONDAY - timedelta(days=2)
        assert app.last_run_day("arxiv:cs.LG, hf") == MONDAY - timedelta(days=2)
        assert app.last_run_day("hf, biorxiv:neuroscience") == MONDAY - timedelta(days=1)  # never read: left out
        assert app.last_run_day("biorxiv:neuroscience") is None
        assert app.last_run_day("/srv/saved.json") == MONDAY


@pytest.mark.parametrize("stored", ['"hf"', "[" * 100_000])  # not a list; nested too deep for Python's parser
def test_a_run_whose_sources_are_damaged_is_left_out_of_the_look_back(tmp_path, caplog, stored):
    env = {"DIGEST_FROM": "Digest <digest@example.com>", "DIGEST_STATE_DB": str(tmp_path / "state.db")}
    with Store.open(tmp_path / "state.db") as store:
        for day in (MONDAY - timedelta(days=3), MONDAY - timedelta(days=1)):
            store.finish_run(store.start_run(day.isoformat(), sources=["hf"]), 1, 0, 0)
        store.db.execute("UPDATE runs SET sources = ? WHERE id = 2", (stored,))
    with Digest(load_settings(None, env), clock=lambda: at_seven(MONDAY)) as app:
        assert app.last_run_day("hf") == MONDAY - timedelta(days=3)
    [warning] = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "run 2's sources are not a JSON list of names" in warning and "left out" in warning


def test_a_source_is_named_the_same_however_its_spec_is_written(tmp_path, monkeypatch):
    """Order, spacing and repetition do not matter; a file is its absolute path, as the folder it is named from
    makes it: the same name in another folder is another file."""
    (tmp_path / "a").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    assert source_names(" hf ,arxiv:cs.LG") == source_names("arxiv: cs.LG, hf, hf") == ["arxiv:cs.LG", "hf"]
    assert source_names("saved.json") == source_names("./saved.json") == source_names("../a/saved.json") \
        == [str(tmp_path / "a" / "saved.json")]
    assert len({*source_names("hf"), *source_names("hf:2031-03-03"), *source_names("sample"),
                *source_names("saved.json"), *source_names(str(tmp_path / "saved.json"))}) == 5


def test_a_day_the_source_could_not_read_keeps_its_look_back_and_the_days_it_read_are_sent(server, inbox, tmp_path):
    """``hf`` alone: on Tuesday Monday's page is broken (every item unreadable) while Tuesday's reads. Tuesday's
    papers are sent that day, but the run did not read all of ``hf``: it is recorded as having read nothing, and
    Wednesday's run still reaches back to Monday (asking Daily Papers from Sunday), where a paper that had been
    unreadable now comes; Tuesday's is not sent twice."""
    from .http_server import Reply
    from .http_server import start as start_http
    from .test_live_sources import API, BROKEN_DAY, hf_page

    tuesday, wednesday = MONDAY + timedelta(days=1), MONDAY + timedelta(days=2)
    web = start_http()
    try:
        web.route(f"{API}?date={MONDAY}&limit=100&p=0", hf_page([11], MONDAY.isoformat()))
        web.route(API, Reply.json("[]"))
        env = {**sending_env(server, tmp_path),
               "DIGEST_HF_BASE_URL": web.url, "DIGEST_LOOKBACK_DAYS": "1"}
        reader = [Subscriber(DAILY, ("exploration",))]
        sent = {}
        for day in (MONDAY, tuesday, wednesday):
            if day == tuesday:  # Monday's page is broken on Tuesday; Tuesday's reads
                web.route(f"{API}?date={MONDAY}&limit=100&p=0", Reply.json(BROKEN_DAY))
                web.route(f"{API}?date={tuesday}&limit=100&p=0", hf_page([21], tuesday.isoformat()))
            if day == wednesday:  # Monday's page reads again, with the paper that was broken
                web.route(f"{API}?date={MONDAY}&limit=100&p=0", hf_page([11, 12], MONDAY.isoformat()))
                web.requests.clear()
            env["DIGEST_CACHE_DIR"] = str(tmp_path / f"cache-{day}")  # the HTTP cache keeps real time
            with Digest(load_settings(None, env), clock=lambda: at_seven(day)) as app:
                if day == wednesday:
                    assert app.last_run_day("hf") == MONDAY
                report = app.send(reader, source="hf")
            sent[day] = len(report.sent)
    finally:
        web.shutdown()
        web.server_close()

    with Store.open(tmp_path / "state.db") as store:
        runs = {run.run_date: run.read_sources() for run in store.served_runs()}
    assert runs == {MONDAY.isoformat(): {"hf"}, tuesday.isoformat(): set(), wednesday.isoformat(): {"hf"}}
    assert sent == {MONDAY: 1, tuesday: 1, wednesday: 1}
    assert got(tmp_path, DAILY) == {"2608.00011", "2608.00021", "2608.00012"}
    asked = sorted({r.query["date"] for r in web.requests if r.query.get("p") == "0"})
    assert asked == [(MONDAY + timedelta(days=n)).isoformat() for n in range(-1, 3)]  # Sunday to Wednesday


def test_a_key_in_a_url_sources_query_is_not_stored_and_the_look_back_compares_it_masked(server, inbox, tmp_path,
                                                                                          caplog):
    """A private feed's URL carries its key (``?key=``, ``&access_token=``): the run records the source with the
    key as ``***``, as errors and logs show it, so the state database holds no key in plain text; the look-back
    compares masked names, so the same feed with a new key is the same source."""
    import logging

    from .http_server import Reply
    from .http_server import start as start_http

    caplog.set_level(logging.INFO)
    web = start_http()
    try:
        web.route("/feed.jsonl", Reply(body=listing_for(tmp_path, MONDAY).read_bytes()))
        feed = f"{web.url}/feed.jsonl?format=jsonl&key=s3cret-key&access_token=s3cret-token"
        env = {**sending_env(server, tmp_path),
               "DIGEST_CACHE_DIR": str(tmp_path / "cache"), "DIGEST_PUBLIC_URL": "https://digest.example.org",
               "DIGEST_SECRET_KEY": "Qx7-vR2mZt9LpW4nHc8sYb3KdF6gJ0aE"}
        with Digest(load_settings(None, env), clock=lambda: at_seven(MONDAY)) as app:
            report = app.send([Subscriber(DAILY, KEYWORDS)], source=feed)
            papers = app.load_listing(feed, offline=True)
        with Digest(load_settings(None, env), clock=lambda: at_seven(MONDAY + timedelta(days=1))) as app:
            assert app.last_run_day(feed.replace("s3cret-key", "n3w-key")) == MONDAY
    finally:
        web.shutdown()
        web.server_close()

    assert len(report.sent) == 1
    with Store.open(tmp_path / "state.db") as store:
        [run] = store.served_runs()
    assert run.read_sources() == {f"{web.url}/feed.jsonl?format=jsonl&key=***&access_token=***"}
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("state.db*"))
    assert b"s3cret" not in stored
    assert "s3cret" not in papers.source + "".join(papers.notes + papers.warnings)
    assert not [r for r in caplog.records if r.name.startswith("digest") and "s3cret" in r.getMessage()]
