"""Standard 5-field cron expressions, translated for APScheduler 3.x.

In a crontab ``1-5`` is Monday to Friday and ``0``/``7`` are Sunday; APScheduler's
``CronTrigger.from_crontab`` numbers weekdays from Monday = 0, so ``1-5`` would fire
Tuesday to Saturday. We expand the weekday field ourselves and hand APScheduler
weekday *names*, which it cannot misread.
"""

from __future__ import annotations

from apscheduler.triggers.cron import CronTrigger

from .errors import ConfigError

DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def parse_cron(expr: str, timezone: str) -> CronTrigger:
    fields = expr.split()
    if len(fields) != 5:
        raise ConfigError(
            f"DIGEST_SCHEDULE={expr!r}: a cron schedule has 5 fields "
            "(minute hour day month weekday), e.g. '0 7 * * 1-5'"
        )
    minute, hour, day, month, weekday = fields
    try:
        return CronTrigger(
            minute=minute, hour=hour, day=day, month=month,
            day_of_week=standard_weekdays(weekday), timezone=timezone,
        )
    except ValueError as err:
        raise ConfigError(f"DIGEST_SCHEDULE={expr!r}: {err}") from err


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
