"""Task derivers: wrap every task function, like Pyramid's view derivers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pyramid.config import PHASE1_CONFIG
from pyramid.exceptions import ConfigurationError
from pyramid.util import TopologicalSorter, as_sorted_tuple

from ..application import get_celery_app
from ..interfaces import ITaskDerivers
from ..worker.task import PyramidTask

__all__ = [
    "INGRESS",
    "TASK",
    "TaskDeriverInfo",
    "add_task_deriver",
    "derive_task",
    "rederive_tasks",
]

#: Reserved name of the outermost end of the deriver chain.
INGRESS = "INGRESS"
#: Reserved name of the innermost end: the task function itself.
TASK = "TASK"


@dataclass(slots=True)
class TaskDeriverInfo:
    """What a task deriver knows about the task it wraps.

    :ivar registry: the application registry.
    :ivar settings: the application settings.
    :ivar package: the package where the task was registered.
    :ivar name: the task name.
    :ivar options: every option given to ``register_task``.
    :ivar original_func: the undecorated task function.
    """

    registry: Any
    package: Any
    name: str
    options: dict[str, Any]
    original_func: Callable[..., Any]
    settings: Any = field(init=False)

    def __post_init__(self) -> None:
        self.settings = self.registry.settings


def get_derivers(registry: Any) -> TopologicalSorter:
    derivers = registry.queryUtility(ITaskDerivers)
    if derivers is None:
        derivers = TopologicalSorter(
            default_before=None,
            default_after=INGRESS,
            first=INGRESS,
            last=TASK,
        )
        registry.registerUtility(derivers, ITaskDerivers)
    return derivers


def add_task_deriver(
    config: Any,
    deriver: Callable[..., Any] | str,
    name: str | None = None,
    under: str | list[str] | None = None,
    over: str | list[str] | None = None,
) -> None:
    """Add a task deriver: ``deriver(task, info) -> task``.

    ``under`` (nearer the task) and ``over`` (nearer the worker) order it
    among other derivers, as for :meth:`add_view_deriver`; the ends are
    :data:`INGRESS` and :data:`TASK`. Example::

        def timed(task, info):
            def wrapper(request, *args, **kwargs):
                with request.metrics.timer(info.name):
                    return task(request, *args, **kwargs)
            return wrapper

        config.add_task_deriver(timed, over="transaction")
    """
    deriver = config.maybe_dotted(deriver)
    if not callable(deriver):
        raise ConfigurationError(f"Task deriver {deriver!r} is not callable")
    if name is None:
        name = getattr(deriver, "__name__", None)
        if not name or name == "<lambda>":
            raise ConfigurationError(
                f"Task deriver {deriver!r} has no name; pass name="
            )
    if name in (INGRESS, TASK):
        raise ConfigurationError(f"{name!r} is a reserved task deriver name")
    under = INGRESS if under is None else under
    over = TASK if over is None else over
    if INGRESS in as_sorted_tuple(over):
        raise ConfigurationError(
            f"Task deriver {name!r} cannot be over INGRESS"
        )
    if TASK in as_sorted_tuple(under):
        raise ConfigurationError(f"Task deriver {name!r} cannot be under TASK")

    intr = config.introspectable("task derivers", name, name, "task deriver")
    intr.update(name=name, deriver=deriver, under=under, over=over)

    def register() -> None:
        get_derivers(config.registry).add(
            name, deriver, before=over, after=under
        )
        # Tasks registered before this deriver (an autocommitting
        # configurator) are derived again, so a deriver always applies.
        rederive_tasks(config.registry)

    # Derivers must all be known before any task is derived.
    config.action(
        ("task deriver", name),
        register,
        order=PHASE1_CONFIG,
        introspectables=(intr,),
    )


def derive_task(
    registry: Any, func: Callable[..., Any], info: TaskDeriverInfo
) -> tuple[Callable[..., Any], list[str]]:
    """Wrap ``func`` in every deriver; return it and the names that applied."""
    applied = []
    for name, deriver in reversed(get_derivers(registry).sorted()):
        wrapped = deriver(func, info)
        if wrapped is not func:
            applied.append(name)
        func = wrapped
    applied.reverse()
    return func, applied


def derive(celery_task: PyramidTask) -> None:
    """Set the derived function of a registered task."""
    info = celery_task.deriver_info
    derived, applied = derive_task(info.registry, info.original_func, info)
    celery_task.derived_func = derived
    celery_task.derivers = applied


def rederive_tasks(registry: Any) -> None:
    """Derive every registered task again (a deriver was added late)."""
    for celery_task in get_celery_app(registry)._tasks.values():
        if isinstance(celery_task, PyramidTask):
            derive(celery_task)
