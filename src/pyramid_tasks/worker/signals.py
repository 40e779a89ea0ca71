"""Worker-side hooks: Celery signals turned into Pyramid events.

The receivers are connected once per process (``dispatch_uid``) and
dispatch to the registry of the app that sent the signal. Per-task events
that fire on success (:class:`~pyramid_tasks.events.BeforeTaskRun`,
:class:`~pyramid_tasks.events.TaskSucceeded`) are sent by
:meth:`PyramidTask.run <pyramid_tasks.PyramidTask.run>` only when the
registry has a subscriber for them; failures and retries come from
Celery's ``task_failure``/``task_retry`` signals, which cost nothing on
the success path.
"""

from __future__ import annotations

from typing import Any

from celery import current_app, signals

from ..application import PyramidCelery
from ..context.logfilter import install_log_filter
from ..events import (
    CeleryWorkerProcessInit,
    CeleryWorkerReady,
    CeleryWorkerShutdown,
    TaskFailed,
    TaskRetried,
)
from .task import PYRAMID_REQUEST, PyramidTask

__all__ = ["connect_worker_signals"]


def connect_worker_signals() -> None:
    """Connect our receivers once per process, however often included."""
    for signal, receiver in (
        (signals.worker_process_init, _on_worker_process_init),
        (signals.worker_ready, _on_worker_ready),
        (signals.worker_shutdown, _on_worker_shutdown),
        (signals.task_failure, _on_task_failure),
        (signals.task_retry, _on_task_retry),
        (signals.celeryd_after_setup, _on_worker_setup),
    ):
        signal.connect(
            receiver, weak=False, dispatch_uid=f"pyramid_tasks.{signal.name}"
        )


def _on_worker_process_init(**kwargs: Any) -> None:
    # The signal names no app; the worker made its app the current one.
    app = current_app._get_current_object()
    if isinstance(app, PyramidCelery):
        app.registry.notify(CeleryWorkerProcessInit(app.registry))


def _on_worker_ready(sender: Any = None, **kwargs: Any) -> None:
    app = getattr(sender, "app", None)
    if isinstance(app, PyramidCelery):
        app.registry.notify(CeleryWorkerReady(app.registry, sender))


def _on_worker_shutdown(sender: Any = None, **kwargs: Any) -> None:
    app = getattr(sender, "app", None)
    if isinstance(app, PyramidCelery):
        app.registry.notify(CeleryWorkerShutdown(app.registry))


def _on_worker_setup(**kwargs: Any) -> None:
    # Logging is set up now: the handlers get the task context filter.
    install_log_filter()


def _on_task_failure(
    sender: Any = None, exception: Any = None, **kwargs: Any
) -> None:
    registry = _registry_of(sender)
    if registry is not None:
        request = getattr(sender.request, PYRAMID_REQUEST, None)
        registry.notify(TaskFailed(request, sender, exception))


def _on_task_retry(
    sender: Any = None, reason: Any = None, **kwargs: Any
) -> None:
    registry = _registry_of(sender)
    if registry is not None:
        request = getattr(sender.request, PYRAMID_REQUEST, None)
        exception = getattr(reason, "exc", None)
        registry.notify(TaskRetried(request, sender, exception, reason))


def _registry_of(task: Any) -> Any:
    if isinstance(task, PyramidTask) and task._app.registry.has_listeners:
        return task._app.registry
    return None
