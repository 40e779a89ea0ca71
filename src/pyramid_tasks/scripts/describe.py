"""Periodic task schedules in words, and their next run times."""

from __future__ import annotations

import calendar
import copy
from datetime import datetime, timedelta
import re
from typing import Any

from celery.schedules import crontab, maybe_schedule
from celery.schedules import schedule as interval

__all__ = ["describe_schedule", "next_runs"]

_NUMBERS = re.compile(r"^\d+(,\d+)*$")


def describe_schedule(schedule: Any) -> str:
    """Describe a periodic task schedule in words.

    ``crontab(minute=30, hour=7, day_of_week="1-5")`` gives
    ``at 07:30 on Monday to Friday (cron 30 7 * * 1-5)``.
    """
    if isinstance(schedule, int | float):
        return _every(timedelta(seconds=schedule))
    if isinstance(schedule, timedelta):
        return _every(schedule)
    if isinstance(schedule, crontab):
        return _describe_crontab(schedule)
    if isinstance(schedule, interval):
        return _every(schedule.run_every)
    event = getattr(schedule, "event", None)
    if event is not None:
        where = f"latitude {schedule.lat}, longitude {schedule.lon}"
        return f"at {event.replace('_', ' ')} ({where})"
    return repr(schedule)


def _every(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"every {unit}" if count == 1 else f"every {count} {unit}s"
    if seconds == 1:
        return "every second"
    return f"every {seconds:g} seconds"


def _describe_crontab(cron: crontab) -> str:
    minute = str(cron._orig_minute)
    hour = str(cron._orig_hour)
    dom = str(cron._orig_day_of_month)
    month = str(cron._orig_month_of_year)
    dow = str(cron._orig_day_of_week)
    phrase = _time_phrase(minute, hour)
    if dow != "*":
        phrase += f" on {_names(dow, _day_name)}"
    if dom != "*":
        phrase += f" on day {dom} of the month"
    if month != "*":
        phrase += f" in {_names(month, _month_name)}"
    return f"{phrase} (cron {minute} {hour} {dom} {month} {dow})"


def _time_phrase(minute: str, hour: str) -> str:
    if _NUMBERS.match(minute) and _NUMBERS.match(hour):
        times = [
            f"{int(h):02d}:{int(m):02d}"
            for h in hour.split(",")
            for m in minute.split(",")
        ]
        return f"at {', '.join(times)}"
    if minute == "*" and hour == "*":
        return "every minute"
    if minute.startswith("*/") and hour == "*":
        return f"every {minute[2:]} minutes"
    if _NUMBERS.match(minute) and hour == "*":
        return f"every hour at minute {minute}"
    if _NUMBERS.match(minute) and hour.startswith("*/"):
        return f"every {hour[2:]} hours at minute {minute}"
    return f"at minute {minute} of hour {hour}"


def _day_name(number: int) -> str | None:
    # Cron counts from Sunday (0, and 7 too); calendar from Monday.
    return calendar.day_name[(number - 1) % 7] if 0 <= number <= 7 else None


def _month_name(number: int) -> str | None:
    return calendar.month_name[number] if 1 <= number <= 12 else None


def _names(spec: str, name_of: Any) -> str:
    """Name the numbers of a cron field: ``1-5`` gives Monday to Friday."""

    def name(token: str) -> str:
        named = name_of(int(token)) if token.isdigit() else None
        return named or token

    parts = []
    for item in spec.split(","):
        low, dash, high = item.partition("-")
        parts.append(f"{name(low)} to {name(high)}" if dash else name(item))
    return ", ".join(parts)


def next_runs(schedule: Any, app: Any, count: int) -> list[str]:
    """The next ``count`` run times of a schedule, from now, in the app's
    timezone."""
    if not isinstance(schedule, int | float | timedelta):
        # A copy, bound to ``app`` for its clock and timezone.
        schedule = copy.copy(schedule)
    schedule = maybe_schedule(schedule, app=app)
    runs: list[datetime] = []
    last = app.now()
    try:
        for _ in range(count):
            if isinstance(schedule, crontab):
                start, delta, _now = schedule.remaining_delta(last)
                upcoming = start + delta
            else:
                upcoming = schedule.now() + schedule.remaining_estimate(last)
            runs.append(upcoming)
            last = upcoming
    except Exception as exc:  # noqa: BLE001 - a custom schedule class
        return [f"unknown ({type(exc).__name__}: {exc})"]
    zone = app.timezone
    return [
        run.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z") for run in runs
    ]
