"""``request.task_status_url``: the status URL of a task."""

from __future__ import annotations

from typing import Any

from celery.result import GroupResult

from ..config.settings import coerce_setting
from ..interfaces import ITaskStatusTokens
from ..web.states import WAITING
from .markers import mark_if_never_sent

__all__ = ["ROUTE_NAME", "task_status_url"]

#: The route of the status view.
ROUTE_NAME = "pyramid_tasks.status"


def task_status_url(request: Any, handle_or_id: Any) -> str:
    """The URL of the status view for a task, to give to whoever may
    watch it (a page, an API client)::

        handle = request.defer_task(build_report, report.id)
        return {"status_url": request.task_status_url(handle)}

    The URL carries a token signed with ``pyramid_tasks.status.secret``:
    having it is what allows reading the task's status. The view shows
    the task's result only for a task registered with
    ``status_result=True`` and a handle that knows its task (the ones
    ``defer_task`` returns); a plain task id never shows it.

    For a handle still waiting for the request's transaction, a terminal
    state is stored if the task ends up never sent (the transaction
    aborts, the handle is cancelled, or publishing fails after the
    commit), so the view answers ``dropped`` or ``not_sent`` rather than
    ``queued`` forever.

    :param handle_or_id: a task's handle (``TaskResult``) or its id.
    :raises TypeError: a group's handle: watch each of its tasks.
    :raises ValueError: a task that ignores its results has no state to
        watch.

    .. versionadded:: 1.0
    """
    if isinstance(handle_or_id, GroupResult):
        raise TypeError(
            "A group has no state of its own: make a status URL for each "
            "of its tasks (group.results)"
        )
    if isinstance(handle_or_id, str):
        task_id, handle = handle_or_id, None
    else:
        task_id, handle = handle_or_id.id, handle_or_id
    name = getattr(handle, "task_name", None)
    task = request.registry.celery_app.tasks.get(name) if name else None
    show_result = False
    if task is not None:
        if task.ignore_result:
            raise ValueError(
                f"Task {name!r} ignores its results, so it has no state to "
                "watch: register it with ignore_result=False"
            )
        show_result = coerce_setting(
            getattr(task, "status_result", False),
            bool,
            "Task option status_result",
            context=f" (task {name!r})",
        )
    if getattr(handle, "delivery", None) == WAITING:
        mark_if_never_sent(request, handle)
    token = request.registry.getUtility(ITaskStatusTokens).sign(
        task_id, show_result
    )
    return request.route_url(  # type: ignore[no-any-return]
        ROUTE_NAME, task_id=task_id, token=token
    )
