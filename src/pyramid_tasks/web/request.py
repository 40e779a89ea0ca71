"""Request methods: ``request.defer_task`` and friends.

``config.include("pyramid_tasks")`` adds them to every request, and the
worker's task requests have them too, so a task defers tasks the way a
view does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from celery.utils import uuid
from kombu.exceptions import EncodeError

from ..events import BeforeDeferTask, TaskDeferred
from .checks import (
    check_arguments,
    check_options,
    check_serializable,
    serialization_error,
)
from .delivery import active_transaction, defer_until_commit
from .publisher import Message
from .result import TaskGroupResult, TaskResult

__all__ = [
    "defer_task",
    "defer_task_with_options",
    "get_task_result",
    "map_task",
]


def defer_task(
    request: Any,
    func_or_name: Callable[..., Any] | str,
    *args: Any,
    **kwargs: Any,
) -> TaskResult:
    """Queue a task with these arguments; the request is added in the worker.

    Inside an active transaction the task is sent after it commits.
    """
    return defer_task_with_options(request, func_or_name, args, kwargs)


def defer_task_with_options(
    request: Any,
    func_or_name: Callable[..., Any] | str,
    args: Iterable[Any] = (),
    kwargs: dict[str, Any] | None = None,
    *,
    after_commit: bool | None = None,
    **options: Any,
) -> TaskResult:
    """Queue a task with ``apply_async`` options (``countdown``, ``queue``...).

    :param after_commit: ``True`` waits for the active transaction to
        commit (the default, see the ``pyramid_tasks.after_commit``
        setting); ``False`` sends at once.
    :raises pyramid_tasks.UnknownTaskError: no such task.
    :raises pyramid_tasks.TaskArgumentsError: the arguments do not fit
        the task function.
    :raises pyramid_tasks.TaskSerializationError: an argument cannot be
        serialized.
    :raises pyramid_tasks.TaskOptionsError: a well-known option such as
        ``countdown`` or ``eta`` has a bad value.
    :raises pyramid_tasks.TaskPublishError: sending at once failed after
        Celery's publish retries (broker unreachable).
    """
    registry = request.registry
    # The documented shortcut to the app set by config.set_celery_app.
    app = registry.celery_app
    task = app.lookup_task(func_or_name)
    args = tuple(args)
    kwargs = {} if kwargs is None else dict(kwargs)
    if registry.has_listeners:
        registry.notify(BeforeDeferTask(request, task, args, kwargs, options))
    if task.typing:
        check_arguments(task, args, kwargs)
    if options:
        check_options(task, options)
    context = app.task_context
    if context.capturing:
        # Only the allow-listed context travels, in the message headers.
        context.stamp(options, task.name, context.carry(request))
    if after_commit is None:
        after_commit = app.after_commit
    transaction = active_transaction(request) if after_commit else None
    message = Message(task, args, kwargs, options, request=request)
    if transaction is not None:
        check_serializable(task, args, kwargs, options)
        result = defer_until_commit(app, transaction, message)
    else:
        try:
            result = app.publisher.publish(message)
        except EncodeError as exc:
            raise serialization_error(
                task, args, kwargs, options, exc
            ) from exc
    if registry.has_listeners:
        registry.notify(
            TaskDeferred(request, task, result, transaction is not None)
        )
    return result  # type: ignore[no-any-return]


def get_task_result(request: Any, task_id: str) -> TaskResult:
    """Return the result handle of a task from its stored id."""
    return request.registry.celery_app.AsyncResult(task_id)  # type: ignore[no-any-return]


def map_task(
    request: Any,
    func_or_name: Callable[..., Any] | str,
    *iterables: Iterable[Any],
    kwargs: dict[str, Any] | None = None,
    **options: Any,
) -> TaskGroupResult:
    """Defer one task per item of ``zip(*iterables)``, as a Celery group.

    Like :meth:`concurrent.futures.Executor.map`, the task gets one
    argument from each iterable; ``kwargs`` are keyword arguments given
    to every task; ``options`` are ``apply_async`` options plus
    ``after_commit``. Every message carries the group id and its index.
    Each item goes through ``request.defer_task_with_options``, so in a
    transaction the whole group waits for the commit and is published
    over one connection (or dropped). All arguments are checked before
    anything is deferred::

        group = request.map_task(resize, photo_ids, [(64, 64)] * 3)
        sizes = group.result(timeout=10)

    .. versionadded:: 1.0

    :raises pyramid_tasks.DeferError: see ``defer_task``.
    """
    app = request.registry.celery_app
    task = app.lookup_task(func_or_name)
    items = [tuple(item) for item in zip(*iterables, strict=False)]
    kwargs = dict(kwargs or {})
    if task.typing:
        for args in items:
            check_arguments(task, args, kwargs)
    group_id = options.pop("group_id", None) or uuid()
    results = [
        defer_task_with_options(
            request,
            task.name,
            args,
            kwargs,
            group_id=group_id,
            group_index=index,
            **options,
        )
        for index, args in enumerate(items)
    ]
    return app.GroupResult(group_id, results)  # type: ignore[no-any-return]
