"""The Celery application that belongs to a Pyramid registry.

:class:`PyramidCelery` is what every side shares: configuration registers
tasks on it, the web side defers them through it, the worker runs them
with it. Its components (the task context, the task request factory, the
publisher) are registered by configuration actions and looked up here,
through the interfaces of :mod:`pyramid_tasks.interfaces`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any, cast

from celery import Celery, Task
from celery.result import AsyncResult, GroupResult

from .exceptions import UnknownTaskError
from .interfaces import ICeleryApp, ITaskContext, ITaskRequestFactory

__all__ = ["PyramidCelery", "get_celery_app"]


class PyramidCelery(Celery):
    """A Celery app bound to one Pyramid registry.

    It is never made the process-wide default app, so two Pyramid
    applications in one process keep two independent Celery apps.

    :ivar registry: the Pyramid registry this app serves.
    :ivar task_names: registered task functions to task names.
    """

    #: Whether tasks deferred in an active transaction wait for its commit
    #: (the ``pyramid_tasks.after_commit`` setting).
    after_commit: bool = True
    #: Seconds between two progress writes of one task run to the result
    #: backend (the ``pyramid_tasks.progress.interval`` setting).
    progress_interval: float = 0.5
    #: Sends task messages: ``publish(message)`` at once and
    #: ``publish_batch(messages)`` after a commit. Configuration installs
    #: :class:`pyramid_tasks.web.delivery.BrokerPublisher`; the testing
    #: kit swaps in its capture.
    publisher: Any = None
    #: Where tasks deferred in a transaction wait: ``None`` holds them in
    #: memory until the commit; :mod:`pyramid_tasks.outbox` sets an
    #: outbox that stores them in the transaction's database.
    outbox: Any = None
    #: The classes of task handles, set by configuration.
    result_class: type[AsyncResult] = AsyncResult
    group_result_class: type[GroupResult] = GroupResult

    def __init__(self, registry: Any, **kwargs: Any) -> None:
        kwargs.setdefault("set_as_current", False)
        kwargs.setdefault(
            "main", getattr(registry, "package_name", None) or "pyramid_tasks"
        )
        super().__init__(**kwargs)
        self.registry = registry
        self.task_names: dict[Callable[..., Any], str] = {}

    @cached_property
    def task_context(self) -> Any:
        """What travels from a deferring request to its tasks."""
        return self.registry.getUtility(ITaskContext)

    @cached_property
    def task_request_factory(self) -> Any:
        """Makes the request each task receives."""
        return self.registry.getUtility(ITaskRequestFactory)

    @cached_property
    def AsyncResult(self) -> type[AsyncResult]:  # noqa: N802 (Celery's name)
        """Task handles are :attr:`result_class` instances."""
        return cast(
            "type[AsyncResult]", self.subclass_with_self(self.result_class)
        )

    @cached_property
    def GroupResult(self) -> type[GroupResult]:  # noqa: N802 (Celery's name)
        """Group handles are :attr:`group_result_class` instances."""
        return cast(
            "type[GroupResult]",
            self.subclass_with_self(self.group_result_class),
        )

    def lookup_task(self, func_or_name: Callable[..., Any] | str) -> Task:
        """Return the task registered for a function or under a name (or
        the task itself, when it is one of this app's).

        :raises pyramid_tasks.UnknownTaskError: nothing is registered
            under it; the message lists the closest names.
        """
        if isinstance(func_or_name, Task):
            name: str | None = func_or_name.name
            if self._tasks.get(name) is func_or_name:
                return func_or_name
            name = None
        elif isinstance(func_or_name, str):
            name = func_or_name
        else:
            try:
                name = self.task_names.get(func_or_name)
            except TypeError:  # unhashable: cannot be a task function
                name = None
        found = self._tasks.get(name) if name is not None else None
        if found is None:
            known = [n for n in self._tasks if not n.startswith("celery.")]
            raise UnknownTaskError(func_or_name, known)
        return found


def get_celery_app(registry: Any) -> PyramidCelery:
    """The Celery app of ``registry``, as ``config.set_celery_app`` set it.

    ``registry.celery_app`` is a shortcut to the same object.

    :raises zope.interface.interfaces.ComponentLookupError: pyramid_tasks
        is not included.
    """
    return cast(PyramidCelery, registry.getUtility(ICeleryApp))
