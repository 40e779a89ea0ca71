"""Periodic tasks declared in the ini file, without Python ``eval``.

Each entry is a group of settings sharing one name::

    pyramid_tasks.schedule.cleanup.task = myapp.tasks.cleanup
    pyramid_tasks.schedule.cleanup.every = 10m
    pyramid_tasks.schedule.digest.task = send_digest
    pyramid_tasks.schedule.digest.crontab = 30 7 * * mon-fri
    pyramid_tasks.schedule.digest.kwargs = {"kind": "daily"}
    pyramid_tasks.schedule.lights.task = lights_on
    pyramid_tasks.schedule.lights.solar = sunset 52.37 4.89

Every entry becomes a ``config.add_periodic_task(..., name=entry)`` call,
so an entry and a periodic task of the same name made in code conflict.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
import difflib
import json
import re
from typing import Any
import warnings

from celery.exceptions import ImproperlyConfigured
from celery.schedules import crontab, solar
from pyramid.exceptions import ConfigurationError

from ..application import get_celery_app
from ..exceptions import ScheduleTimezoneWarning
from .settings import coerce_setting

__all__ = [
    "SCHEDULE_PREFIX",
    "ScheduleEntry",
    "ScheduleTimezoneWarning",
    "configure_ini_schedules",
    "parse_schedule_settings",
]

#: Prefix of the settings that declare periodic tasks.
SCHEDULE_PREFIX = "pyramid_tasks.schedule."

_SCHEDULE_FIELDS = ("every", "crontab", "solar")
_FIELDS = ("task", *_SCHEDULE_FIELDS, "args", "kwargs", "options", "enabled")

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_EVERY = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)\s*([smhd]?)$")

#: Crontab shorthands, as understood by cron itself.
_CRON_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


@dataclass(slots=True)
class ScheduleEntry:
    """One periodic task read from the settings.

    :ivar name: the entry name, also the name of the periodic task.
    :ivar task: the name of a registered task.
    :ivar schedule: a ``timedelta``, ``crontab`` or ``solar`` schedule.
    :ivar args: positional arguments of every run.
    :ivar kwargs: keyword arguments of every run.
    :ivar options: ``apply_async`` options of every run.
    :ivar enabled: whether the entry is registered at all.
    :ivar source: the settings text, for error and conflict reports.
    """

    name: str
    task: str
    schedule: timedelta | crontab | solar
    args: list[Any]
    kwargs: dict[str, Any]
    options: dict[str, Any]
    enabled: bool
    source: str = ""


def parse_schedule_settings(
    settings: Mapping[str, Any],
) -> list[ScheduleEntry]:
    """Read every ``pyramid_tasks.schedule.<entry>.<field>`` setting.

    Fields are ``task`` (required), exactly one of ``every`` (seconds, or
    a number with an ``s``/``m``/``h``/``d`` unit), ``crontab`` (five cron
    fields or an alias such as ``@daily``) and ``solar`` (event, latitude,
    longitude), and optionally ``args`` (a JSON list), ``kwargs`` and
    ``options`` (JSON objects) and ``enabled`` (a boolean).

    :raises pyramid.exceptions.ConfigurationError: a malformed entry; the
        message names it.
    """
    fields: dict[str, dict[str, str]] = {}
    for key in sorted(settings):
        if not key.startswith(SCHEDULE_PREFIX):
            continue
        entry, _, field = key[len(SCHEDULE_PREFIX) :].rpartition(".")
        if not entry or not field:
            raise ConfigurationError(
                f"Setting {key!r}: expected {SCHEDULE_PREFIX}<entry>.<field>"
            )
        if field not in _FIELDS:
            close = difflib.get_close_matches(field, _FIELDS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigurationError(
                f"Schedule entry {entry!r}: unknown field {field!r} "
                f"(known: {', '.join(_FIELDS)}){hint}"
            )
        value = settings[key]
        fields.setdefault(entry, {})[field] = (
            value.strip() if isinstance(value, str) else value
        )
    return [_parse_entry(name, values) for name, values in fields.items()]


def _parse_entry(name: str, values: dict[str, Any]) -> ScheduleEntry:
    def fail(message: str) -> ConfigurationError:
        return ConfigurationError(f"Schedule entry {name!r}: {message}")

    task = values.get("task")
    if not task:
        raise fail(f"no task: set {SCHEDULE_PREFIX}{name}.task")
    given = [field for field in _SCHEDULE_FIELDS if field in values]
    if len(given) != 1:
        raise fail(
            "set exactly one of every, crontab or solar"
            + (f" (got {', '.join(given)})" if given else "")
        )
    kind = given[0]
    text = values[kind]
    try:
        schedule = _PARSERS[kind](str(text))
    except (ValueError, OverflowError, ImproperlyConfigured) as exc:
        raise fail(f"{kind} = {text!r} is not valid: {exc}") from None
    args = _json(values, "args", list, "a JSON list", fail)
    kwargs = _json(values, "kwargs", dict, "a JSON object", fail)
    options = _json(values, "options", dict, "a JSON object", fail)
    enabled = coerce_setting(
        values.get("enabled", True),
        bool,
        f"Schedule entry {name!r}: enabled",
    )
    entry = ScheduleEntry(name, task, schedule, args, kwargs, options, enabled)
    entry.source = "\n".join(
        f"{SCHEDULE_PREFIX}{name}.{field} = {values[field]}"
        for field in _FIELDS
        if field in values
    )
    return entry


def _json(
    values: Mapping[str, Any],
    field: str,
    kind: type,
    label: str,
    fail: Callable[[str], Exception],
) -> Any:
    text = values.get(field)
    if text is None or text == "":
        return kind()
    try:
        value = json.loads(text) if isinstance(text, str) else text
    except ValueError as exc:
        raise fail(f"{field} = {text!r} is not valid JSON: {exc}") from None
    if not isinstance(value, kind):
        raise fail(f"{field} = {text!r} must be {label}")
    return value


def _parse_every(text: str) -> timedelta:
    match = _EVERY.match(text.strip().lower())
    if not match:
        raise ValueError(
            "expected seconds, or a number with a unit s, m, h or d "
            "(e.g. 30, 10m, 2h)"
        )
    seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if seconds <= 0:
        raise ValueError("the interval must be positive")
    return timedelta(seconds=seconds)


def _parse_crontab(text: str) -> crontab:
    text = _CRON_ALIASES.get(text.strip().lower(), text)
    parts = text.split()
    if len(parts) != 5:
        raise ValueError(
            "expected five fields: minute hour day-of-month month "
            "day-of-week (e.g. '0 */2 * * *'), or an alias such as @daily"
        )
    minute, hour, day_of_month, month_of_year, day_of_week = parts
    return crontab(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        day_of_week=day_of_week,
    )


def _parse_solar(text: str) -> solar:
    parts = text.split()
    if len(parts) != 3:
        raise ValueError(
            "expected an event, a latitude and a longitude "
            "(e.g. 'sunset 52.37 4.89')"
        )
    event, lat, lon = parts
    return solar(event, float(lat), float(lon))


_PARSERS = {
    "every": _parse_every,
    "crontab": _parse_crontab,
    "solar": _parse_solar,
}


def configure_ini_schedules(config: Any) -> None:
    """Register the action turning schedule settings into periodic tasks.

    The settings are read inside an action, so later ``add_settings``
    calls count. Each enabled entry is added with
    ``config.add_periodic_task(..., name=entry)``.
    """

    def register() -> None:
        entries = parse_schedule_settings(config.registry.settings or {})
        if not entries:
            return
        # Entries in the ini belong to the application, not to the
        # pyramid_tasks include: they conflict with a periodic task of the
        # same name made by the application and override an included one.
        root = config.with_package(config.root_package)
        root.includepath = ()
        timezone = get_celery_app(config.registry).conf.timezone
        for entry in entries:
            if not entry.enabled:
                continue
            if isinstance(entry.schedule, crontab) and not timezone:
                warnings.warn(
                    f"Schedule entry {entry.name!r} is a crontab but "
                    "celery.timezone is not set: its times are UTC. Set "
                    "celery.timezone (e.g. Europe/Amsterdam) for local "
                    "times.",
                    ScheduleTimezoneWarning,
                    stacklevel=2,
                )
            # ``_info`` makes conflict reports point at the ini entry
            # instead of this module.
            root.add_periodic_task(
                entry.schedule,
                entry.task,
                args=entry.args,
                kwargs=entry.kwargs,
                name=entry.name,
                _info=("ini settings", 0, entry.name, entry.source),
                **entry.options,
            )

    # Runs in the default phase, before periodic tasks (order 1) resolve
    # their task, so the actions it adds still run in this commit.
    config.action(None, register)
