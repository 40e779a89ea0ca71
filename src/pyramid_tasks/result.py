"""The handle returned by ``request.defer_task``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from celery import states
from celery.result import AsyncResult

if TYPE_CHECKING:  # pragma: no cover
    from .futures import TaskFuture

__all__ = ["TaskResult", "SENT", "WAITING", "DROPPED", "FAILED"]

#: The task message was handed to the broker.
SENT = "sent"
#: The task waits for the transaction to commit before it is sent.
WAITING = "waiting"
#: The transaction aborted, so the task was never sent.
DROPPED = "dropped"
#: The transaction committed but publishing failed after every retry.
FAILED = "failed"


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

    @property
    def sent(self) -> bool:
        """Whether the task message reached the broker."""
        return self.delivery == SENT

    # The concurrent.futures.Future methods. ``result`` stays Celery's
    # property (Celery's own ``get`` reads it): wait with ``get(timeout)``
    # or ``future.result(timeout)``.

    @property
    def future(self) -> TaskFuture:
        """A :class:`concurrent.futures.Future` following this task.

        It works with :func:`concurrent.futures.wait` and
        :func:`~concurrent.futures.as_completed`; until it is done, the
        application's shared poller thread watches it.

        .. versionadded:: 1.0
        """
        future = self.__dict__.get("_future")
        if future is None:
            from .futures import TaskFuture

            future = self._future = TaskFuture(self)
        return future

    def done(self) -> bool:
        """Whether the task finished, failed, was revoked or dropped."""
        delivery = self.delivery
        if delivery == SENT:
            return self.ready()
        return delivery != WAITING

    def running(self) -> bool:
        """Whether a worker runs it now (needs ``task_track_started``)."""
        return self.delivery == SENT and self.state == states.STARTED

    def cancelled(self) -> bool:
        """Whether the task was dropped before it was sent, or revoked."""
        delivery = self.delivery
        if delivery == SENT:
            return self.state == states.REVOKED
        return delivery == DROPPED

    def cancel(self) -> bool:
        """Cancel the task; return whether it is (or was) cancelled.

        A task still waiting for the commit is dropped and never sent. A
        sent task that no worker started yet is revoked (best effort:
        workers alive now skip it). A started or finished task cannot be
        cancelled: ``False``.
        """
        delivery = self.delivery
        if delivery == WAITING:
            self.delivery = DROPPED
            return True
        if delivery != SENT:
            return delivery == DROPPED
        state = self.state
        if state in states.READY_STATES or state == states.STARTED:
            return state == states.REVOKED
        self.revoke()
        return True

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """Wait for the task; return its error, or ``None`` on success.

        :raises concurrent.futures.TimeoutError: not done in time.
        :raises concurrent.futures.CancelledError: it was cancelled.
        :raises concurrent.futures.InvalidStateError: it still waits for
            the transaction to commit.
        """
        return self.future.exception(timeout)

    def add_done_callback(self, fn: Callable[[TaskResult], Any]) -> None:
        """Call ``fn(handle)`` once the task is done, in the poller thread
        (or at once if it is done already)."""
        self.future.add_done_callback(lambda _future: fn(self))
