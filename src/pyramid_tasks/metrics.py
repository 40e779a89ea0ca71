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

import threading
import time
from typing import Any

from .events import BeforeTaskRun, TaskFailed, TaskRetried, TaskSucceeded

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


def get_task_metrics(registry) -> TaskMetrics:
    """The metrics of the application (``pyramid_tasks.metrics`` included)."""
    return registry.task_metrics


def _started(event: BeforeTaskRun) -> None:
    event.request.environ[START_KEY] = time.perf_counter()


def _elapsed(request) -> float | None:
    start = None if request is None else request.environ.get(START_KEY)
    return None if start is None else time.perf_counter() - start


def _make_recorder(outcome: str):
    def recorder(event) -> None:
        # Only the registry that included this module calls it.
        metrics = event.task._app.registry.task_metrics
        metrics.record(event.task_name, outcome, _elapsed(event.request))

    return recorder


def includeme(config) -> None:
    """Count task outcomes and run times in :func:`get_task_metrics`."""

    def register() -> None:
        config.registry.task_metrics = TaskMetrics()

    config.action(("pyramid_tasks", "metrics"), register)
    config.add_subscriber(_started, BeforeTaskRun)
    config.add_subscriber(_make_recorder("succeeded"), TaskSucceeded)
    config.add_subscriber(_make_recorder("failed"), TaskFailed)
    config.add_subscriber(_make_recorder("retried"), TaskRetried)
