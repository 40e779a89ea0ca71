"""Celery as a first-class part of a Pyramid application.

``config.include("pyramid_tasks")`` adds the directives ``register_task``,
``add_task_deriver``, ``add_periodic_task``, ``add_task_context``,
``set_celery_app`` and ``make_celery_app``, and the request methods
``defer_task``, ``defer_task_with_options``, ``delay_task``,
``map_task``, ``task_signature`` and ``get_task_result``, and for the
requests of tasks ``report_progress``.
"""

from typing import Any

# First: it imports pkg_resources, before Pyramid does, without
# setuptools' deprecation warning.
from . import quiet  # noqa: F401
from .application import PyramidCelery
from .config.celeryapp import (
    configure_celery_app,
    make_celery_app,
    set_celery_app,
)
from .config.context import add_task_context, configure_task_context
from .config.derivers import INGRESS, TASK, TaskDeriverInfo, add_task_deriver
from .config.periodic import add_periodic_task
from .config.schedules import configure_ini_schedules
from .config.tasks import register_task, task
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
    NotInTaskError,
    OutboxError,
    TaskArgumentsError,
    TaskOptionsError,
    TaskPublishError,
    TaskSerializationError,
    UnknownTaskError,
    WorkflowError,
)
from .web.futures import TaskFuture
from .web.request import (
    defer_task,
    defer_task_with_options,
    get_task_result,
    map_task,
    task_signature,
)
from .web.result import TaskGroupResult, TaskResult
from .worker.progress import report_progress
from .worker.signals import connect_worker_signals
from .worker.task import PyramidTask

__all__ = [
    "BeforeDeferTask",
    "BeforeTaskRun",
    "CeleryWorkerProcessInit",
    "CeleryWorkerReady",
    "CeleryWorkerShutdown",
    "DeferError",
    "DeferredTaskDropped",
    "DeferredTaskPublishFailed",
    "DeferredTaskPublished",
    "INGRESS",
    "NotInTaskError",
    "OutboxError",
    "PyramidCelery",
    "PyramidTask",
    "TASK",
    "TaskArgumentsError",
    "TaskDeferred",
    "TaskDeriverInfo",
    "TaskFailed",
    "TaskFuture",
    "TaskGroupResult",
    "TaskOptionsError",
    "TaskPublishError",
    "TaskResult",
    "TaskRetried",
    "TaskRunEvent",
    "TaskSerializationError",
    "TaskSucceeded",
    "UnknownTaskError",
    "WorkflowError",
    "includeme",
    "task",
]


def includeme(config: Any) -> None:
    """Set up pyramid_tasks in a Pyramid application."""
    config.add_directive("set_celery_app", set_celery_app)
    config.add_directive("make_celery_app", make_celery_app)
    config.add_directive("register_task", register_task)
    config.add_directive("add_task_deriver", add_task_deriver)
    config.add_directive("add_periodic_task", add_periodic_task)
    config.add_directive("add_task_context", add_task_context)
    config.add_request_method(defer_task, "defer_task")
    config.add_request_method(defer_task, "delay_task")
    config.add_request_method(
        defer_task_with_options, "defer_task_with_options"
    )
    config.add_request_method(get_task_result, "get_task_result")
    config.add_request_method(map_task, "map_task")
    config.add_request_method(task_signature, "task_signature")
    config.add_request_method(report_progress, "report_progress")
    config.set_celery_app()
    configure_celery_app(config)
    configure_task_context(config)
    configure_ini_schedules(config)
    connect_worker_signals()


def __getattr__(name: str) -> Any:
    # ``celery -A pyramid_tasks`` looks up ``pyramid_tasks.app``; build the
    # bootstrap app only then, never at import time.
    if name == "app":
        from .scripts.preload import make_cli_app

        return make_cli_app()
    raise AttributeError(f"module 'pyramid_tasks' has no attribute {name!r}")
