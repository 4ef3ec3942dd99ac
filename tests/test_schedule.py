"""The schedule, as pure functions of the clock: weekdays, time zones, DST, missed runs."""

from __future__ import annotations

import functools
from datetime import date, datetime, timedelta, timezone
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
        ("0 7 ? * mon", ["Mon"]),  # "?" (Quartz, APScheduler) means "*"
        ("0 7 * * ?", ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]),
    ],
)
def test_weekdays_follow_crontab_not_apscheduler(expr, days):
    assert weekdays_fired(expr) == days


def fires(expr: str, start: str, days: int, zone: str = "UTC") -> list[str]:
    tz = ZoneInfo(zone)
    begin = datetime.fromisoformat(start).replace(tzinfo=tz)
    trigger = parse_cron(expr, zone)
    return [f"{f.astimezone(tz):%Y-%m-%d %H:%M}" for f in trigger.fire_times(begin, begin + timedelta(days=days))]


def days_fired(expr: str, start: str, days: int) -> list[str]:
    return [f"{fire[:10]} {datetime.fromisoformat(fire):%a}" for fire in fires(expr, start, days)]


def test_when_both_day_fields_are_restricted_either_one_matching_fires():
    got = days_fired("0 7 1,15 * fri", "2026-08-01", 20)  # the 1st and the 15th are Saturdays

    assert got == ["2026-08-01 Sat", "2026-08-07 Fri", "2026-08-14 Fri", "2026-08-15 Sat"]


def test_the_first_the_fifteenth_and_every_weekday():
    got = days_fired("0 7 1,15 * mon-fri", "2026-11-01", 15)  # Sunday the 1st .. Sunday the 15th

    assert [d for d in got if d.endswith(("Sat", "Sun"))] == ["2026-11-01 Sun", "2026-11-15 Sun"]
    assert len(got) == 2 + 10  # two Sundays by date, ten weekdays by weekday


@pytest.mark.parametrize("day_field", ["*", "*/1", "*/2"])
def test_a_day_field_starting_with_a_star_leaves_the_weekday_alone_to_decide(day_field):
    got = days_fired(f"0 7 {day_field} * mon", "2026-11-01", 30)  # Mondays: 2, 9, 16, 23, 30

    expected = ["02", "09", "16", "23", "30"] if day_field != "*/2" else ["09", "23"]
    assert [d[8:10] for d in got] == expected


def test_a_weekday_field_starting_with_a_star_leaves_the_date_alone_to_decide():
    # */2 is Sun, Tue, Thu, Sat; being unrestricted, it must *also* match (not either)
    assert days_fired("0 7 13 * */2", "2026-01-01", 365) == [
        "2026-01-13 Tue", "2026-06-13 Sat", "2026-08-13 Thu", "2026-09-13 Sun", "2026-10-13 Tue",
        "2026-12-13 Sun"]
    assert [d[:10] for d in days_fired("0 7 13 * */1", "2026-01-01", 365)] == [
        f"2026-{m:02}-13" for m in range(1, 13)]


@pytest.mark.parametrize(
    ("months", "expected"),
    [("jan-mar/2", ["01", "03"]), ("JAN-JUN/2", ["01", "03", "05"]), ("*/4", ["01", "05", "09"]),
     ("feb/3", ["02", "05", "08", "11"]), ("jan,jul-aug", ["01", "07", "08"])],
)
def test_month_names_take_ranges_and_steps(months, expected):
    assert [d[5:7] for d in fires(f"0 7 1 {months} *", "2026-01-01", 365)] == expected


def test_a_single_value_with_a_step_runs_to_the_end_of_the_field():
    assert [f[11:] for f in fires("5/15 7 * * *", "2026-11-23", 1)] == ["07:05", "07:20", "07:35", "07:50"]
    assert [d[-3:] for d in days_fired("0 7 * * 3/2", "2026-11-23", 7)] == ["Wed", "Fri", "Sun"]
    assert [f[11:] for f in fires("0 20/2 * * *", "2026-11-23", 1)] == ["20:00", "22:00"]


