"""Workflows: signatures, chains, groups and chords deferred as one.

``request.defer_task(canvas)`` checks every task of the workflow before
anything is sent, fixes every task id, carries the request context into
each task, and sends the whole workflow when the transaction commits (or
at once), as one message of the transaction's batch. Celery builds the
messages, so every canvas feature it has keeps working.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from celery.canvas import Signature, _chain, _chord, group, maybe_signature
from celery.result import GroupResult
from celery.utils import uuid

from ..events import BeforeDeferTask
from ..exceptions import DeferError, WorkflowError
from .checks import check_arguments, check_options, check_serializable
from .publisher import Entry
from .states import WAITING

__all__ = [
    "CanvasMessage",
    "Member",
    "members",
    "prepare_workflow",
    "stamp_nested",
]

#: Celery's built-in tasks that run every item inside one task of their
#: own: its items would get no Pyramid request.
_ITEM_TASKS = ("celery.map", "celery.starmap", "celery.chunks")

#: Stands for the result Celery passes to the next task of a chain.
_PARENT_RESULT = object()


@dataclass(slots=True)
class Member:
    """One task signature of a workflow.

    :ivar signature: the task's signature.
    :ivar place: where it stands, e.g. ``chain[1]/chord body``.
    :ivar gets_result: Celery gives it its parent's result first.
    :ivar errback: it is a ``link_error`` callback (Celery chooses its
        arguments).
    """

    signature: Signature
    place: str
    gets_result: bool = False
    errback: bool = False


def members(
    canvas: Signature, place: str = "", gets_result: bool = False
) -> Iterator[Member]:
    """Every task signature of a workflow, with its place in it."""
    if isinstance(canvas, _chain):
        for i, task in enumerate(canvas.tasks):
            yield from members(
                task, _at(place, f"chain[{i}]"), gets_result or i > 0
            )
    elif isinstance(canvas, _chord):
        for i, task in enumerate(canvas.tasks):
            yield from members(
                task, _at(place, f"chord header[{i}]"), gets_result
            )
        yield from members(canvas.body, _at(place, "chord body"), True)
    elif isinstance(canvas, group):
        for i, task in enumerate(canvas.tasks):
            yield from members(task, _at(place, f"group[{i}]"), gets_result)
    else:
        yield Member(canvas, place, gets_result and not canvas.immutable)
    for kind in ("link", "link_error"):
        for i, callback in enumerate(_as_list(canvas.options.get(kind))):
            for member in members(
                maybe_signature(callback), _at(place, f"{kind}[{i}]"), True
            ):
                member.errback = member.errback or kind == "link_error"
                yield member


def _at(place: str, step: str) -> str:
    return f"{place}/{step}" if place else step


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


@dataclass(slots=True)
class CanvasMessage:
    """A workflow on its way to the broker, sent as one.

    :ivar canvas: the frozen Celery canvas.
    :ivar options: ``apply_async`` options for the whole canvas.
    :ivar result: the caller's handle.
    :ivar request: the request that deferred it.
    :ivar items: one :class:`~.publisher.Entry` per task.
    """

    canvas: Signature
    options: dict[str, Any]
    result: Any
    request: Any
    items: list[Entry]

    @property
    def name(self) -> str:
        return self.items[0].task.name  # type: ignore[no-any-return]

    def entries(self) -> Iterator[Entry]:
        return iter(self.items)

    def waiting(self) -> bool:
        """Whether every task still waits: cancelling any handle of a
        workflow drops all of it."""
        return all(entry.result.delivery == WAITING for entry in self.items)

    def apply(self) -> Any:
        """Publish the workflow with Celery's canvas API (in a scope)."""
        return self.canvas.apply_async(**self.options)


