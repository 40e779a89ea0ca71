"""Commit-aware delivery: tasks follow the request's transaction.

Tasks deferred while a transaction is active are held in one batch per
transaction. After a successful commit the application's publisher sends
the batch; when the transaction aborts (or is doomed, or vetoed) the
batch is dropped and nothing is sent.
"""

from __future__ import annotations

from typing import Any

from ..events import DeferredTaskDropped
from .states import DROPPED, WAITING

__all__ = [
    "CommitBatch",
    "active_transaction",
    "drop_messages",
    "hold_until_commit",
]


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

    :ivar messages: the held messages: single tasks
        (:class:`~.publisher.Message`) and workflows
        (:class:`~.canvas.CanvasMessage`).
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.messages: list[Any] = []

    def after_commit(self, committed: bool) -> None:
        """The transaction's after-commit hook."""
        if committed:
            self.publish()
        else:
            self.drop()

    def publish(self) -> None:
        """Hand the waiting messages to the publisher."""
        messages, self.messages = self.messages, []
        waiting = []
        for message in messages:
            if message.waiting():
                waiting.append(message)
            else:
                # A cancelled handle: its message (all of a workflow) is
                # dropped silently.
                _drop(message)
        self.app.publisher.publish_batch(waiting)

    def drop(self) -> None:
        """Forget every message: the transaction did not commit."""
        messages, self.messages = self.messages, []
        drop_messages(self.app, messages, WAITING)


def _drop(message: Any, delivery: str = WAITING) -> list[Any]:
    """Mark the tasks of ``message`` still ``delivery`` dropped; return
    them."""
    dropped = []
    for entry in message.entries():
        if entry.result.delivery == delivery:
            entry.result.delivery = DROPPED
            dropped.append(entry)
    return dropped


def drop_messages(app: Any, messages: list[Any], delivery: str) -> None:
    """The transaction of ``messages`` aborted: those of their tasks still
    ``delivery`` are dropped, and ``DeferredTaskDropped`` says so."""
    registry = app.registry
    for message in messages:
        for entry in _drop(message, delivery):
            if registry.has_listeners:
                registry.notify(
                    DeferredTaskDropped(
                        message.request, entry.task, entry.result
                    )
                )


def hold_until_commit(app: Any, transaction: Any, message: Any) -> None:
    """Hold ``message`` until ``transaction`` commits; drop it if the
    transaction aborts. Its handles say ``waiting`` meanwhile."""
    try:
        batch = transaction.data(app)
    except KeyError:
        batch = CommitBatch(app)
        transaction.set_data(app, batch)
        transaction.addAfterCommitHook(batch.after_commit)
        transaction.addAfterAbortHook(batch.drop)
    batch.messages.append(message)
    app.publisher.held(message)
