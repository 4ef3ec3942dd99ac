"""Standard 5-field cron expressions for APScheduler 3.x, with crontab semantics.

Two things APScheduler 3 gets wrong for a daily digest, and this module fixes:

* Weekdays. In a crontab ``1-5`` is Monday to Friday and ``0``/``7`` are Sunday;
  ``CronTrigger.from_crontab`` numbers weekdays from Monday = 0, so ``1-5`` would
  fire Tuesday to Saturday. We expand the weekday field ourselves and hand
  APScheduler weekday *names*, which it cannot misread.
* Daylight saving. With a zoneinfo time zone, APScheduler 3.11's ``CronTrigger``
  returns the repeated autumn hour again and again (and can step backwards), so a
  ``30 2 * * *`` job would fire twice or more on the autumn change day.
  :class:`LocalCronTrigger` matches the expression against local *wall-clock*
  time and fires each matching wall-clock minute once, like cron: a time in the
  spring gap runs right after the change (02:30 -> 03:30), a time in the repeated
  autumn hour runs at its first occurrence only.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone as dt_timezone
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from .errors import ConfigError

DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
UTC = dt_timezone.utc


class LocalCronTrigger(BaseTrigger):
    """A cron schedule in a time zone's wall-clock time, each slot fired once."""

    def __init__(self, expr: str, wall: CronTrigger, zone: ZoneInfo) -> None:
        self.expr = expr
        self.zone = zone
        self._wall = wall  # the same fields, evaluated on wall-clock times written as UTC

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        """The first slot at or after ``now`` (and after ``previous_fire_time``), in UTC."""
        floor = now.astimezone(UTC)
        if previous_fire_time is not None:
            floor = max(floor, previous_fire_time.astimezone(UTC) + timedelta(seconds=1))
        wall = self.to_wall(floor) - timedelta(hours=3)  # a slot in a gap or repeat may map later
        for _ in range(10_000):
            candidate = self._wall.get_next_fire_time(None, wall)
            if candidate is None:
                return None
            instant = self.from_wall(candidate)
            if instant >= floor:
                return instant
            wall = candidate + timedelta(minutes=1)
        return None

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
        return instant.astimezone(self.zone).replace(tzinfo=UTC, fold=0)

    def from_wall(self, wall: datetime) -> datetime:
        """Wall-clock time -> instant: first occurrence when repeated, pushed past a gap."""
        return wall.replace(tzinfo=self.zone, fold=0).astimezone(UTC)

    def slot(self, fire_time: datetime) -> str:
        """The wall-clock slot a fire time belongs to: one run per slot, ever."""
        return f"{fire_time.astimezone(self.zone):%Y-%m-%d %H:%M} {self.zone.key}"

    def __str__(self) -> str:
        return f"cron[{self.expr}] in {self.zone.key}"


def parse_cron(expr: str, timezone: str) -> LocalCronTrigger:
    fields = expr.split()
    if len(fields) != 5:
        raise ConfigError(
            f"DIGEST_SCHEDULE={expr!r}: a cron schedule has 5 fields "
            "(minute hour day month weekday), e.g. '0 7 * * 1-5'"
        )
    minute, hour, day, month, weekday = fields
    try:
        wall = CronTrigger(
            minute=minute, hour=hour, day=day, month=month,
            day_of_week=standard_weekdays(weekday), timezone=UTC,
        )
    except ValueError as err:
        raise ConfigError(f"DIGEST_SCHEDULE={expr!r}: {err}") from err
    return LocalCronTrigger(expr, wall, ZoneInfo(timezone))


def standard_weekdays(field: str) -> str:
    """A crontab weekday field -> APScheduler day names (``1-5`` -> ``mon,...,fri``)."""
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()
    for part in field.split(","):
        days |= _expand(part.strip().lower())
    return ",".join(DAY_NAMES[d] for d in sorted(days))


def _expand(part: str) -> set[int]:
    body, _, step_text = part.partition("/")
    step = int(step_text) if step_text else 1
    if step < 1:
        raise ValueError(f"bad step in weekday field {part!r}")
    if body == "*":
        first, last = 0, 6
    elif "-" in body:
        start, end = body.split("-", 1)
        first, last = _day(start), _day(end)
        if last == 0 and first > 0:
            last = 7  # "5-0" style Sunday at the end; 7 is Sunday too
    else:
        first = last = _day(body)
    if first > last:
        raise ValueError(f"weekday range {part!r} runs backwards")
    return {d % 7 for d in range(first, last + 1, step)}


def _day(token: str) -> int:
    if token[:3] in DAY_NAMES:
        return DAY_NAMES.index(token[:3])
    try:
        number = int(token)
    except ValueError:
        raise ValueError(f"unknown weekday {token!r} (use 0-7 or sun-sat)") from None
    if not 0 <= number <= 7:
        raise ValueError(f"weekday {number} out of range 0-7 (0 and 7 are Sunday)")
    return number
