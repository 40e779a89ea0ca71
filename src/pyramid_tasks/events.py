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

    def __init__(
        self,
        request: Any,
        task: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        options: dict[str, Any],
    ) -> None:
        self.request = request
        self.task = task
        self.task_name: str = task.name
        self.args: tuple[Any, ...] = args
        self.kwargs: dict[str, Any] = kwargs
        self.options: dict[str, Any] = options


class CeleryWorkerProcessInit:
    """Fired in every worker process once it is ready to run tasks.

    With the prefork pool this happens in each child after the fork: the
    place to reset connections inherited from the parent, e.g.
    ``engine.dispose(close=False)``.

    :ivar registry: the application registry.
    """

    def __init__(self, registry: Any) -> None:
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
        self,
        registry: Any,
        task_name: str,
        task_id: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        options: dict[str, Any],
        exception: BaseException,
    ) -> None:
        self.registry = registry
        self.task_name: str = task_name
        self.task_id: str = task_id
        self.args: tuple[Any, ...] = args
        self.kwargs: dict[str, Any] = kwargs
        self.options: dict[str, Any] = options
        self.exception: BaseException = exception


class TaskDeferred:
    """Fired by ``request.defer_task`` once a task was queued or held.

    :ivar request: the request that deferred the task.
    :ivar task: the Celery task.
    :ivar task_name: the task's registered name.
    :ivar task_id: the id of the task, known before it is sent.
    :ivar result: the handle returned to the caller.
    :ivar after_commit: ``True`` when the task waits for the active
        transaction to commit, ``False`` when it was sent at once.
    :ivar args: the positional arguments for the task.
    :ivar kwargs: the keyword arguments for the task.
    :ivar options: its ``apply_async`` options.

    .. versionchanged:: 1.0
       ``args``, ``kwargs`` and ``options``.
    """

    def __init__(
        self,
        request: Any,
        task: Any,
        result: Any,
        after_commit: bool,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        self.request = request
        self.task = task
        self.task_name: str = task.name
        self.task_id: str = result.id
        self.result = result
        self.after_commit: bool = after_commit
        self.args: tuple[Any, ...] = args
        self.kwargs: dict[str, Any] = {} if kwargs is None else kwargs
        self.options: dict[str, Any] = {} if options is None else options


class _HeldTaskEvent:
    def __init__(self, request: Any, task: Any, result: Any) -> None:
        self.request = request
        self.task = task
        self.task_name: str = task.name
        self.task_id: str = result.id
        self.result = result


class DeferredTaskPublished(_HeldTaskEvent):
    """Fired after the commit, once a held task was handed to the broker.

    :ivar request: the request that deferred the task.
    :ivar task: the Celery task.
    :ivar task_name: the task's registered name.
    :ivar task_id: the task id.
    :ivar result: the handle the caller was given.
    """


class DeferredTaskDropped(_HeldTaskEvent):
    """Fired when the transaction a held task waited for aborted.

    Same attributes as :class:`DeferredTaskPublished`. A handle cancelled
    with ``cancel()`` is dropped silently.
    """


class TaskRunEvent:
    """Base class of the events fired around a task run in the worker.

    Subscribe to it to receive all of them.

    :ivar request: the task's Pyramid request, or ``None`` when the task
        failed before it was built (a time limit, a lost worker).
    :ivar task: the Celery task; ``task.request`` is Celery's context.
    :ivar task_name: the task's registered name.
    """

    def __init__(self, request: Any, task: Any) -> None:
        self.request = request
        self.task = task
        self.task_name: str = task.name


class BeforeTaskRun(TaskRunEvent):
    """Fired in the worker with the fresh task request, before the task
    function and its derivers run."""


class TaskSucceeded(TaskRunEvent):
    """Fired when the task function returned.

    :ivar result: the value it returned.
    """

    def __init__(self, request: Any, task: Any, result: Any) -> None:
        super().__init__(request, task)
        self.result = result


class TaskFailed(TaskRunEvent):
    """Fired when the task failed for good (it will not be retried).

    :ivar exception: the error.
    """

    def __init__(
        self, request: Any, task: Any, exception: BaseException
    ) -> None:
        super().__init__(request, task)
        self.exception: BaseException = exception


class TaskRetried(TaskRunEvent):
    """Fired when the task raised ``Retry`` and will run again.

    :ivar exception: the error that caused the retry, if any.
    :ivar reason: Celery's :class:`~celery.exceptions.Retry` instance.
    """

    def __init__(
        self,
        request: Any,
        task: Any,
        exception: BaseException | None,
        reason: Any,
    ) -> None:
        super().__init__(request, task)
        self.exception: BaseException | None = exception
        self.reason = reason


class CeleryWorkerReady:
    """Fired once the worker is ready to consume (``celery worker``).

    :ivar registry: the application registry.
    :ivar consumer: Celery's consumer, ``None`` in some embedded workers.
    """

    def __init__(self, registry: Any, consumer: Any = None) -> None:
        self.registry = registry
        self.consumer = consumer


class CeleryWorkerShutdown:
    """Fired when the worker is shutting down.

    :ivar registry: the application registry.
    """

    def __init__(self, registry: Any) -> None:
        self.registry = registry
