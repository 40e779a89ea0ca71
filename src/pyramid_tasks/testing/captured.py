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

from ..web.publisher import PublishScope
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
    :ivar place: where it stands in its workflow (``chain[1]``, ``chord
        body``...), ``""`` for a task deferred on its own.
    :ivar published: whether Celery has published it: a chain's next
        task is published once the one before has run.
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
        capture: Any = None,
        place: str = "",
    ) -> None:
        self.name: str = task.name
        self.task = task
        self.id: str = result.id
        self.result: TaskResult = result
        self.after_commit: bool = after_commit
        self.place = place
        self.published = False
        self.outcome: EagerResult | None = None
        self._capture = capture
        self.published_with(args, kwargs, options)

    def published_with(
        self, args: Any, kwargs: Any, options: dict[str, Any]
    ) -> None:
        """Take the arguments and options of the message as published."""
        self.args: tuple[Any, ...] = tuple(args)
        self.kwargs: dict[str, Any] = dict(kwargs)
        self.options: dict[str, Any] = {
            k: v for k, v in options.items() if k != "task_id"
        }
        serializer = options.get("serializer") or self.task.serializer
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
        # Not eager: the tracer stores the outcome and runs the chord and
        # error callbacks the way a worker's does.
        tracer = build_tracer(
            task.name, task, eager=False, propagate=False, app=app
        )
        # What the run publishes (the rest of a chain, a chord body...)
        # comes back to the capture.
        with PublishScope(sink=self._capture):
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
            info = traced.info
            state = "SUCCESS" if info is None else info.state
        outcome = self._store(state, retval, traceback)
        return outcome.get(propagate=True, disable_sync_subtasks=False)

    def _task_request(self) -> dict[str, Any]:
        """Celery's task request, as a worker makes it from the message."""
        options = self.options
        headers = dict(options.get("headers") or {})
        context = {
            "id": self.id,
            "task": self.name,
            "root_id": options.get("root_id") or self.id,
            "parent_id": options.get("parent_id"),
            "group": options.get("group_id"),
            "group_index": options.get("group_index"),
            "chain": options.get("chain"),
            "chord": options.get("chord"),
            "retries": 0,
            "is_eager": True,
            "hostname": gethostname(),
            "callbacks": _as_list(options.get("link")),
            "errbacks": _as_list(options.get("link_error")),
            "ignore_result": bool(
                options.get("ignore_result", self.task.ignore_result)
            ),
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

    def _store(self, state: str, retval: Any, traceback: Any) -> EagerResult:
        """Keep the outcome of the run: the tracer has stored it in the
        backend, as a worker does; the caller's handle gets it too."""
        outcome = self.outcome = EagerResult(
            self.id, retval, state, traceback=traceback, name=self.name
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
        return outcome

    def __repr__(self) -> str:
        arguments = [repr(a) for a in self.args] + [
            f"{k}={v!r}" for k, v in self.kwargs.items()
        ]
        flag = " after commit" if self.after_commit else ""
        place = f" at {self.place}" if self.place else ""
        call = f"{self.name}({', '.join(arguments)})"
        return f"<CapturedTask {call}{place}{flag}>"


def _as_list(value: Any) -> list[Any] | None:
    if value is None:
        return None
    return list(value) if isinstance(value, list | tuple) else [value]
