"""Celery as a first-class part of a Pyramid application.

``config.include("pyramid_tasks")`` adds the directives ``register_task``,
``add_task_deriver``, ``add_periodic_task``, ``add_task_context`` and
``make_celery_app``, and
the request methods ``defer_task``, ``defer_task_with_options``,
``delay_task`` and ``get_task_result``.
"""

from .application import PyramidCelery, configure_celery_app, make_celery_app
from .context import add_task_context, configure_task_context
from .derivers import INGRESS, TASK, TaskDeriverInfo, add_task_deriver
from .events import (
    BeforeDeferTask,
    BeforeTaskRun,
    CeleryWorkerProcessInit,
    CeleryWorkerReady,
    CeleryWorkerShutdown,
    DeferredTaskDropped,
    DeferredTaskPublished,
    DeferredTaskPublishFailed,
    TaskDeferred,
    TaskFailed,
    TaskRetried,
    TaskRunEvent,
    TaskSucceeded,
)
from .exceptions import (
    DeferError,
    TaskArgumentsError,
    TaskOptionsError,
    TaskPublishError,
    TaskSerializationError,
    UnknownTaskError,
)
from .futures import TaskFuture, TaskGroupResult, map_task
from .periodic import add_periodic_task
from .request import defer_task, defer_task_with_options, get_task_result
from .result import TaskResult
from .schedules import configure_ini_schedules
from .tasks import PyramidTask, register_task, task
from .worker import connect_worker_signals

__all__ = [
    "BeforeDeferTask",
    "BeforeTaskRun",
    "CeleryWorkerProcessInit",
    "CeleryWorkerReady",
    "CeleryWorkerShutdown",
    "DeferredTaskDropped",
    "DeferredTaskPublished",
    "DeferError",
    "DeferredTaskPublishFailed",
    "INGRESS",
    "PyramidCelery",
    "PyramidTask",
    "TASK",
    "TaskArgumentsError",
    "TaskOptionsError",
    "TaskPublishError",
    "TaskDeferred",
    "TaskFailed",
    "TaskFuture",
    "TaskGroupResult",
    "TaskRetried",
    "TaskRunEvent",
    "TaskSucceeded",
    "TaskDeriverInfo",
    "TaskResult",
    "TaskSerializationError",
    "UnknownTaskError",
    "includeme",
    "task",
]


def includeme(config) -> None:
    """Set up pyramid_tasks in a Pyramid application."""
    config.add_directive("register_task", register_task)
    config.add_directive("add_task_deriver", add_task_deriver)
    config.add_directive("add_periodic_task", add_periodic_task)
    config.add_directive("make_celery_app", make_celery_app)
    config.add_directive("add_task_context", add_task_context)
    config.add_request_method(defer_task, "defer_task")
    config.add_request_method(defer_task, "delay_task")
    config.add_request_method(
        defer_task_with_options, "defer_task_with_options"
    )
    config.add_request_method(get_task_result, "get_task_result")
    config.add_request_method(map_task, "map_task")
    configure_celery_app(config)
    configure_task_context(config)
    configure_ini_schedules(config)
    connect_worker_signals()


def __getattr__(name: str):
    # ``celery -A pyramid_tasks`` looks up ``pyramid_tasks.app``; build the
    # bootstrap app only then, never at import time.
    if name == "app":
        from .cli import make_cli_app

        return make_cli_app()
    raise AttributeError(f"module 'pyramid_tasks' has no attribute {name!r}")
