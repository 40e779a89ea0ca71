"""Celery as a first-class part of a Pyramid application.

``config.include("pyramid_tasks")`` adds the directives ``register_task``,
``add_task_deriver``, ``add_periodic_task``, ``add_task_context``,
``set_celery_app`` and ``make_celery_app``, and the request methods
``defer_task``, ``defer_task_with_options``, ``delay_task``,
``map_task``, ``task_signature`` and ``get_task_result``, and for the
requests of tasks ``report_progress``.

``import pyramid_tasks`` loads nothing else: the public names below are
imported on first use (:pep:`562`), and the include loads what
configuration needs (:mod:`pyramid_tasks.config`).
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .application import PyramidCelery
    from .config.derivers import INGRESS, TASK, TaskDeriverInfo
    from .config.tasks import task
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
    from .web.result import TaskGroupResult, TaskResult
    from .worker.task import PyramidTask

#: The module of each public name, imported when the name is first used.
_LAZY = {
    "PyramidCelery": ".application",
    "INGRESS": ".config.derivers",
    "TASK": ".config.derivers",
    "TaskDeriverInfo": ".config.derivers",
    "task": ".config.tasks",
    **dict.fromkeys(
        [
            "BeforeDeferTask",
            "BeforeTaskRun",
            "CeleryWorkerProcessInit",
            "CeleryWorkerReady",
            "CeleryWorkerShutdown",
            "DeferredTaskDropped",
            "DeferredTaskPublished",
            "DeferredTaskPublishFailed",
            "TaskDeferred",
            "TaskFailed",
            "TaskRetried",
            "TaskRunEvent",
            "TaskSucceeded",
        ],
        ".events",
    ),
    **dict.fromkeys(
        [
            "DeferError",
            "NotInTaskError",
            "OutboxError",
            "TaskArgumentsError",
            "TaskOptionsError",
            "TaskPublishError",
            "TaskSerializationError",
            "UnknownTaskError",
            "WorkflowError",
        ],
        ".exceptions",
    ),
    "TaskFuture": ".web.futures",
    "TaskGroupResult": ".web.result",
    "TaskResult": ".web.result",
    "PyramidTask": ".worker.task",
}

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
    """Set up pyramid_tasks in a Pyramid application.

    The directives, request methods and defaults are wired by
    :func:`pyramid_tasks.config.includeme`, included from here so that
    Celery is imported by the include, not by ``import pyramid_tasks``.
    """
    config.include("pyramid_tasks.config")


def __getattr__(name: str) -> Any:
    # ``celery -A pyramid_tasks`` looks up ``pyramid_tasks.app``; build the
    # bootstrap app only then, never at import time.
    if name == "app":
        from .scripts.preload import make_cli_app

        return make_cli_app()
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(
            f"module 'pyramid_tasks' has no attribute {name!r}"
        )
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
