"""Task outcome counters and run times, an optional lifecycle subscriber.

Enable with ``config.include("pyramid_tasks.metrics")``.

A small subscriber to the task lifecycle events. Every process counts
the outcomes (``succeeded``, ``failed``, ``retried``) and run times of
the tasks it ran; read them with :func:`get_task_metrics`, e.g. from a
periodic task that reports them, or a status view::

    metrics = get_task_metrics(request.registry)
    metrics.snapshot()
    # {"myapp.send_email": {"succeeded": 3, "failed": 0, "retried": 1,
    #                       "runs": 4, "seconds": 0.12, "max_seconds": 0.05}}
"""

from __future__ import annotations

from collections.abc import Callable
import threading
import time
from typing import Any

from .events import (
    BeforeTaskRun,
    TaskFailed,
    TaskRetried,
    TaskRunEvent,
    TaskSucceeded,
)
from .interfaces import ITaskMetrics

__all__ = ["TaskMetrics", "get_task_metrics", "includeme"]

#: Environ key of the task request holding its start time.
START_KEY = "pyramid_tasks.metrics.start"

OUTCOMES = ("succeeded", "failed", "retried")


class TaskMetrics:
    """Outcome counters and run times per task name, thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tasks: dict[str, dict[str, Any]] = {}

    def record(self, name: str, outcome: str, seconds: float | None) -> None:
        """Count one ``outcome`` of task ``name`` that ran ``seconds``."""
        with self._lock:
            entry = self._tasks.get(name)
            if entry is None:
                entry = self._tasks[name] = dict.fromkeys(OUTCOMES, 0)
                entry.update(runs=0, seconds=0.0, max_seconds=0.0)
            entry[outcome] += 1
            if seconds is not None:
                entry["runs"] += 1
                entry["seconds"] += seconds
                entry["max_seconds"] = max(entry["max_seconds"], seconds)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """A copy of every counter, by task name."""
        with self._lock:
            return {name: dict(entry) for name, entry in self._tasks.items()}

    def recorder(self, outcome: str) -> Callable[[TaskRunEvent], None]:
        """A subscriber counting ``outcome`` for the events it gets."""

        def record(event: TaskRunEvent) -> None:
            self.record(event.task_name, outcome, _elapsed(event.request))

        return record


def get_task_metrics(registry: Any) -> TaskMetrics:
    """The metrics of the application (``pyramid_tasks.metrics`` included)."""
    return registry.getUtility(ITaskMetrics)  # type: ignore[no-any-return]


def _started(event: BeforeTaskRun) -> None:
    event.request.environ[START_KEY] = time.perf_counter()


def _elapsed(request: Any) -> float | None:
    start = None if request is None else request.environ.get(START_KEY)
    return None if start is None else time.perf_counter() - start


def includeme(config: Any) -> None:
    """Count task outcomes and run times in :func:`get_task_metrics`."""
    metrics = TaskMetrics()

    def register() -> None:
        config.registry.registerUtility(metrics, ITaskMetrics)

    config.action(ITaskMetrics, register)
    config.add_subscriber(_started, BeforeTaskRun)
    config.add_subscriber(metrics.recorder("succeeded"), TaskSucceeded)
    config.add_subscriber(metrics.recorder("failed"), TaskFailed)
    config.add_subscriber(metrics.recorder("retried"), TaskRetried)
