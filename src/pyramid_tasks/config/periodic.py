"""Periodic tasks, run by ``celery beat``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
import math
from typing import Any

from celery.schedules import BaseSchedule
from pyramid.exceptions import ConfigurationError

from ..application import get_celery_app
from ..exceptions import TaskOptionsError, UnknownTaskError
from ..web.checks import check_options

__all__ = ["add_periodic_task"]


def add_periodic_task(
    config: Any,
    schedule: float | timedelta | BaseSchedule,
    func_or_name: Callable[..., Any] | str,
    args: tuple[Any, ...] | list[Any] = (),
    kwargs: dict[str, Any] | None = None,
    name: str | None = None,
    **options: Any,
) -> None:
    """Run a registered task on a schedule (seconds, ``timedelta``,
    ``crontab`` or ``solar``), like ``Celery.add_periodic_task``::

        config.add_periodic_task(crontab(hour=7, minute=30), send_digest)

    ``options`` are ``apply_async`` options. ``name`` defaults to the
    task name followed by the arguments and the schedule.
    """
    _check_schedule(name or func_or_name, schedule)
    args = tuple(args)
    kwargs = dict(kwargs or {})
    if name is None:
        name = _default_name(func_or_name, args, kwargs, schedule)

    intr = config.introspectable("periodic tasks", name, name, "periodic task")
    intr.update(
        name=name, schedule=schedule, args=args, kwargs=kwargs, options=options
    )

    def register() -> None:
        app = get_celery_app(config.registry)
        try:
            task = app.lookup_task(func_or_name)
            # Beat applies them on every run, far from this file.
            check_options(task, options)
        except (UnknownTaskError, TaskOptionsError) as exc:
            raise ConfigurationError(
                f"Periodic task {name!r}: {exc}"
            ) from None
        intr["task_name"] = task.name
        app.conf.beat_schedule[name] = {
            "task": task.name,
            "schedule": schedule,
            "args": args,
            "kwargs": kwargs,
            "options": options,
        }

    if isinstance(func_or_name, str):
        intr.relate("tasks", func_or_name)
    # Runs after the default phase, when every task has been registered.
    config.action(
        ("periodic task", name), register, order=1, introspectables=(intr,)
    )


def _check_schedule(label: object, schedule: Any) -> None:
    if not isinstance(schedule, int | float | timedelta | BaseSchedule):
        raise ConfigurationError(
            f"Periodic task {label!r}: schedule {schedule!r} is not "
            "seconds, a timedelta, a crontab or a solar schedule"
        )
    if isinstance(schedule, bool) or (
        isinstance(schedule, int | float) and not 0 < schedule < math.inf
    ):
        raise ConfigurationError(
            f"Periodic task {label!r}: schedule {schedule!r} must be a "
            "positive number of seconds"
        )


def _default_name(
    func_or_name: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    schedule: Any,
) -> str:
    """The task, the arguments and the schedule: ``add(1, y=2) 30``."""
    task = (
        func_or_name
        if isinstance(func_or_name, str)
        else getattr(func_or_name, "__qualname__", repr(func_or_name))
    )
    parts = [repr(a) for a in args]
    parts += [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"{task}({', '.join(parts)}) {schedule}"
