"""Sending task messages to the broker.

An application's :attr:`~pyramid_tasks.PyramidCelery.publisher` sends
every message: one at once (:meth:`BrokerPublisher.publish`), or the
batch of a transaction after its commit (:meth:`~BrokerPublisher.
publish_batch`), over a single pooled producer and pipelined in one
round trip per 100 tasks where the transport allows it (Redis). The
testing kit's capture is another publisher with the same methods.
"""

from __future__ import annotations

from dataclasses import dataclass
import logging
from typing import Any

from celery import Task
from kombu.exceptions import KombuError, OperationalError
from kombu.utils.url import maybe_sanitize_url

from ..events import DeferredTaskPublished, DeferredTaskPublishFailed
from ..exceptions import TaskPublishError
from ..redact import redact_urls
from .states import FAILED, SENT, WAITING

__all__ = ["BrokerPublisher", "Message", "report_failed", "report_sent"]

log = logging.getLogger(__name__)

#: Tasks sent in one round trip after commit, where the transport can
#: pipeline publishes (Redis).
PIPELINE_SIZE = 100
# Redis commands kombu may buffer before flushing on its own: one push
# per message, plus one expiry per priority level for expiring queues.
_MAX_BUFFERED = PIPELINE_SIZE * 16


@dataclass(slots=True)
class Message:
    """One deferred task on its way to the broker.

    :ivar task: the Celery task.
    :ivar args: the positional arguments.
    :ivar kwargs: the keyword arguments.
    :ivar options: the ``apply_async`` options.
    :ivar result: the caller's handle, once it exists.
    :ivar request: the request that deferred it, if any.
    """

    task: Task
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    options: dict[str, Any]
    result: Any = None
    request: Any = None

    def apply(self, producer: Any = None) -> Any:
        """Publish with Celery's ``apply_async``; return its handle."""
        options = self.options
        if self.result is not None:
            options = dict(options, task_id=self.result.id)
        return self.task.apply_async(
            self.args, self.kwargs, producer=producer, **options
        )


class BrokerPublisher:
    """Publishes with ``apply_async``, so every Celery option applies.

    :param app: the :class:`~pyramid_tasks.PyramidCelery` it sends for.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    def held(self, message: Message) -> None:
        """``message`` now waits for a transaction to commit."""

    def publish(self, message: Message) -> Any:
        """Send ``message`` now; return the handle.

        :raises kombu.exceptions.EncodeError: an argument cannot be
            encoded.
        :raises pyramid_tasks.TaskPublishError: the broker could not be
            reached after Celery's publish retries.
        """
        try:
            return message.apply()
        except OperationalError as exc:
            # Celery retried per task_publish_retry_policy; name the broker.
            uri = self.app.connection_for_write().as_uri(include_password=True)
            raise TaskPublishError(
                f"Task {message.task.name!r} could not be sent to "
                f"{maybe_sanitize_url(uri)}: {exc}"
            ) from exc

    def publish_batch(self, messages: list[Message]) -> None:
        """Send every message over one producer; report each outcome.

        Nothing is raised: each handle says ``sent`` or ``failed``, and a
        failure is logged and reported by ``DeferredTaskPublishFailed``.
        """
        with self.app.producer_or_acquire() as producer:
            if getattr(producer, "supports_batch_publish", False):
                messages = self._publish_pipelined(producer, messages)
            self._publish_each(producer, messages)

    def _publish_pipelined(
        self, producer: Any, messages: list[Message]
    ) -> list[Message]:
        """Send ``messages`` ``PIPELINE_SIZE`` at a time in one round trip.

        Used where the transport can batch publishes (kombu >= 5.7 on
        Redis). Each message is still built by ``apply_async``, so every
        Celery option applies. When the broker fails, the messages not
        known to be sent are returned, to go one by one with Celery's
        publish retries.
        """
        start = 0
        try:
            with producer.batch(max_size=_MAX_BUFFERED) as batch:
                for start in range(0, len(messages), PIPELINE_SIZE):
                    buffered = []
                    for message in messages[start : start + PIPELINE_SIZE]:
                        try:
                            message.apply(producer)
                        except OperationalError:
                            raise
                        except Exception as exc:
                            report_failed(self.app, message, exc)
                        else:
                            buffered.append(message)
                    batch.flush()
                    for message in buffered:
                        report_sent(self.app, message)
        except KombuError:
            # A failed pipeline leaves its delivery uncertain; sending
            # again is Celery's own at-least-once answer to that.
            return [
                m for m in messages[start:] if m.result.delivery == WAITING
            ]
        return []

    def _publish_each(self, producer: Any, messages: list[Message]) -> None:
        broker_down = None
        for message in messages:
            if broker_down is not None:
                report_failed(self.app, message, broker_down)
                continue
            try:
                message.apply(producer)
            except OperationalError as exc:
                # Celery already retried per task_publish_retry_policy;
                # the rest of the batch would only wait to fail too.
                broker_down = exc
                report_failed(self.app, message, exc)
            except Exception as exc:
                report_failed(self.app, message, exc)
            else:
                report_sent(self.app, message)


def report_sent(app: Any, message: Message) -> None:
    """Mark a held message sent and fire ``DeferredTaskPublished``."""
    message.result.delivery = SENT
    registry = app.registry
    if registry.has_listeners:
        registry.notify(
            DeferredTaskPublished(
                message.request, message.task, message.result
            )
        )


def report_failed(app: Any, message: Message, exc: BaseException) -> None:
    """Mark a held message failed: log it, fire the event."""
    result = message.result
    result.delivery = FAILED
    result.publish_error = exc
    log.error(
        "Task %s[%s] was not published after commit: %s",
        message.task.name,
        result.id,
        redact_urls(exc),
    )
    app.registry.notify(
        DeferredTaskPublishFailed(
            app.registry,
            message.task.name,
            result.id,
            message.args,
            message.kwargs,
            message.options,
            exc,
        )
    )
