"""Standard 5-field cron expressions, read as crontab(5) reads them, in local wall-clock time.

The fields follow cronie (the cron of most Linux systems):

* ``minute hour day-of-month month day-of-week``; each field a comma-separated
  list of ``*``, ``N``, ``N-M``, each with an optional ``/STEP``. ``N/STEP``
  means ``N-max/STEP``: ``5/15`` in the minute field is 5, 20, 35, 50, and
  ``3/2`` in the weekday field is Wednesday, Friday, Sunday (weekdays run 0-7).
* Weekdays ``0`` and ``7`` are Sunday (not APScheduler's Monday = 0); names are
  the three-letter ``sun``-``sat`` and ``jan``-``dec``, any case, usable in ranges
  and with steps (``jan-mar/2``). Anything longer (``monkey``) is an error.
* When *both* day fields are restricted, a day matches when *either* does:
  ``0 7 1,15 * mon-fri`` fires on the 1st, the 15th and every weekday. A day field
  that starts with ``*`` (``*/2`` too) counts as unrestricted, and the other one
  alone decides.
* ``@yearly`` (``@annually``), ``@monthly``, ``@weekly``, ``@daily``
  (``@midnight``) and ``@hourly`` are the usual shorthands.

Two deliberate extensions, both accepted by other crons: a weekday range may end
on Sunday written as ``0``/``sun`` (``fri-sun`` = ``5-7``), and a day field of
just ``?`` means ``*``.

Daylight saving. :class:`LocalCronTrigger` matches the expression against local
*wall-clock* time and fires each matching wall-clock minute once: a time in the
spring gap runs right after the change, shifted by the gap (02:30 -> 03:30; cronie
and cronsim run it at 03:00), and a time in the repeated autumn hour runs at its
first occurrence only. Unlike cronie, this holds for ``*`` hours and minutes too:
an hourly job fires once per wall-clock hour, 23 times in spring, 24 in autumn.
(APScheduler 3.11's own ``CronTrigger`` repeats the autumn hour and can step
backwards, which is why the matching is done here.)
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone as dt_timezone
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger

from .errors import ConfigError

DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
UTC = dt_timezone.utc
ALIASES = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}
_MONTH_DAYS = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_SEARCH_DAYS = 9 * 366  # 29 February may be 8 years away (2096 -> 2104)


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    first_name: int = 0  # the value of names[0]


MINUTE = _Field("minute", 0, 59)
HOUR = _Field("hour", 0, 23)
DAY = _Field("day of month", 1, 31)
MONTH = _Field("month", 1, 12, MONTH_NAMES, 1)
WEEKDAY = _Field("weekday", 0, 7, DAY_NAMES, 0)


@dataclass(frozen=True)
class CronSpec:
    """The parsed fields: which minutes, hours and days of the wall clock match."""

    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    either_day: bool  # both day fields restricted: a day matches when either does

    def matches_day(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        by_date = day.day in self.days
        by_weekday = day.isoweekday() % 7 in self.weekdays
        return by_date or by_weekday if self.either_day else by_date and by_weekday

    def next_wall(self, start: datetime) -> datetime | None:
        """The first matching wall-clock minute at or after naive ``start``."""
        if start.second or start.microsecond:
            start = start.replace(second=0, microsecond=0) + timedelta(minutes=1)
        day, last = start.date(), start.date() + timedelta(days=_SEARCH_DAYS)
        while day <= last:
            if day.month not in self.months:
                day = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
                continue
            if self.matches_day(day):
                found = self._first_time(day, start.time() if day == start.date() else time())
                if found is not None:
                    return found
            day += timedelta(days=1)
        return None

    def _first_time(self, day: date, earliest: time) -> datetime | None:
        for hour in self.hours[bisect_left(self.hours, earliest.hour):]:
            floor = earliest.minute if hour == earliest.hour else 0
            index = bisect_left(self.minutes, floor)
            if index < len(self.minutes):
                return datetime.combine(day, time(hour, self.minutes[index]))
        return None


class LocalCronTrigger(BaseTrigger):
    """A cron schedule in a time zone's wall-clock time, each slot fired once."""

    def __init__(self, expr: str, spec: CronSpec, zone: ZoneInfo) -> None:
        self.expr = expr
        self.zone = zone
        self.spec = spec

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        """The first slot at or after ``now`` (and after ``previous_fire_time``), in UTC."""
        floor = now.astimezone(UTC)
        if previous_fire_time is not None:
            floor = max(floor, previous_fire_time.astimezone(UTC) + timedelta(seconds=1))
        wall = self.to_wall(floor) - self._spring_gap_before(floor)
        for _ in range(10_000):
            candidate = self.spec.next_wall(wall)
            if candidate is None:
                return None
            instant = self.from_wall(candidate)
            if instant >= floor:
                return instant
            wall = candidate + timedelta(minutes=1)
        return None

    def _spring_gap_before(self, instant: datetime) -> timedelta:
        """A slot in a spring gap fires after the gap: look back that far for one (else 0)."""
        day_before = (instant - timedelta(days=1)).astimezone(self.zone).utcoffset() or timedelta(0)
        return max(timedelta(0), (instant.astimezone(self.zone).utcoffset() or timedelta(0)) - day_before)

    def fire_times(self, start: datetime, end: datetime) -> list[datetime]:
        """Every fire time in [start, end): for tests, ``status`` and the catch-up run."""
        times: list[datetime] = []
        previous = None
        moment = start
        while True:
            fire = self.get_next_fire_time(previous, moment)
            if fire is None or fire >= end.astimezone(UTC):
                return times
            times.append(fire)
            previous = moment = fire

    def to_wall(self, instant: datetime) -> datetime:
        """Instant -> naive local wall-clock time."""
        return instant.astimezone(self.zone).replace(tzinfo=None, fold=0)

    def from_wall(self, wall: datetime) -> datetime:
        """Wall-clock time -> instant: first occurrence when repeated, pushed past a gap."""
        return wall.replace(tzinfo=self.zone, fold=0).astimezone(UTC)

    def slot(self, fire_time: datetime) -> str:
        """The wall-clock slot a fire time belongs to: one run per slot, ever."""
        return f"{fire_time.astimezone(self.zone):%Y-%m-%d %H:%M} {self.zone.key}"

    def __str__(self) -> str:
        return f"cron[{self.expr}] in {self.zone.key}"


