"""The "Tasks" panel: what a request deferred, and what became of it.

Subscribers to the lifecycle events record each task a request defers
in its environ, where the panel (made by the toolbar for that request)
finds them. Delivery is read from the task's handle when the panel is
shown, so it is the final one: ``waiting``, ``sent``, ``dropped``,
``failed``, or what an outbox sets (``stored``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
import inspect
import time
from typing import Any

from pyramid_debugtoolbar.panels import DebugPanel

from ..events import BeforeDeferTask, DeferredTaskPublished, TaskDeferred
from ..redact import mask_argument, redact_urls, short_repr

__all__ = ["TaskRecord", "TasksPanel", "subscribe"]

#: Environ key of the records of a request the toolbar watches.
RECORDS_KEY = "pyramid_tasks.debugtoolbar.records"
#: Environ key of the time the defer in progress started.
START_KEY = "pyramid_tasks.debugtoolbar.start"


@dataclass
class TaskRecord:
    """One task deferred during the request.

    :ivar deferred: ``time.perf_counter()`` when ``defer_task`` started.
    :ivar published: the same when the task reached the broker, if it
        did (``None`` while waiting, or when dropped or failed).
    """

    event: TaskDeferred
    deferred: float
    published: float | None = None

    @property
    def delivery(self) -> str:
        return str(getattr(self.event.result, "delivery", "sent"))

    def row(self) -> dict[str, str]:
        """What the panel shows, masked and cut short."""
        event = self.event
        error = getattr(event.result, "publish_error", None)
        return {
            "name": event.task_name,
            "id": event.task_id,
            "arguments": describe_arguments(
                event.task, event.args, event.kwargs
            ),
            "options": short_repr(mask_argument("options", event.options)),
            "delivery": self.delivery,
            "after_commit": "yes" if event.after_commit else "no",
            "publish_time": self._publish_time(),
            "error": "" if error is None else redact_urls(error)[:200],
        }

    def _publish_time(self) -> str:
        if self.published is None or self.delivery != "sent":
            return "-"
        return f"{(self.published - self.deferred) * 1000:.1f} ms"


@dataclass
class _Records:
    tasks: list[TaskRecord] = field(default_factory=list)
    by_id: dict[str, TaskRecord] = field(default_factory=dict)


def describe_arguments(
    task: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> str:
    """``name=value, ...`` of a task's arguments, secrets masked.

    Arguments are named by the task function's signature when they fit
    it, so a positional password is masked too.
    """
    try:
        named = _named(task, args, kwargs)
    except (AttributeError, TypeError, ValueError):
        named = [("", arg) for arg in args] + list(kwargs.items())
    parts = []
    for name, value in named:
        shown = short_repr(mask_argument(name, value), 120)
        parts.append(f"{name}={shown}" if name else shown)
    return ", ".join(parts)


def _named(
    task: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> list[tuple[str, Any]]:
    """Each argument with the name of its parameter ("" for ``*args``)."""
    signature = inspect.signature(task.original_func)
    params = list(signature.parameters.values())[1:]
    bound = signature.replace(parameters=params).bind_partial(*args, **kwargs)
    named: list[tuple[str, Any]] = []
    for name, value in bound.arguments.items():
        kind = bound.signature.parameters[name].kind
        if kind is inspect.Parameter.VAR_POSITIONAL:
            named.extend(("", item) for item in value)
        elif kind is inspect.Parameter.VAR_KEYWORD:
            named.extend(value.items())
        else:
            named.append((name, value))
    return named


class TasksPanel(DebugPanel):
    """The tasks deferred during the request; their count is the
    subtitle."""

    name = "pyramid_tasks"
    title = nav_title = "Tasks"
    has_content = True
    template = "pyramid_tasks:debugtoolbar/tasks.dbtmako"

    def __init__(self, request: Any) -> None:
        self.records = request.environ[RECORDS_KEY] = _Records()

    @property
    def nav_subtitle(self) -> str:
        return str(len(self.records.tasks))

    def render_vars(self, request: Any) -> dict[str, Any]:
        return {"tasks": [record.row() for record in self.records.tasks]}


def _starting(event: BeforeDeferTask) -> None:
    environ = event.request.environ
    if RECORDS_KEY in environ:
        environ[START_KEY] = time.perf_counter()


def _deferred(event: TaskDeferred) -> None:
    environ = getattr(event.request, "environ", {})
    records = environ.get(RECORDS_KEY)
    if records is None:
        return
    now = time.perf_counter()
    # A workflow's tasks have no BeforeDeferTask: they start now.
    record = TaskRecord(event, environ.pop(START_KEY, now))
    if not event.after_commit:
        record.published = now
    records.tasks.append(record)
    records.by_id[event.task_id] = record


def _published(event: DeferredTaskPublished) -> None:
    environ = getattr(event.request, "environ", {})
    records = environ.get(RECORDS_KEY)
    record = None if records is None else records.by_id.get(event.task_id)
    if record is not None:
        record.published = time.perf_counter()


def subscribe(config: Any) -> None:
    """Record the tasks of the requests the toolbar watches."""
    config.add_subscriber(_starting, BeforeDeferTask)
    config.add_subscriber(_deferred, TaskDeferred)
    config.add_subscriber(_published, DeferredTaskPublished)
