"""The handles returned by ``request.defer_task`` and ``request.map_task``."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from functools import cached_property
import threading
import time
from typing import Any, cast

from celery import states
from celery.result import AsyncResult, GroupResult

from .futures import TaskFuture
from .states import DROPPED, SENT, STORED, WAITING

#: Deliveries after which the result backend knows what happens.
_ON_ITS_WAY = (SENT, STORED)

__all__ = ["TaskGroupResult", "TaskResult"]


class TaskResult(AsyncResult):
    """A Celery :class:`~celery.result.AsyncResult` that also knows
    whether its task was sent.

    :ivar delivery: :data:`SENT`, :data:`WAITING`, :data:`DROPPED` or
        :data:`FAILED`. Handles made from a stored id
        (``request.get_task_result``) say :data:`SENT`.
    """

    delivery: str = SENT
    #: The error that kept the task from being published (:data:`FAILED`).
    publish_error: BaseException | None = None
    #: The registered name of its task: known to the handles that
    #: ``defer_task`` returns, ``None`` for one made from a stored id.
    task_name: str | None = None

    def __init__(
        self,
        id: str,  # noqa: A002 (Celery's name)
        backend: Any = None,
        task_name: str | None = None,
        app: Any = None,
        parent: Any = None,
    ) -> None:
        # Celery takes the name and forgets it; its ``name`` property
        # asks the result backend instead.
        super().__init__(id, backend, None, app, parent)
        self.task_name = task_name

    @property
    def sent(self) -> bool:
        """Whether the task message reached the broker."""
        return self.delivery == SENT

    # The concurrent.futures.Future methods. ``result`` stays Celery's
    # property (Celery's own ``get`` reads it): wait with ``get(timeout)``
    # or ``future.result(timeout)``.

    @cached_property
    def future(self) -> TaskFuture:
        """A :class:`concurrent.futures.Future` following this task.

        It works with :func:`concurrent.futures.wait` and
        :func:`~concurrent.futures.as_completed`; until it is done, the
        application's shared poller thread watches it.

        .. versionadded:: 1.0
        """
        return TaskFuture(self)

    def done(self) -> bool:
        """Whether the task finished, failed, was revoked or dropped."""
        delivery = self.delivery
        if delivery in _ON_ITS_WAY:
            return bool(self.ready())
        return delivery != WAITING

    def running(self) -> bool:
        """Whether a worker runs it now (needs ``task_track_started``)."""
        return self.delivery in _ON_ITS_WAY and self.state == states.STARTED

    def cancelled(self) -> bool:
        """Whether the task was dropped before it was sent, or revoked."""
        delivery = self.delivery
        if delivery in _ON_ITS_WAY:
            return bool(self.state == states.REVOKED)
        return delivery == DROPPED

    def cancel(self) -> bool:
        """Cancel the task; return whether it is (or was) cancelled.

        A task still waiting for the commit is dropped and never sent, and
        one still in the outbox is deleted from it. A sent task that no
        worker started yet is revoked (best effort: workers alive now skip
        it). A started or finished task cannot be cancelled: ``False``.
        """
        delivery = self.delivery
        if delivery == WAITING or (
            delivery == STORED and self.app.outbox.cancel(self.id)
        ):
            self.delivery = DROPPED
            return True
        if delivery not in _ON_ITS_WAY:
            return delivery == DROPPED
        state = self.state
        if state in states.READY_STATES or state == states.STARTED:
            return bool(state == states.REVOKED)
        self.revoke()
        return True

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """Wait for the task; return its error, or ``None`` on success.

        :raises concurrent.futures.TimeoutError: not done in time.
        :raises concurrent.futures.CancelledError: it was cancelled.
        :raises concurrent.futures.InvalidStateError: it still waits for
            the transaction to commit.
        """
        return cast("BaseException | None", self.future.exception(timeout))

    def add_done_callback(self, fn: Callable[[TaskResult], Any]) -> None:
        """Call ``fn(handle)`` once the task is done, in the poller thread
        (or at once if it is done already)."""
        self.future.add_done_callback(lambda _future: fn(self))


class TaskGroupResult(GroupResult):
    """The handle of ``request.map_task``: a Celery
    :class:`~celery.result.GroupResult` with a pool-like API.

    Iterating it gives the :class:`~pyramid_tasks.TaskResult` of
    each item, in order.
    """

    @property
    def futures(self) -> list[TaskFuture]:
        """One :class:`TaskFuture` per item, in order."""
        return [handle.future for handle in self.results]

    def done(self) -> bool:
        """Whether every task is done."""
        return all(handle.done() for handle in self.results)

    def running(self) -> bool:
        """Whether any task runs now."""
        return any(handle.running() for handle in self.results)

    def cancelled(self) -> bool:
        """Whether any task was cancelled."""
        return any(handle.cancelled() for handle in self.results)

    def cancel(self) -> bool:
        """Cancel every task; return whether all of them are cancelled."""
        outcomes = [handle.cancel() for handle in self.results]
        return all(outcomes)

    def result(self, timeout: float | None = None) -> list[Any]:
        """Wait for every task; return their results in order.

        ``timeout`` bounds the whole wait. The first error is raised.

        :raises concurrent.futures.TimeoutError: not all done in time.
        :raises concurrent.futures.CancelledError: a task was cancelled.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        return [future.result(_remaining(deadline)) for future in self.futures]

    def exception(self, timeout: float | None = None) -> Any:
        """Wait for every task; return the first error, or ``None``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for future in self.futures:
            error = future.exception(_remaining(deadline))
            if error is not None:
                return error
        return None

    def add_done_callback(self, fn: Callable[[TaskGroupResult], Any]) -> None:
        """Call ``fn(group)`` once every task is done (poller thread)."""
        futures = self.futures
        left = [len(futures)]
        lock = threading.Lock()

        def one_done(_future: Future[Any]) -> None:
            with lock:
                left[0] -= 1
                last = left[0] == 0
            if last:
                fn(self)

        if not futures:
            fn(self)
        for future in futures:
            future.add_done_callback(one_done)


def _remaining(deadline: float | None) -> float | None:
    if deadline is None:
        return None
    return max(0.0, deadline - time.monotonic())