def parse_cron(expr: str, timezone: str) -> LocalCronTrigger:
    """A ``DIGEST_SCHEDULE`` line -> its trigger in ``timezone``; a ConfigError names the problem."""
    try:
        spec = parse_spec(expr)
    except ValueError as err:
        raise ConfigError(f"DIGEST_SCHEDULE={expr!r}: {err}") from None
    return LocalCronTrigger(expr, spec, ZoneInfo(timezone))


def parse_spec(expr: str) -> CronSpec:
    fields = expand_alias(expr.strip()).split()
    if len(fields) != 5:
        raise ValueError("a cron schedule has 5 fields (minute hour day month weekday), e.g. '0 7 * * 1-5'")
    minute, hour, day, month, weekday = fields
    day, weekday = ("*" if day == "?" else day), ("*" if weekday == "?" else weekday)
    spec = CronSpec(
        minutes=tuple(sorted(parse_field(minute, MINUTE))),
        hours=tuple(sorted(parse_field(hour, HOUR))),
        days=frozenset(parse_field(day, DAY)),
        months=frozenset(parse_field(month, MONTH)),
        weekdays=frozenset(d % 7 for d in parse_field(weekday, WEEKDAY)),
        either_day=not day.startswith("*") and not weekday.startswith("*"),
    )
    if not spec.either_day and min(spec.days) > max(_MONTH_DAYS[m] for m in spec.months):
        raise ValueError(f"day {min(spec.days)} never occurs in the months given, so it would never run")
    return spec


def expand_alias(expr: str) -> str:
    if not expr.startswith("@"):
        return expr
    try:
        return ALIASES[expr.lower()]
    except KeyError:
        raise ValueError(f"unknown shorthand; use one of {', '.join(ALIASES)} or 5 fields") from None


def parse_field(text: str, field: _Field) -> set[int]:
    """One field's comma-separated list of ``*``, ``N`` or ``N-M``, each with an optional ``/STEP``."""
    values: set[int] = set()
    for part in text.lower().split(","):
        values |= _parse_part(part, field)
    return values


def _parse_part(part: str, field: _Field) -> set[int]:
    body, slash, step_text = part.partition("/")
    step = _step(step_text, part, field) if slash else 1
    if body == "*":
        first, last = field.low, field.high
    elif "-" in body:
        start, end = body.split("-", 1)
        first, last = _value(start, field), _value(end, field)
        if field is WEEKDAY and last == 0 and first > 0:
            last = 7  # "fri-sun": Sunday at the end of a range is 7
    else:
        first = _value(body, field)
        last = field.high if slash else first  # cronie: "N/S" is "N-max/S"
    if first > last:
        raise ValueError(f"{field.name} range {part!r} runs backwards")
    return set(range(first, last + 1, step))


def _step(text: str, part: str, field: _Field) -> int:
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"bad step in {field.name} field {part!r}: use a whole number of 1 or more")
    return int(text)


def _value(token: str, field: _Field) -> int:
    if token in field.names:
        return field.names.index(token) + field.first_name
    names = f" or {field.names[0]}-{field.names[-1]}" if field.names else ""
    if not token.isdigit():
        raise ValueError(f"unknown {field.name} {token!r} (use {field.low}-{field.high}{names})")
    if not field.low <= int(token) <= field.high:
        raise ValueError(f"{field.name} {token} out of range {field.low}-{field.high}{names}")
    return int(token)
