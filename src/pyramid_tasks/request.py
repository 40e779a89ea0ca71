"""Request methods: ``request.defer_task`` and friends."""

from __future__ import annotations

from collections.abc import Callable
import inspect
from typing import Any

from kombu.exceptions import EncodeError, OperationalError
from kombu.serialization import dumps
from kombu.utils.url import maybe_sanitize_url

from .delivery import active_transaction, defer_until_commit
from .events import BeforeDeferTask, TaskDeferred
from .exceptions import (
    TaskArgumentsError,
    TaskPublishError,
    TaskSerializationError,
)
from .options import check_options
from .result import TaskResult
from .tasks import lookup_task

__all__ = [
    "defer_task",
    "defer_task_with_options",
    "get_task_result",
]


def defer_task(
    request, func_or_name: Callable | str, *args: Any, **kwargs: Any
) -> TaskResult:
    """Queue a task with these arguments; the request is added in the worker.

    Inside an active transaction the task is sent after it commits.
    """
    return defer_task_with_options(request, func_or_name, args, kwargs)


def defer_task_with_options(
    request,
    func_or_name: Callable | str,
    args: tuple | list = (),
    kwargs: dict[str, Any] | None = None,
    *,
    after_commit: bool | None = None,
    **options: Any,
) -> TaskResult:
    """Queue a task with ``apply_async`` options (``countdown``, ``queue``...).

    :param after_commit: ``True`` waits for the active transaction to
        commit (the default, see the ``pyramid_tasks.after_commit``
        setting); ``False`` sends at once.
    :raises pyramid_tasks.exceptions.UnknownTaskError: no such task.
    :raises pyramid_tasks.exceptions.TaskArgumentsError: the arguments do
        not fit the task function.
    :raises pyramid_tasks.exceptions.TaskSerializationError: an argument
        cannot be serialized.
    :raises pyramid_tasks.exceptions.TaskOptionsError: a well-known option
        such as ``countdown`` or ``eta`` has a bad value.
    :raises pyramid_tasks.exceptions.TaskPublishError: sending at once
        failed after Celery's publish retries (broker unreachable).
    """
    registry = request.registry
    app = registry.celery_app
    task = lookup_task(app, func_or_name)
    args = tuple(args)
    kwargs = {} if kwargs is None else dict(kwargs)
    if registry.has_listeners:
        registry.notify(BeforeDeferTask(request, task, args, kwargs, options))
    if task.typing:
        _check_arguments(task, args, kwargs)
    if options:
        check_options(task, options)
    context = app.task_context
    if context.capturing:
        # Only the allow-listed context travels, in the message headers.
        context.capture(request, task, options)
    if after_commit is None:
        after_commit = app.after_commit
    transaction = active_transaction(request) if after_commit else None
    if transaction is not None:
        _check_serializable(task, args, kwargs, options)
        result = defer_until_commit(
            app, transaction, task, args, kwargs, options, request=request
        )
    else:
        result = _publish_now(app, task, args, kwargs, options)
    if registry.has_listeners:
        registry.notify(
            TaskDeferred(request, task, result, transaction is not None)
        )
    return result


def _publish_now(app, task, args: tuple, kwargs: dict, options) -> TaskResult:
    # A test may swap the publisher (pyramid_tasks.testing).
    publisher = app.task_publisher
    try:
        if publisher is None:
            return task.apply_async(args, kwargs, **options)
        return publisher.send(task, args, kwargs, options)
    except EncodeError:
        _check_serializable(task, args, kwargs, options)
        raise
    except OperationalError as exc:
        # Celery retried per task_publish_retry_policy; name the broker.
        uri = app.connection_for_write().as_uri(include_password=True)
        broker = maybe_sanitize_url(uri)
        raise TaskPublishError(
            f"Task {task.name!r} could not be sent to {broker}: {exc}"
        ) from exc


def get_task_result(request, task_id: str) -> TaskResult:
    """Return the result handle of a task from its stored id."""
    return request.registry.celery_app.AsyncResult(task_id)


def _check_arguments(task, args: tuple, kwargs: dict) -> None:
    try:
        task.__header__(*args, **kwargs)
    except TypeError:
        # Say it in terms of the task's own signature, without the request.
        signature = inspect.signature(task.original_func)
        signature = signature.replace(
            parameters=list(signature.parameters.values())[1:]
        )
        try:
            signature.bind(*args, **kwargs)
        except TypeError as exc:
            problem = exc
        else:  # pragma: no cover - both checks agree
            problem = "rejected"
        raise TaskArgumentsError(
            f"Task {task.name!r} cannot take these arguments: {problem} "
            f"(the task takes {signature})"
        ) from None


def _check_serializable(task, args: tuple, kwargs: dict, options) -> None:
    serializer = options.get("serializer") or task.serializer
    try:
        dumps((args, kwargs), serializer=serializer)
    except Exception:  # noqa: BLE001 - any encoder error means the same
        raise _serialization_error(task, args, kwargs, serializer) from None


def _serialization_error(task, args, kwargs, serializer) -> Exception:
    names = _positional_names(task.original_func)
    culprits = [
        (names[i] if i < len(names) else f"#{i}", value)
        for i, value in enumerate(args)
    ] + list(kwargs.items())
    for name, value in culprits:
        try:
            dumps(value, serializer=serializer)
        except Exception as exc:  # noqa: BLE001
            return TaskSerializationError(
                f"Task {task.name!r} argument {name!r} cannot be serialized "
                f"with {serializer}: {exc}"
            )
    return TaskSerializationError(  # pragma: no cover - defensive
        f"Task {task.name!r} arguments cannot be serialized with {serializer}"
    )


def _positional_names(func: Callable) -> list[str]:
    params = list(inspect.signature(func).parameters.values())[1:]
    return [
        p.name
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
