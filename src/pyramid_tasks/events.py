"""Events fired by pyramid_tasks, subscribable with ``add_subscriber``."""

from __future__ import annotations

from typing import Any


class BeforeDeferTask:
    """Fired by ``request.defer_task`` before the task is queued.

    Changes made to :attr:`options` are passed on to ``apply_async``.

    :ivar request: the request deferring the task.
    :ivar task: the Celery task.
    :ivar task_name: the task's registered name.
    :ivar args: the positional arguments for the task.
    :ivar kwargs: the keyword arguments for the task.
    :ivar options: the ``apply_async`` options, a mutable dict.
    """

    def __init__(self, request, task, args, kwargs, options) -> None:
        self.request = request
        self.task = task
        self.task_name: str = task.name
        self.args: tuple = args
        self.kwargs: dict[str, Any] = kwargs
        self.options: dict[str, Any] = options


class CeleryWorkerProcessInit:
    """Fired in every worker process once it is ready to run tasks.

    With the prefork pool this happens in each child after the fork: the
    place to reset connections inherited from the parent, e.g.
    ``engine.dispose(close=False)``.

    :ivar registry: the application registry.
    """

    def __init__(self, registry) -> None:
        self.registry = registry


class DeferredTaskPublishFailed:
    """Fired when a task deferred until commit could not be published.

    The transaction has already committed, so the application may store
    the task and send it again later with ``request.defer_task_with_options``.

    :ivar registry: the application registry.
    :ivar task_name: the task's registered name.
    :ivar task_id: the id the caller was given.
    :ivar args: the positional arguments.
    :ivar kwargs: the keyword arguments.
    :ivar options: the ``apply_async`` options.
    :ivar exception: the error raised by the last publish attempt.
    """

    def __init__(
        self, registry, task_name, task_id, args, kwargs, options, exception
    ) -> None:
        self.registry = registry
        self.task_name: str = task_name
        self.task_id: str = task_id
        self.args: tuple = args
        self.kwargs: dict[str, Any] = kwargs
        self.options: dict[str, Any] = options
        self.exception: BaseException = exception
