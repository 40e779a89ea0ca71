"""A task captured by the testing kit, and its run through the real path.

:meth:`CapturedTask.run` runs the task as a worker would: the arguments
come back from the encoded message, Celery's tracer calls the task with
a task request made from the message options, and the outcome is stored
where a worker stores it.
"""

from __future__ import annotations

from typing import Any

from billiard.einfo import ExceptionInfo, ExceptionWithTraceback
from celery.app.trace import build_tracer
from celery.exceptions import Retry
from celery.result import EagerResult
from celery.utils.nodenames import gethostname
from kombu.serialization import dumps, loads, prepare_accept_content

from ..web.result import TaskResult
from ..web.states import DROPPED, SENT, WAITING

__all__ = ["CapturedTask"]


class CapturedTask:
    """A task deferred while :class:`TaskCapture` was installed.

    :ivar name: the task name.
    :ivar task: the Celery task.
    :ivar args: the positional arguments, as given.
    :ivar kwargs: the keyword arguments, as given.
    :ivar options: the ``apply_async`` options.
    :ivar id: the task id given to the caller.
    :ivar result: the handle given to the caller.
    :ivar after_commit: whether the task waited for a transaction.
    :ivar outcome: Celery's ``EagerResult`` of the last run, or ``None``.
    """

    def __init__(
        self,
        task: Any,
        args: Any,
        kwargs: Any,
        options: dict[str, Any],
        result: TaskResult,
        after_commit: bool,
    ) -> None:
        self.name: str = task.name
        self.task = task
        self.args: tuple = tuple(args)
        self.kwargs: dict[str, Any] = dict(kwargs)
        self.options: dict[str, Any] = {
            k: v for k, v in options.items() if k != "task_id"
        }
        self.id: str = result.id
        self.result: TaskResult = result
        self.after_commit: bool = after_commit
        self.outcome = None
        serializer = options.get("serializer") or task.serializer
        # Encode now, as publishing would: the run decodes these bytes.
        self._message = dumps((self.args, self.kwargs), serializer=serializer)

    @property
    def committed(self) -> bool | None:
        """``True`` once the transaction committed (the task was sent),
        ``False`` if it aborted or the handle was cancelled, ``None``
        while waiting or when the task did not wait for a transaction."""
        if not self.after_commit:
            return None
        delivery = self.result.delivery
        if delivery == WAITING:
            return None
        return delivery != DROPPED

    @property
    def sent(self) -> bool:
        """Whether a real publisher would have sent it by now."""
        return self.result.delivery == SENT

    def run(self) -> Any:
        """Run the task now, as a worker would; return its result.

        The arguments come from the encoded message, the task gets a fresh
        request (derivers, finished callbacks), failures and retries fire
        the same events as in a worker, and the handle given to the caller
        holds the outcome. A retry runs again at once.

        :raises Exception: whatever the task raised.
        """
        task = self.task
        app = task._app
        content_type, encoding, body = self._message
        accept = prepare_accept_content(app.conf.accept_content)
        args, kwargs = loads(body, content_type, encoding, accept=accept)
        tracer = build_tracer(
            task.name, task, eager=True, propagate=False, app=app
        )
        traced = tracer(self.id, args, kwargs, self._task_request())
        retval, traceback = traced.retval, None
        if isinstance(retval, ExceptionInfo):
            retval, traceback = retval.exception, retval.traceback
            if isinstance(retval, ExceptionWithTraceback):
                retval = retval.exc
        if isinstance(retval, Retry) and retval.sig is not None:
            # As Task.apply does: the retry runs now, eagerly.
            retried = retval.sig.apply(retries=1)
            state, retval = retried.state, retried.result
            traceback = retried.traceback
        else:
            state = "SUCCESS" if traced.info is None else traced.info.state
        self._store(state, retval, traceback)
        return self.outcome.get(propagate=True, disable_sync_subtasks=False)

    def _task_request(self) -> dict[str, Any]:
        """Celery's task request, as a worker makes it from the message."""
        options = self.options
        headers = dict(options.get("headers") or {})
        context = {
            "id": self.id,
            "task": self.name,
            "root_id": self.id,
            "parent_id": None,
            "group": options.get("group_id"),
            "group_index": options.get("group_index"),
            "retries": 0,
            "is_eager": True,
            "hostname": gethostname(),
            "callbacks": None,
            "errbacks": None,
            "headers": headers,
            "delivery_info": {
                "is_eager": True,
                "exchange": options.get("exchange"),
                "routing_key": options.get("routing_key"),
                "priority": options.get("priority"),
            },
        }
        # In a worker, message headers become attributes of task.request.
        context.update(headers)
        return context

    def _store(self, state: str, retval: Any, traceback: Any) -> None:
        """Keep the outcome where a worker would: the backend, the handle."""
        task = self.task
        self.outcome = EagerResult(
            self.id, retval, state, traceback=traceback, name=self.name
        )
        if not (task.ignore_result or self.options.get("ignore_result")):
            # A worker stores the outcome, so a later lookup by id (e.g. a
            # result view) finds it.
            task.backend.store_result(
                self.id, retval, state, traceback=traceback
            )
        # Settle the caller's handle (and its future) as a worker would.
        self.result._maybe_set_cache(
            {
                "task_id": self.id,
                "status": state,
                "result": retval,
                "traceback": traceback,
                "children": [],
            }
        )

    def __repr__(self) -> str:
        arguments = [repr(a) for a in self.args] + [
            f"{k}={v!r}" for k, v in self.kwargs.items()
        ]
        flag = " after commit" if self.after_commit else ""
        return f"<CapturedTask {self.name}({', '.join(arguments)}){flag}>"
