"""Commit-aware delivery: tasks follow the request's transaction.

Tasks deferred while a transaction is active are held in one batch per
transaction. After a successful commit the application's publisher sends
the batch; when the transaction aborts (or is doomed, or vetoed) the
batch is dropped and nothing is sent.
"""

from __future__ import annotations

from typing import Any

from celery.utils import uuid

from ..events import DeferredTaskDropped
from .publisher import Message
from .states import DROPPED, WAITING

__all__ = ["CommitBatch", "active_transaction", "defer_until_commit"]


def active_transaction(request: Any) -> Any:
    """The transaction a deferred task should wait for, or ``None``.

    That is the transaction of ``request.tm`` while pyramid_tm (or
    :mod:`pyramid_tasks.transaction` in a task) manages the request.
    """
    environ = request.environ
    if not environ.get("tm.active"):
        return None
    manager = environ.get("tm.manager")
    return None if manager is None else manager.get()


class CommitBatch:
    """The messages deferred during one transaction.

    :ivar messages: the held :class:`~.publisher.Message` objects.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.messages: list[Message] = []

    def after_commit(self, committed: bool) -> None:
        """The transaction's after-commit hook."""
        if committed:
            self.publish()
        else:
            self.drop()

    def publish(self) -> None:
        """Hand the waiting messages to the publisher."""
        # A handle cancelled while waiting is not sent.
        waiting = [m for m in self.messages if m.result.delivery == WAITING]
        self.messages = []
        self.app.publisher.publish_batch(waiting)

    def drop(self) -> None:
        """Forget every message: the transaction did not commit."""
        messages, self.messages = self.messages, []
        registry = self.app.registry
        for message in messages:
            if message.result.delivery == WAITING:
                message.result.delivery = DROPPED
                if registry.has_listeners:
                    registry.notify(
                        DeferredTaskDropped(
                            message.request, message.task, message.result
                        )
                    )


def defer_until_commit(app: Any, transaction: Any, message: Message) -> Any:
    """Hold ``message`` until ``transaction`` commits; return its handle."""
    try:
        batch = transaction.data(app)
    except KeyError:
        batch = CommitBatch(app)
        transaction.set_data(app, batch)
        transaction.addAfterCommitHook(batch.after_commit)
        transaction.addAfterAbortHook(batch.drop)
    task = message.task
    task_id = message.options.pop("task_id", None) or uuid()
    result = message.result = app.AsyncResult(
        task_id, task_name=task.name, backend=task.backend
    )
    result.delivery = WAITING
    batch.messages.append(message)
    app.publisher.held(message)
    return result
