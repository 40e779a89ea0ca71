"""Commit-aware publishing: tasks follow the request's transaction.

Tasks deferred while a transaction is active are held in one batch per
transaction. After a successful commit the batch is published over a
single pooled producer, pipelined in one round trip per 100 tasks where
the transport allows it (Redis); when the transaction aborts it is
dropped.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.utils import uuid
from kombu.exceptions import KombuError, OperationalError

from .events import (
    DeferredTaskDropped,
    DeferredTaskPublished,
    DeferredTaskPublishFailed,
)
from .redact import redact_urls
from .result import DROPPED, FAILED, SENT, WAITING, TaskResult

__all__ = ["active_transaction", "defer_until_commit"]

log = logging.getLogger(__name__)

#: Tasks sent in one round trip after commit, where the transport can
#: pipeline publishes (Redis).
PIPELINE_SIZE = 100
# Redis commands kombu may buffer before flushing on its own: one push
# per message, plus one expiry per priority level for expiring queues.
_MAX_BUFFERED = PIPELINE_SIZE * 16


def active_transaction(request):
    """The transaction a deferred task should wait for, or ``None``."""
    environ = request.environ
    if not environ.get("tm.active"):
        return None
    manager = environ.get("tm.manager")
    if manager is None:
        return None
    return manager.get()


class _Deferred:
    __slots__ = ("task", "args", "kwargs", "options", "result", "request")

    def __init__(self, task, args, kwargs, options, result, request=None):
        self.task = task
        self.args = args
        self.kwargs = kwargs
        self.options = options
        self.result = result
        self.request = request


class CommitBatch:
    """The tasks deferred during one transaction."""

    def __init__(self, app) -> None:
        self.app = app
        self.entries: list[_Deferred] = []

    def after_commit(self, committed: bool) -> None:
        if committed:
            self.publish()
        else:
            self.drop()

    def drop(self) -> None:
        entries, self.entries = self.entries, []
        registry = self.app.registry
        for entry in entries:
            if entry.result.delivery == WAITING:
                entry.result.delivery = DROPPED
                if registry.has_listeners:
                    registry.notify(
                        DeferredTaskDropped(
                            entry.request, entry.task, entry.result
                        )
                    )

    def publish(self) -> None:
        """Send every task over one producer; report what could not be sent."""
        # A handle cancelled while waiting is not sent.
        entries = [e for e in self.entries if e.result.delivery == WAITING]
        self.entries = []
        publisher = self.app.task_publisher
        if publisher is not None:
            for entry in entries:
                options = dict(entry.options, task_id=entry.result.id)
                publisher.send(entry.task, entry.args, entry.kwargs, options)
                self._sent(entry)
            return
        with self.app.producer_or_acquire() as producer:
            if getattr(producer, "supports_batch_publish", False):
                entries = self._publish_pipelined(producer, entries)
            self._publish_each(producer, entries)

    def _publish_pipelined(self, producer, entries: list) -> list:
        """Send ``entries`` ``PIPELINE_SIZE`` at a time in one round trip.

        Used where the transport can batch publishes (kombu >= 5.7 on
        Redis). Each message is still built by ``apply_async``, so every
        Celery option applies. When the broker fails, the entries not
        known to be sent are returned, to go one by one with Celery's
        publish retries.
        """
        start = 0
        try:
            with producer.batch(max_size=_MAX_BUFFERED) as batch:
                for start in range(0, len(entries), PIPELINE_SIZE):
                    buffered = []
                    for entry in entries[start : start + PIPELINE_SIZE]:
                        try:
                            self._apply(entry, producer)
                        except OperationalError:
                            raise
                        except Exception as exc:
                            self._failed(entry, exc)
                        else:
                            buffered.append(entry)
                    batch.flush()
                    for entry in buffered:
                        self._sent(entry)
        except KombuError:
            # A failed pipeline leaves its delivery uncertain; sending
            # again is Celery's own at-least-once answer to that.
            return [e for e in entries[start:] if e.result.delivery == WAITING]
        return []

    def _publish_each(self, producer, entries: list) -> None:
        broker_down = None
        for entry in entries:
            if broker_down is not None:
                self._failed(entry, broker_down)
                continue
            try:
                self._apply(entry, producer)
            except OperationalError as exc:
                # Celery already retried per task_publish_retry_policy;
                # the rest of the batch would only wait to fail too.
                broker_down = exc
                self._failed(entry, exc)
            except Exception as exc:
                self._failed(entry, exc)
            else:
                self._sent(entry)

    @staticmethod
    def _apply(entry: _Deferred, producer) -> None:
        entry.task.apply_async(
            entry.args,
            entry.kwargs,
            task_id=entry.result.id,
            producer=producer,
            **entry.options,
        )

    def _sent(self, entry: _Deferred) -> None:
        entry.result.delivery = SENT
        registry = self.app.registry
        if registry.has_listeners:
            registry.notify(
                DeferredTaskPublished(entry.request, entry.task, entry.result)
            )

    def _failed(self, entry: _Deferred, exc: BaseException) -> None:
        entry.result.delivery = FAILED
        entry.result.publish_error = exc
        log.error(
            "Task %s[%s] was not published after commit: %s",
            entry.task.name,
            entry.result.id,
            redact_urls(exc),
        )
        registry = self.app.registry
        registry.notify(
            DeferredTaskPublishFailed(
                registry,
                entry.task.name,
                entry.result.id,
                entry.args,
                entry.kwargs,
                entry.options,
                exc,
            )
        )


def defer_until_commit(
    app,
    transaction,
    task,
    args: tuple,
    kwargs: dict,
    options: dict[str, Any],
    request=None,
) -> TaskResult:
    """Hold ``task`` until ``transaction`` commits; return its handle."""
    try:
        batch = transaction.data(app)
    except KeyError:
        batch = CommitBatch(app)
        transaction.set_data(app, batch)
        transaction.addAfterCommitHook(batch.after_commit)
        transaction.addAfterAbortHook(batch.drop)
    task_id = options.pop("task_id", None) or uuid()
    result = app.AsyncResult(
        task_id, task_name=task.name, backend=task.backend
    )
    result.delivery = WAITING
    batch.entries.append(
        _Deferred(task, args, kwargs, options, result, request)
    )
    if app.task_publisher is not None:
        app.task_publisher.hold(task, args, kwargs, options, result)
    return result