@pytest.mark.parametrize(
    ("alias", "expected"),
    [
        ("@hourly", ["2026-11-23 00:00", "2026-11-23 01:00", "2026-11-23 02:00"]),
        ("@daily", ["2026-11-23 00:00", "2026-11-24 00:00", "2026-11-25 00:00"]),
        ("@midnight", ["2026-11-23 00:00", "2026-11-24 00:00", "2026-11-25 00:00"]),
        ("@weekly", ["2026-11-29 00:00", "2026-12-06 00:00", "2026-12-13 00:00"]),
        ("@monthly", ["2026-12-01 00:00", "2027-01-01 00:00", "2027-02-01 00:00"]),
        ("@yearly", ["2027-01-01 00:00", "2028-01-01 00:00", "2029-01-01 00:00"]),
        ("@annually", ["2027-01-01 00:00", "2028-01-01 00:00", "2029-01-01 00:00"]),
        ("@DAILY", ["2026-11-23 00:00", "2026-11-24 00:00", "2026-11-25 00:00"]),
    ],
)
def test_shorthands_mean_what_crontab_says(alias, expected):
    trigger = parse_cron(alias, "UTC")
    times = [trigger.get_next_fire_time(None, MONDAY)]
    while len(times) < 3:
        times.append(trigger.get_next_fire_time(times[-1], times[-1]))

    assert [f"{t:%Y-%m-%d %H:%M}" for t in times] == expected


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ("0 7 * * 8", "weekday 8 out of range 0-7"),
        ("0 7 * * monkey", "unknown weekday 'monkey'"),
        ("0 7 * * frisbee", "unknown weekday 'frisbee'"),
        ("0 7 * * monday", "unknown weekday 'monday'"),
        ("0 7 * january *", "unknown month 'january'"),
        ("0 7 mon * *", "unknown day of month 'mon'"),
        ("0 7 * * mon-", "unknown weekday ''"),
        ("0 7 * *", "5 fields"),
        ("0 7 * * * *", "5 fields"),
        ("61 7 * * *", "minute 61 out of range 0-59"),
        ("0 24 * * *", "hour 24 out of range 0-23"),
        ("0 7 0 * *", "day of month 0 out of range 1-31"),
        ("0 7 * 13 *", "month 13 out of range 1-12"),
        ("0 7 * * 5-1", "weekday range '5-1' runs backwards"),
        ("0 7 * * */0", "bad step"),
        ("*/x 7 * * *", "bad step"),
        ("x 7 * * *", "unknown minute 'x'"),
        ("0 7 1,,2 * *", "unknown day of month ''"),
        ("0 7 30 feb *", "never occurs"),
        ("0 7 31 apr,jun *", "never occurs"),
        ("@fortnightly", "unknown shorthand"),
        ("@reboot", "unknown shorthand"),
        ("", "5 fields"),
    ],
)
def test_invalid_schedules_are_one_line_naming_digest_schedule(expr, problem):
    with pytest.raises(ConfigError, match="DIGEST_SCHEDULE") as caught:
        parse_cron(expr, "UTC")

    assert problem in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_day_that_never_comes_is_fine_when_the_weekday_can_fire_instead():
    assert days_fired("0 7 30 feb mon", "2026-02-01", 28) == [
        "2026-02-02 Mon", "2026-02-09 Mon", "2026-02-16 Mon", "2026-02-23 Mon"]


def test_the_29th_of_february_waits_for_a_leap_year():
    assert fires("0 7 29 feb *", "2026-11-23", 3 * 366) == ["2028-02-29 07:00"]


def test_a_weekday_range_may_end_on_sunday_written_as_zero():
    """A deliberate extension: cronie rejects ``fri-sun`` (5-0) as backwards."""
    assert days_fired("0 7 * * fri-sun", "2026-11-23", 7) == days_fired("0 7 * * 5-7", "2026-11-23", 7)
    assert [d[-3:] for d in days_fired("0 7 * * 6-0", "2026-11-23", 7)] == ["Sat", "Sun"]


# against an independent implementation ---------------------------------------------

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"]  # Lord Howe shifts 30 minutes
COMPARED = [
    "0 7 * * 1-5", "0 7 * * mon-fri", "30 6 1,15 * mon-fri", "0 7 */2 * mon", "0 7 1-7 * 1",
    "0 8 13 * fri", "15 9 * jan-mar/2 *", "5/15 7 * * *", "0 7 * * 3/2", "0 */6 * * *",
    "0 * * * sat,sun", "0 0 31 * *", "0 7 * * 7", "0 7 * * 0", "0 9-17/2 * * 1-5", "59 23 31 12 *",
    "30 2 * * *", "45 1 * * sun", "0 0 1 */3 *", "0 7 1 * 1", "0 7 */10 * *", "0 7 10-20 * fri/2",
    "0,30 7-9 * * Tue,THU", "0 7 1-10/3,20 * *", "0 7 * 1,6-8/2 *", "0 7 * * 1-5/2,0", "0 7 29 feb *", "0 7 1 1 mon", "0 0 1 1 *", "0 0 1 * *", "0 0 * * 0",
]
YEAR = [("2026-01-01", "2027-01-01")]
HOURLY_WINDOWS = [("2026-03-01", "2026-04-15"), ("2026-09-25", "2026-11-10")]  # every zone's DST changes
ALIASES = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
           "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@hourly": "0 * * * *"}


