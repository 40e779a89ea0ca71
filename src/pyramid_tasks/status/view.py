"""The status view: what a status URL answers, as JSON.

``GET <pyramid_tasks.status.route>/<task id>/<token>`` answers::

    {"id": "5f1c...", "state": "progress",
     "progress": {"done": 3, "total": 10, "message": "step 3"}}

- ``state``: Celery's state in lower case (``started``, ``progress``,
  ``retry``, ``success``, ``failure``, ``revoked``, or a custom state);
  for a task the backend does not know yet, ``stored`` (or what an
  :class:`~pyramid_tasks.interfaces.ITaskDeliveryState` says) or
  ``queued``; ``dropped`` or ``not_sent`` for a watched task that was
  never sent (see :mod:`.markers`).
- ``progress``: the last ``request.report_progress`` value while the
  state is ``progress``, else ``null``.
- ``result``: only on ``success``, and only for a task registered with
  ``status_result=True``.
- ``error``: on ``failure``, ``revoked``, ``dropped`` and ``not_sent``, a
  short message: the exception's class and message, URL passwords
  masked, no traceback.

A token that was never issued answers 404, a result backend that fails
answers 503; every answer has ``Cache-Control: no-store``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from celery import states
from pyramid.httpexceptions import HTTPNotFound, HTTPServiceUnavailable
from pyramid.response import Response

from ..interfaces import ITaskDeliveryState, ITaskStatusTokens
from ..redact import redact_urls
from ..worker.progress import PROGRESS
from .markers import DROPPED_STATE, NOT_SENT_STATE

__all__ = ["QUEUED", "TERMINAL_STATES", "read_status", "task_status_view"]

log = logging.getLogger(__name__)

#: The state of a task the backend does not know and no
#: ``ITaskDeliveryState`` claims: sent, and waiting in its queue.
QUEUED = "queued"
#: States after which nothing changes.
TERMINAL_STATES = frozenset(
    ("success", "failure", "revoked", "dropped", "not_sent")
)
#: The longest ``error`` message, in characters.
MAX_ERROR = 200

_NEVER_SENT = {
    DROPPED_STATE: "The task was never sent: the transaction that deferred "
    "it did not commit, or it was cancelled.",
    NOT_SENT_STATE: "The task was not sent: publishing it to the broker "
    "failed after the commit.",
}


def task_status_view(request: Any) -> Response:
    """Answer the status of the task named by a signed status URL."""
    task_id = request.matchdict["task_id"]
    tokens = request.registry.getUtility(ITaskStatusTokens)
    show_result = tokens.verify(task_id, request.matchdict["token"])
    if show_result is None:
        return _json(HTTPNotFound(), {"error": "No such task status."})
    try:
        body = read_status(request.registry, task_id, show_result)
    except Exception as exc:
        log.warning(
            "The status of task %s could not be read: %s",
            task_id,
            redact_urls(exc),
        )
        return _json(
            HTTPServiceUnavailable(),
            {"error": "The task's state cannot be read now."},
        )
    return _json(Response(), body)


def read_status(
    registry: Any, task_id: str, show_result: bool = False
) -> dict[str, Any]:
    """The JSON body of the status of ``task_id``, from one backend read.

    :param show_result: include the result of a task that succeeded.
    """
    backend = registry.celery_app.backend
    meta = backend.get_task_meta(task_id)
    state = meta["status"]
    info = meta.get("result")
    body: dict[str, Any] = {
        "id": task_id,
        "state": state.lower(),
        "progress": None,
    }
    if state == states.PENDING:
        body["state"] = _delivery_state(registry, task_id)
    elif state == PROGRESS:
        body["progress"] = _progress(info)
    elif state == states.SUCCESS:
        if show_result:
            body["result"] = info
    elif state in (states.FAILURE, states.REVOKED):
        body["error"] = _error(info)
    elif state in _NEVER_SENT:
        body["error"] = _NEVER_SENT[state]
    return body


def _delivery_state(registry: Any, task_id: str) -> str:
    for _name, provider in registry.getUtilitiesFor(ITaskDeliveryState):
        state = provider.state_of(task_id)
        if state is not None:
            return str(state)
    return QUEUED


def _progress(info: Any) -> dict[str, Any] | None:
    if not isinstance(info, dict) or "done" not in info:
        # Someone else's PROGRESS state, with meta of its own.
        return None
    return {key: info.get(key) for key in ("done", "total", "message")}


def _error(info: Any) -> str:
    # Celery gives the stored error back as an exception.
    text, name = str(info), type(info).__name__
    text = f"{name}: {text}" if text else name
    text = redact_urls(text)
    if len(text) > MAX_ERROR:
        text = text[: MAX_ERROR - 1] + "\N{HORIZONTAL ELLIPSIS}"
    return text


def _json(response: Response, body: dict[str, Any]) -> Response:
    response.content_type = "application/json"
    response.charset = "utf-8"
    # A result of a type JSON does not know (pickle) is shown as text.
    response.text = json.dumps(body, default=str)
    # A state is only true now: no proxy or browser may keep it.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
