"""Request methods: ``request.defer_task`` and friends.

``config.include("pyramid_tasks")`` adds them to every request, and the
worker's task requests have them too, so a task defers tasks the way a
view does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeAlias, cast

from celery.canvas import Signature
from celery.utils import uuid
from kombu.exceptions import EncodeError

from ..events import BeforeDeferTask, TaskDeferred
from ..exceptions import TaskArgumentsError, WorkflowError
from .canvas import prepare_workflow, stamp_nested
from .checks import (
    check_arguments,
    check_options,
    check_serializable,
    serialization_error,
    task_signature_without_request,
)
from .delivery import active_transaction, hold_until_commit
from .publisher import Message
from .result import TaskGroupResult, TaskResult
from .states import SENT, WAITING

__all__ = [
    "defer_task",
    "defer_task_with_options",
    "get_task_result",
    "map_task",
    "task_signature",
]

#: Options holding the signatures a message starts when it is done.
_NESTED = frozenset(("chain", "chord", "link", "link_error"))

TaskOrWorkflow: TypeAlias = "Callable[..., Any] | str | Signature"


def defer_task(
    request: Any, func_or_name: TaskOrWorkflow, *args: Any, **kwargs: Any
) -> TaskResult:
    """Queue a task with these arguments; the request is added in the worker.

    ``func_or_name`` is a registered function, a task name, or a Celery
    signature, chain, group or chord of registered tasks (a workflow,
    which then takes no arguments here). Inside an active transaction
    the task is sent after it commits.
    """
    return defer_task_with_options(request, func_or_name, args, kwargs)


def defer_task_with_options(
    request: Any,
    func_or_name: TaskOrWorkflow,
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
    :raises pyramid_tasks.DeferError: nothing was queued:
        ``UnknownTaskError``, ``TaskArgumentsError`` (the arguments do
        not fit), ``TaskSerializationError``, ``TaskOptionsError`` (a
        well-known option has a bad value), ``WorkflowError``, or
        ``TaskPublishError`` (sending at once failed after Celery's
        publish retries).
    """
    if isinstance(func_or_name, Signature):
        if args or kwargs:
            raise WorkflowError(
                "A workflow takes no arguments of its own: give them to its "
                "signatures"
            )
        return cast(
            TaskResult,
            _defer_workflow(request, func_or_name, after_commit, options),
        )
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
        carried = context.carry(request)
        context.stamp(options, task.name, carried)
        if not _NESTED.isdisjoint(options):
            stamp_nested(context, options, carried)
    transaction = _transaction(app, request, after_commit)
    message = Message(task, args, kwargs, options, request=request)
    if transaction is not None:
        result = _waiting_handle(app, message)
        _wait_for(app, transaction, message)
    else:
        result = _publish_now(app, message)
    if registry.has_listeners:
        _announce(request, message, result, transaction is not None)
    return result


def _announce(request: Any, message: Message, result: Any, held: bool) -> None:
    """Fire ``TaskDeferred`` for one deferred task."""
    request.registry.notify(
        TaskDeferred(
            request,
            message.task,
            result,
            held,
            message.args,
            message.kwargs,
            message.options,
        )
    )


def _waiting_handle(app: Any, message: Message) -> TaskResult:
    """Check ``message`` and give it its handle, waiting."""
    task, options = message.task, message.options
    check_serializable(task, message.args, message.kwargs, options)
    task_id = options.pop("task_id", None) or uuid()
    result = message.result = app.AsyncResult(
        task_id, task_name=task.name, backend=task.backend
    )
    result.delivery = WAITING
    return result  # type: ignore[no-any-return]


def _wait_for(app: Any, transaction: Any, message: Any) -> None:
    """Hold ``message`` for the commit: in the transaction's batch, or as
    a row of the outbox when the application has one."""
    if app.outbox is not None:
        app.outbox.store(message.request, transaction, message)
    else:
        hold_until_commit(app, transaction, message)


def _publish_now(app: Any, message: Message) -> TaskResult:
    try:
        return app.publisher.publish(message)  # type: ignore[no-any-return]
    except EncodeError as exc:
        raise serialization_error(
            message.task, message.args, message.kwargs, message.options, exc
        ) from exc


def _transaction(app: Any, request: Any, after_commit: bool | None) -> Any:
    """The transaction to wait for: ``after_commit`` or the app's rule."""
    if after_commit is None:
        after_commit = app.after_commit
    return active_transaction(request) if after_commit else None


def _defer_workflow(
    request: Any,
    canvas: Signature,
    after_commit: bool | None,
    options: dict[str, Any],
) -> Any:
    """Defer a whole workflow: checked, then sent as one, or dropped."""
    registry = request.registry
    app = registry.celery_app
    context = app.task_context
    carried = context.carry(request) if context.capturing else None
    message = prepare_workflow(request, canvas, options, carried)
    transaction = _transaction(app, request, after_commit)
    if transaction is not None:
        _wait_for(app, transaction, message)
    else:
        app.publisher.publish(message)
        for entry in message.entries():
            entry.result.delivery = SENT
    if registry.has_listeners:
        for entry in message.entries():
            registry.notify(
                TaskDeferred(
                    request,
                    entry.task,
                    entry.result,
                    transaction is not None,
                    entry.args,
                    entry.kwargs,
                    entry.options,
                )
            )
    return message.result


def task_signature(
    request: Any,
    func_or_name: Callable[..., Any] | str,
    *args: Any,
    **kwargs: Any,
) -> Signature:
    """A Celery signature of a registered task, for workflows::

        add = request.task_signature("add", 2)
        request.defer_task(add | request.task_signature(mul, 10))

    The arguments are checked as far as a partial signature allows: too
    many, or unknown keywords, fail now; missing ones may come later
    (in a chain, a task gets its parent's result first).

    :raises pyramid_tasks.UnknownTaskError: no such task.
    :raises pyramid_tasks.TaskArgumentsError: the arguments can never
        fit the task function.

    .. versionadded:: 1.0
    """
    task = request.registry.celery_app.lookup_task(func_or_name)
    if task.typing:
        signature = task_signature_without_request(task)
        try:
            signature.bind_partial(*args, **kwargs)
        except TypeError as exc:
            raise TaskArgumentsError(
                f"Task {task.name!r} cannot take these arguments: {exc} "
                f"(the task takes {signature})"
            ) from None
    return cast(Signature, task.signature(args, kwargs))


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
