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

from celery import current_app, signals
from zope.interface import implementedBy

from .application import PyramidCelery
from .events import (
    BeforeTaskRun,
    CeleryWorkerProcessInit,
    CeleryWorkerReady,
    CeleryWorkerShutdown,
    TaskFailed,
    TaskRetried,
    TaskSucceeded,
)

__all__ = ["connect_worker_signals", "notifies_task_runs"]

#: Attribute of Celery's task context holding the Pyramid request while
#: a failure or retry is reported.
PYRAMID_REQUEST = "pyramid_request"


def connect_worker_signals() -> None:
    """Connect our receivers once per process, however often included."""
    for signal, receiver in (
        (signals.worker_process_init, _on_worker_process_init),
        (signals.worker_ready, _on_worker_ready),
        (signals.worker_shutdown, _on_worker_shutdown),
        (signals.task_failure, _on_task_failure),
        (signals.task_retry, _on_task_retry),
    ):
        signal.connect(
            receiver, weak=False, dispatch_uid=f"pyramid_tasks.{signal.name}"
        )


def notifies_task_runs(app: PyramidCelery) -> bool:
    """Whether any subscriber listens to the task-run events of ``app``.

    Looking subscribers up costs more than a task should pay, so the
    answer is cached on the app until the registry's adapters change.
    """
    registry = app.registry
    if not registry.has_listeners:
        return False
    adapters = registry.adapters
    cached = app.__dict__.get("_run_listeners")
    if cached is not None and cached[0] == adapters._generation:
        return cached[1]
    found = any(
        adapters.subscriptions((implementedBy(event),), None)
        for event in (BeforeTaskRun, TaskSucceeded)
    )
    app._run_listeners = (adapters._generation, found)
    return found


def _on_worker_process_init(**kwargs) -> None:
    # The signal names no app; the worker made its app the current one.
    app = current_app._get_current_object()
    if isinstance(app, PyramidCelery):
        app.registry.notify(CeleryWorkerProcessInit(app.registry))


def _on_worker_ready(sender=None, **kwargs) -> None:
    app = getattr(sender, "app", None)
    if isinstance(app, PyramidCelery):
        app.registry.notify(CeleryWorkerReady(app.registry, sender))


def _on_worker_shutdown(sender=None, **kwargs) -> None:
    app = getattr(sender, "app", None)
    if isinstance(app, PyramidCelery):
        app.registry.notify(CeleryWorkerShutdown(app.registry))


def _on_task_failure(sender=None, exception=None, **kwargs) -> None:
    registry = _registry_of(sender)
    if registry is not None:
        request = getattr(sender.request, PYRAMID_REQUEST, None)
        registry.notify(TaskFailed(request, sender, exception))


def _on_task_retry(sender=None, reason=None, **kwargs) -> None:
    registry = _registry_of(sender)
    if registry is not None:
        request = getattr(sender.request, PYRAMID_REQUEST, None)
        exception = getattr(reason, "exc", None)
        registry.notify(TaskRetried(request, sender, exception, reason))


def _registry_of(task):
    from .tasks import PyramidTask

    if isinstance(task, PyramidTask) and task._app.registry.has_listeners:
        return task._app.registry
    return None
