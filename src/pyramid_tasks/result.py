"""The handle returned by ``request.defer_task``."""

from __future__ import annotations

from celery.result import AsyncResult

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

    @property
    def sent(self) -> bool:
        """Whether the task message reached the broker."""
        return self.delivery == SENT
