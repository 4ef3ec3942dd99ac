"""The schedule, as pure functions of the clock: weekdays, time zones, DST, missed runs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from digest.cron import parse_cron
from digest.errors import ConfigError
from digest.schedule import missed_slot, slot_for

UTC = timezone.utc
MONDAY = datetime(2026, 11, 23, tzinfo=UTC)  # a Monday


def weekdays_fired(expr: str) -> list[str]:
    trigger = parse_cron(expr, "UTC")
    return [f"{fire:%a}" for fire in trigger.fire_times(MONDAY, MONDAY + timedelta(days=7))]


@pytest.mark.parametrize(
    ("expr", "days"),
    [
        ("0 7 * * 1-5", ["Mon", "Tue", "Wed", "Thu", "Fri"]),
        ("0 7 * * mon-fri", ["Mon", "Tue", "Wed", "Thu", "Fri"]),
        ("0 7 * * 0", ["Sun"]),
        ("0 7 * * 7", ["Sun"]),
        ("0 7 * * 6,0", ["Sat", "Sun"]),
        ("0 7 * * 5-7", ["Fri", "Sat", "Sun"]),
        ("0 7 * * 1,3,5", ["Mon", "Wed", "Fri"]),
        ("0 7 * * */2", ["Tue", "Thu", "Sat", "Sun"]),
        ("0 7 * * *", ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]),
    ],
)
def test_weekdays_follow_crontab_not_apscheduler(expr, days):
    assert weekdays_fired(expr) == days


@pytest.mark.parametrize("expr", ["0 7 * * 8", "0 7 * * mon-", "0 7 * *", "61 7 * * *", "0 7 * * 5-1", "x 7 * * *"])
def test_invalid_schedules_are_config_errors(expr):
    with pytest.raises(ConfigError, match="DIGEST_SCHEDULE"):
        parse_cron(expr, "UTC")


@pytest.mark.parametrize(
    ("zone", "day", "utc_hour"),
    [
        ("UTC", "2026-01-15", 7),
        ("Europe/Berlin", "2026-01-15", 6),   # CET, UTC+1
        ("Europe/Berlin", "2026-07-15", 5),   # CEST, UTC+2
        ("America/New_York", "2026-01-15", 12),  # EST, UTC-5
        ("America/New_York", "2026-07-15", 11),  # EDT, UTC-4
        ("Asia/Kolkata", "2026-01-15", 1),    # UTC+5:30 -> 01:30 UTC
    ],
)
def test_the_schedule_is_in_digest_timezone_not_utc(zone, day, utc_hour):
    trigger = parse_cron("0 7 * * *", zone)
    start = datetime.fromisoformat(day).replace(tzinfo=ZoneInfo(zone))

    fire = trigger.get_next_fire_time(None, start)

    assert fire.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M") == f"{day} 07:00"
    assert fire.astimezone(UTC).hour == utc_hour


DST_DAYS = [
    ("Europe/Berlin", "2026-03-29", "spring"),
    ("Europe/Berlin", "2026-10-25", "autumn"),
    ("America/New_York", "2026-03-08", "spring"),
    ("America/New_York", "2026-11-01", "autumn"),
]


def local_fires(expr: str, zone: str, day: str, days: int = 1) -> list[str]:
    tz = ZoneInfo(zone)
    start = datetime.fromisoformat(day).replace(tzinfo=tz)
    trigger = parse_cron(expr, zone)
    return [f"{f.astimezone(tz):%Y-%m-%d %H:%M%z}" for f in trigger.fire_times(start, start + timedelta(days=days))]


@pytest.mark.parametrize(("zone", "day", "season"), DST_DAYS)
@pytest.mark.parametrize("hour_minute", ["0 1", "30 1", "0 2", "30 2", "0 3", "0 7"])
def test_a_daily_job_fires_exactly_once_on_dst_days(zone, day, season, hour_minute):
    fires = local_fires(f"{hour_minute} * * *", zone, day)

    assert len(fires) == 1, fires
    assert fires[0].startswith(day)


@pytest.mark.parametrize(("zone", "day"), [("Europe/Berlin", "2026-03-29"), ("America/New_York", "2026-03-08")])
def test_a_time_in_the_spring_gap_runs_right_after_the_change(zone, day):
    offset = "+0200" if zone == "Europe/Berlin" else "-0400"
    assert local_fires("30 2 * * *", zone, day) == [f"{day} 03:30{offset}"]


@pytest.mark.parametrize(("zone", "day"), [("Europe/Berlin", "2026-10-25"), ("America/New_York", "2026-11-01")])
def test_a_time_in_the_repeated_autumn_hour_runs_at_its_first_occurrence(zone, day):
    offset = "+0200" if zone == "Europe/Berlin" else "-0400"
    hour = "2" if zone == "Europe/Berlin" else "1"
    assert local_fires(f"30 {hour} * * *", zone, day) == [f"{day} 0{hour}:30{offset}"]


@pytest.mark.parametrize(("zone", "day", "season"), DST_DAYS)
def test_an_hourly_job_fires_once_per_wall_clock_hour(zone, day, season):
    fires = local_fires("0 * * * *", zone, day)

    assert len(fires) == len(set(fires))
    assert len(fires) == (23 if season == "spring" else 24)
    moments = [datetime.strptime(f, "%Y-%m-%d %H:%M%z") for f in fires]
    assert moments == sorted(moments)


@pytest.mark.parametrize(("zone", "day", "season"), DST_DAYS)
def test_a_week_of_daily_runs_around_the_change_has_no_gap_or_double(zone, day, season):
    start = (datetime.fromisoformat(day) - timedelta(days=3)).date().isoformat()
    fires = local_fires("30 2 * * *", zone, start, days=7)

    assert len(fires) == 7
    assert [f[:10] for f in fires] == sorted({f[:10] for f in fires})


def test_both_autumn_occurrences_belong_to_one_slot():
    trigger = parse_cron("30 2 * * *", "Europe/Berlin")
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)   # 02:30 CEST
    second = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 CET, the repeat

    assert trigger.slot(first) == trigger.slot(second) == "2026-10-25 02:30 Europe/Berlin"


# missed runs ----------------------------------------------------------------------

BERLIN_7AM = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # 07:00 CET


def test_a_run_missed_within_the_grace_period_is_due_at_start():
    trigger = parse_cron("0 7 * * 1-5", "Europe/Berlin")
    now = BERLIN_7AM + timedelta(hours=2)

    assert missed_slot(trigger, now, timedelta(hours=6), lambda slot: False) == BERLIN_7AM


def test_a_run_missed_longer_ago_than_the_grace_period_is_not_due():
    trigger = parse_cron("0 7 * * 1-5", "Europe/Berlin")
    now = BERLIN_7AM + timedelta(hours=7)

    assert missed_slot(trigger, now, timedelta(hours=6), lambda slot: False) is None


def test_a_slot_that_already_ran_is_not_due_again():
    trigger = parse_cron("0 7 * * 1-5", "Europe/Berlin")
    done = {"2026-11-23 07:00 Europe/Berlin"}

    assert missed_slot(trigger, BERLIN_7AM + timedelta(hours=1), timedelta(hours=6), done.__contains__) is None


def test_only_the_latest_of_several_missed_slots_runs():
    trigger = parse_cron("0 * * * *", "UTC")
    now = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)

    assert missed_slot(trigger, now, timedelta(hours=6), lambda slot: False) == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def test_a_late_job_serves_the_slot_it_was_scheduled_for():
    trigger = parse_cron("0 7 * * 1-5", "Europe/Berlin")

    assert slot_for(trigger, BERLIN_7AM + timedelta(minutes=40), timedelta(hours=6)) == BERLIN_7AM
    assert slot_for(trigger, BERLIN_7AM + timedelta(seconds=0.2), timedelta(hours=6)) == BERLIN_7AM
