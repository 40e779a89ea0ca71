"""Progress from a running task: ``request.report_progress``.

A task reports how far it got; the value is stored as Celery's
``PROGRESS`` state, with the meta ``{"done", "total", "message"}``, where
``AsyncResult.state``/``.info``, Flower and the status view of
:mod:`pyramid_tasks.status` read it::

    def import_rows(request, upload_id):
        rows = load(request, upload_id)
        for done, row in enumerate(rows, 1):
            store(request, row)
            request.report_progress(done, len(rows), f"row {done}")

Calling it in a tight loop is cheap: one run writes to the result backend
at most once per ``pyramid_tasks.progress.interval`` seconds (0.5 by
default; ``0`` writes every value). A value held back by that limit is
written by the next report made after the interval, and the last one is
always written before the task returns, so Celery's final state comes
after it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ..exceptions import NotInTaskError
from ..redact import redact_urls

__all__ = ["PROGRESS", "ProgressReporter", "report_progress"]

log = logging.getLogger(__name__)

#: The Celery state a task in progress is stored with.
PROGRESS = "PROGRESS"
#: Environ key of the task request holding its reporter.
REPORTER_KEY = "pyramid_tasks.progress"


class ProgressReporter:
    """Writes the progress of one task run, at most once per interval.

    :param task: the running Celery task; its ``update_state`` writes.
    :param interval: the least number of seconds between two writes.
    """

    __slots__ = ("task", "interval", "_last_write", "_pending", "_warned")

    def __init__(self, task: Any, interval: float) -> None:
        self.task = task
        self.interval = interval
        self._last_write: float | None = None
        self._pending: tuple[Any, Any, Any] | None = None
        self._warned = False

    def report(self, done: Any, total: Any, message: Any) -> None:
        """Write this value now, or keep it if the last write is recent."""
        now = time.monotonic()
        last = self._last_write
        if last is not None and now - last < self.interval:
            self._pending = (done, total, message)
            return
        self._pending = None
        self._last_write = now
        self._write(done, total, message)

    def flush(self, request: Any = None) -> None:
        """Write the value held back by the interval, if any.

        The task request's finished callback: it runs before the task
        returns to Celery, so the final state is stored after it.
        """
        pending = self._pending
        if pending is not None:
            self._pending = None
            self._write(*pending)

    def _write(self, done: Any, total: Any, message: Any) -> None:
        meta = {"done": done, "total": total, "message": message}
        try:
            self.task.update_state(state=PROGRESS, meta=meta)
        except Exception as exc:
            # Progress is a courtesy to whoever watches: a result backend
            # that fails now must not fail the task's real work.
            if not self._warned:
                self._warned = True
                log.warning(
                    "Task %s[%s] could not store its progress: %s",
                    self.task.name,
                    self.task.request.id,
                    redact_urls(exc),
                )


class _NoProgress:
    """The reporter of a run whose state is never stored."""

    def report(self, done: Any, total: Any, message: Any) -> None:
        pass


def report_progress(
    request: Any,
    done: float,
    total: float | None = None,
    message: str | None = None,
) -> None:
    """Store how far the running task got, as Celery's ``PROGRESS`` state.

    The meta is ``{"done": done, "total": total, "message": message}``:
    JSON values, typically a count of steps done out of ``total`` (or
    ``None`` when the total is not known) and a short text for people.

    Writes are limited to one per ``pyramid_tasks.progress.interval``
    seconds per run; the last value is always written before the task
    returns. A task whose results are ignored (``ignore_result``) stores
    no state at all, so it stores no progress either: the backend would
    keep the last ``PROGRESS`` forever, with no final state after it.
    Nor does a task function called directly, which has no task id.

    :raises pyramid_tasks.exceptions.NotInTaskError: the request runs no
        task (a view's request).

    .. versionadded:: 1.0
    """
    reporter = request.environ.get(REPORTER_KEY)
    if reporter is None:
        reporter = request.environ[REPORTER_KEY] = _reporter_for(request)
    reporter.report(done, total, message)


def _reporter_for(request: Any) -> Any:
    task = getattr(request, "current_task", None)
    if task is None:
        raise NotInTaskError(
            "request.report_progress() reports the progress of a task: call "
            "it on the request a task receives, not on a view's request"
        )
    if _ignores_result(task) or task.request.id is None:
        return _NoProgress()
    reporter = ProgressReporter(task, task._app.progress_interval)
    request.add_finished_callback(reporter.flush)
    return reporter


def _ignores_result(task: Any) -> bool:
    """Whether this run's state is never stored: the message's own
    ``ignore_result``, else the task's (as Celery's tracer decides)."""
    explicit = vars(task.request).get("ignore_result")
    return bool(task.ignore_result if explicit is None else explicit)