def prepare_workflow(
    request: Any,
    canvas: Signature,
    options: dict[str, Any],
    carried: dict[str, Any] | None,
) -> CanvasMessage:
    """Check, freeze and stamp a workflow deferred by ``request``.

    ``BeforeDeferTask`` fires for each task, before it is checked.

    :raises pyramid_tasks.DeferError: a task of the workflow would fail;
        the message names the task and its place. Nothing is sent.
    """
    app = request.registry.celery_app
    canvas = canvas.clone()
    _bind(canvas, app)
    found = list(members(canvas))
    if not found:
        raise WorkflowError(f"The workflow {canvas!r} has no task")
    tasks = [_check(request, member) for member in found]
    if options:
        check_options(tasks[0], options)
    context = app.task_context
    for member, task in zip(found, tasks, strict=True):
        # Ids are fixed and the context stamped before Celery freezes the
        # canvas: freezing turns some parts into plain dicts, copies of
        # what they hold now.
        signature_options = member.signature.options
        signature_options.setdefault("task_id", uuid())
        if context.capturing:
            context.stamp(signature_options, task.name, carried)
    result = canvas.freeze()
    handles = {handle.id: handle for handle in _handles(result)}
    items = []
    for member, task in zip(found, tasks, strict=True):
        signature = member.signature
        task_id = signature.options["task_id"]
        handle = handles.get(task_id) or app.AsyncResult(
            task_id, task_name=task.name
        )
        handle.delivery = WAITING
        items.append(
            Entry(
                task,
                handle,
                tuple(signature.args),
                dict(signature.kwargs),
                signature.options,
                member.place,
            )
        )
    return CanvasMessage(canvas, options, result, request, items)


def stamp_nested(
    context: Any, options: dict[str, Any], carried: dict[str, Any] | None
) -> None:
    """Carry the context into the tasks a message will start: the rest of
    its chain, its chord body, its callbacks (a canvas called directly)."""
    for kind in ("chain", "chord", "link", "link_error"):
        for part in _as_list(options.get(kind)):
            for member in members(maybe_signature(part)):
                signature = member.signature
                context.stamp(signature.options, signature.task, carried)


def _check(request: Any, member: Member) -> Any:
    """Check one task of a workflow; return its Celery task."""
    signature = member.signature
    registry = request.registry
    try:
        if signature.task in _ITEM_TASKS:
            raise WorkflowError(
                f"{signature.task} runs every item inside one Celery task, "
                "without a Pyramid request; defer a group of signatures"
            )
        task = registry.celery_app.lookup_task(signature.task)
        args, kwargs = tuple(signature.args), dict(signature.kwargs)
        if registry.has_listeners:
            registry.notify(
                BeforeDeferTask(request, task, args, kwargs, signature.options)
            )
            signature.kwargs = kwargs
        if task.typing and not member.errback:
            given = (_PARENT_RESULT, *args) if member.gets_result else args
            check_arguments(task, given, kwargs)
        check_options(task, signature.options)
        check_serializable(task, args, kwargs, signature.options)
    except DeferError as exc:
        where = member.place or "the signature"
        if member.gets_result:
            where += ", which gets the result before it first"
        exc.args = (f"{exc} (at {where})",)
        raise
    return task


def _bind(canvas: Signature, app: Any) -> None:
    """Make every part of the workflow a signature object of our app, in
    place: a part given as a dict or made from a task name would
    otherwise be a copy, or use Celery's current app."""
    canvas._app = app
    if isinstance(canvas, _chord):
        slots = [(canvas.kwargs, "header"), (canvas.kwargs, "body")]
    elif isinstance(canvas, _chain | group):
        slots = [(canvas.kwargs, "tasks")]
    else:
        slots = []
    slots += [(canvas.options, kind) for kind in ("link", "link_error")]
    for container, key in slots:
        parts = container.get(key)
        if parts is None:
            continue
        if isinstance(parts, list | tuple):
            container[key] = [maybe_signature(p, app=app) for p in parts]
            for part in container[key]:
                _bind(part, app)
        else:
            container[key] = maybe_signature(parts, app=app)
            _bind(container[key], app)


def _handles(result: Any) -> Iterator[Any]:
    """Every task handle a frozen workflow's result leads to."""
    seen = set()
    todo = [result]
    while todo:
        handle = todo.pop()
        if handle is None or id(handle) in seen:
            continue
        seen.add(id(handle))
        if isinstance(handle, GroupResult):
            todo.extend(handle.results)
        else:
            yield handle
        todo.append(handle.parent)