def cronsim_fires(expr: str, zone: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    from cronsim import CronSim

    times = []
    for fire in CronSim(expr, start - timedelta(seconds=1)):
        if fire >= end:
            return times
        times.append(fire)
    raise AssertionError("unreachable")


@functools.cache
def offset_change(day: date, zone: ZoneInfo) -> timedelta:
    """How the UTC offset moves during ``day``: forward in spring, back in autumn, else 0."""
    midnight = datetime.combine(day, datetime.min.time(), tzinfo=zone)
    return (midnight + timedelta(days=1, hours=1)).utcoffset() - midnight.utcoffset()


def as_wall(times: list[datetime], zone: ZoneInfo, fixed_time: bool) -> list[str]:
    """Local fire times, leaving out the days where the two mean different things on purpose.

    Spring-gap times run later here (02:30 -> 03:30, cronie: 03:00); ``*`` hours
    or minutes fire once per wall-clock time here, by real time in cronie.
    Fixed times in the repeated autumn hour agree: first occurrence only.
    """
    walls = [t.astimezone(zone) for t in times]
    return [f"{w:%Y-%m-%d %H:%M %a}" for w in walls
            if not (change := offset_change(w.date(), zone)) or (fixed_time and change < timedelta(0))]


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("expr", COMPARED + list(ALIASES))
def test_a_year_of_fire_times_matches_cronsim(expr, zone):
    pytest.importorskip("cronsim")
    tz = ZoneInfo(zone)
    fields = ALIASES.get(expr, expr)
    fixed_time = not fields.split()[0].startswith("*") and not fields.split()[1].startswith("*")
    ours: list[str] = []
    theirs: list[str] = []
    for first, last in (HOURLY_WINDOWS if fields.split()[1] == "*" else YEAR):
        start, end = datetime.fromisoformat(first).replace(tzinfo=tz), datetime.fromisoformat(last).replace(tzinfo=tz)
        ours += as_wall(parse_cron(expr, zone).fire_times(start, end), tz, fixed_time)
        theirs += as_wall(cronsim_fires(fields, tz, start, end), tz, fixed_time)

    assert ours == theirs
    assert len(ours) > 0 or expr == "0 7 29 feb *"


def test_the_spring_gap_is_where_we_differ_from_cronie_on_purpose():
    pytest.importorskip("cronsim")
    tz = ZoneInfo("Europe/Berlin")
    start, end = datetime(2026, 3, 29, tzinfo=tz), datetime(2026, 3, 30, tzinfo=tz)

    ours = [f"{t.astimezone(tz):%H:%M}" for t in parse_cron("30 2 * * *", "Europe/Berlin").fire_times(start, end)]
    theirs = [f"{t:%H:%M}" for t in cronsim_fires("30 2 * * *", tz, start, end)]

    assert (ours, theirs) == (["03:30"], ["03:00"])


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


# any expression, against cronsim -----------------------------------------------------------

def cron_part(draw, low: int, high: int, names: tuple[str, ...] = (), first_name: int = 0) -> str:
    from hypothesis import strategies as st

    def show(value: int) -> str:
        if names and 0 <= value - first_name < len(names) and draw(st.booleans()):
            name = names[value - first_name]
            return draw(st.sampled_from([name, name.upper(), name.title()]))
        return str(value)

    start = draw(st.integers(low, high))
    end = draw(st.integers(start, high))
    step = draw(st.integers(1, high + 1))
    forms = ["*", f"*/{step}", show(start), f"{show(start)}-{show(end)}", f"{show(start)}/{step}"]
    if end > start:  # cronsim reads a range of one with a step, "N-N/S", as "N/S"; cronie does not
        forms.append(f"{show(start)}-{show(end)}/{step}")
    return draw(st.sampled_from(forms))


def cron_field(draw, *spec) -> str:
    from hypothesis import strategies as st

    return ",".join(cron_part(draw, *spec) for _ in range(draw(st.integers(1, 2))))


def random_expressions():
    from hypothesis import strategies as st

    @st.composite
    def build(draw):
        minute = str(draw(st.integers(0, 59)))  # one time a day keeps a year's fire times few
        hour = str(draw(st.integers(0, 23)))
        day = cron_field(draw, 1, 31)
        month = cron_field(draw, 1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep",
                                         "oct", "nov", "dec"), 1)
        weekday = cron_field(draw, 0, 7, ("sun", "mon", "tue", "wed", "thu", "fri", "sat"), 0)
        return f"{minute} {hour} {day} {month} {weekday}"

    return build()


def test_any_day_and_month_fields_fire_when_cronsim_says():
    pytest.importorskip("cronsim")
    from cronsim import CronSimError
    from hypothesis import given, settings

    @settings(max_examples=30, deadline=None)
    @given(random_expressions())
    def check(expr):
        start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
        try:
            theirs = cronsim_fires(expr, ZoneInfo("UTC"), start, end)
        except CronSimError:
            with pytest.raises(ConfigError, match="never occurs"):
                parse_cron(expr, "UTC")
            return
        assert parse_cron(expr, "UTC").fire_times(start, end) == theirs, expr

    check()
