"""What ``ptasks`` prints: the tasks, the schedules, the Celery settings.

Each report is read from Pyramid's introspector and the Celery app, and
returned as lines of text.
"""

from __future__ import annotations

import json
from typing import Any

from ..redact import mask_setting
from .describe import describe_schedule, next_runs

__all__ = ["config_report", "schedule_report", "task_table"]


def task_table(registry: Any, app: Any) -> list[str]:
    """One row per registered task: name, function, queue, options,
    derivers and the periodic entries that run it."""
    introspector = registry.introspector
    used_by: dict[str, list[str]] = {}
    for item in introspector.get_category("periodic tasks", ()):
        intr = item["introspectable"]
        used_by.setdefault(intr.get("task_name"), []).append(intr.title)
    rows = []
    for item in introspector.get_category("tasks", ()):
        intr = item["introspectable"]
        task = intr.get("task")
        options = dict(intr["options"])
        options.pop("queue", None)
        if intr["base"].__name__ != "PyramidTask":
            options["base"] = intr["base"]
        rows.append(
            (
                intr["name"],
                callable_name(intr["func"]),
                _queue_of(app, task) if task is not None else "-",
                format_options(options) or "-",
                ", ".join(getattr(task, "derivers", ())) or "-",
                ", ".join(sorted(used_by.get(intr["name"], ()))) or "-",
            )
        )
    if not rows:
        return ["No tasks are registered."]
    header = ("Name", "Function", "Queue", "Options", "Derivers", "Schedules")
    return _table(header, sorted(rows))


def schedule_report(registry: Any, app: Any, count: int) -> list[str]:
    """Each periodic task with its schedule in words and next runs."""
    items = registry.introspector.get_category("periodic tasks", ())
    if not items:
        return ["No periodic tasks are registered."]
    zone = str(app.timezone)
    if not app.conf.timezone:
        zone += " (celery.timezone is not set)"
    lines: list[str] = []
    for item in sorted(items, key=lambda item: item["introspectable"].title):
        intr = item["introspectable"]
        if lines:
            lines.append("")
        call = json_dumps(list(intr["args"]))
        if intr["kwargs"]:
            call += f" {json_dumps(intr['kwargs'])}"
        lines += [
            intr["name"],
            f"  task:      {intr.get('task_name') or '-'}",
            f"  schedule:  {describe_schedule(intr['schedule'])}",
            f"  timezone:  {zone}",
            f"  arguments: {call}",
        ]
        if intr["options"]:
            lines.append(f"  options:   {format_options(intr['options'])}")
        label = "  next runs:"
        for run in next_runs(intr["schedule"], app, count) or ["-"]:
            lines.append(f"{label} {run}")
            label = " " * len(label)
    return lines


def config_report(app: Any) -> list[str]:
    """The Celery settings that differ from Celery's defaults, masked."""
    lines = ["# Celery settings that differ from Celery's defaults"]
    keys = set(app.conf.changes) - {"deprecated_settings"}
    if app.conf.beat_schedule:
        # Periodic tasks fill the default dict in place.
        keys.add("beat_schedule")
    for key in sorted(keys):
        value = app.conf[key]
        if key == "beat_schedule":
            count = f"{len(value)} entr{'y' if len(value) == 1 else 'ies'}"
            shown = f"<{count}, see ptasks --schedule>"
        else:
            masked = mask_setting(key, value)
            shown = masked if isinstance(masked, str) else json_dumps(masked)
        lines.append(f"{key} = {shown}")
    return lines


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[str]:
    widths = [
        max(len(str(row[i])) for row in [header, *rows])
        for i in range(len(header))
    ]

    def line(cells: Any) -> str:
        return "  ".join(
            str(cell).ljust(width)
            for cell, width in zip(cells, widths, strict=True)
        ).rstrip()

    return [
        line(header),
        line("-" * width for width in widths),
        *(line(row) for row in rows),
    ]


def json_dumps(value: Any) -> str:
    """JSON for humans: non-ASCII kept, odd objects by ``repr``."""
    return json.dumps(value, default=repr, ensure_ascii=False)


def callable_name(func: Any) -> str:
    """``module:qualname`` of a task function."""
    module = getattr(func, "__module__", None)
    name = getattr(func, "__qualname__", None) or repr(func)
    return f"{module}:{name}" if module else name


def _queue_of(app: Any, task: Any) -> str:
    queue = getattr(task, "queue", None)
    options = {"queue": queue} if queue else {}
    queue = app.amqp.router.route(options, task.name)["queue"]
    return getattr(queue, "name", None) or str(queue)


def format_options(options: dict[str, Any]) -> str:
    """``key=value, ...`` with callables and types by name."""
    return ", ".join(
        f"{key}={_format_value(value)}"
        for key, value in sorted(options.items())
    )


def _format_value(value: Any) -> str:
    if isinstance(value, type) or callable(value):
        return getattr(value, "__qualname__", None) or repr(value)
    if isinstance(value, tuple | list):
        return f"({', '.join(_format_value(v) for v in value)})"
    if isinstance(value, str):
        return value
    return json_dumps(value)
