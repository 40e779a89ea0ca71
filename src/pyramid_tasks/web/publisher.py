"""Sending task messages to the broker.

An application's :attr:`~pyramid_tasks.PyramidCelery.publisher` sends
every message: one at once (:meth:`BrokerPublisher.publish`), or the
batch of a transaction after its commit (:meth:`~BrokerPublisher.
publish_batch`), over a single pooled producer, 100 messages at a time
in one round trip on Redis and in one socket write on RabbitMQ. The
testing kit's capture is another publisher with the same methods.

A message is published inside a :class:`PublishScope`: there,
:meth:`PyramidTask.apply_async <pyramid_tasks.PyramidTask.apply_async>`
sends at once over the scope's producer (or hands the message to the
scope's sink), which is how a workflow's tasks go out together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import partial
import logging
from typing import Any

from celery import Task
from kombu.exceptions import KombuError, OperationalError
from kombu.utils.url import maybe_sanitize_url

from ..events import DeferredTaskPublished, DeferredTaskPublishFailed
from ..exceptions import TaskPublishError
from ..redact import redact_urls
from .framebuffer import FrameBuffer
from .states import FAILED, SENT, WAITING

__all__ = [
    "BrokerPublisher",
    "Message",
    "PublishScope",
    "current_scope",
    "report_failed",
    "report_sent",
]

log = logging.getLogger(__name__)

#: Messages sent in one round trip after commit, where the transport can
#: pipeline publishes (Redis).
PIPELINE_SIZE = 100
# Redis commands kombu may buffer before flushing on its own: one push
# per message, plus one expiry per priority level for expiring queues.
_MAX_BUFFERED = PIPELINE_SIZE * 16


@dataclass(slots=True)
class PublishScope:
    """Where task publishes go while it is entered.

    :ivar producer: the producer every publish uses, if any.
    :ivar sink: an object whose ``intercept(task, args, kwargs, options)``
        takes the publish instead of the broker (the testing kit).
    :ivar sent: the ids published in this scope, in order.
    """

    producer: Any = None
    sink: Any = None
    sent: list[str] = field(default_factory=list)

    def __enter__(self) -> PublishScope:
        self._token = _SCOPE.set(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        _SCOPE.reset(self._token)

    _token: Any = None


_SCOPE: ContextVar[PublishScope | None] = ContextVar(
    "pyramid_tasks_publish_scope", default=None
)


def current_scope() -> PublishScope | None:
    """The scope of the publish in progress in this context, if any."""
    return _SCOPE.get()


def suspend_scope() -> Any:
    """Leave the current scope until :func:`resume_scope`: a task run
    inside a publish (eager mode, the testing kit) is application code."""
    return _SCOPE.set(None)


def resume_scope(token: Any) -> None:
    """Enter again the scope :func:`suspend_scope` left."""
    _SCOPE.reset(token)


@dataclass(slots=True)
class Entry:
    """One task of a message, as events and failure reports name it."""

    task: Task
    result: Any
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    options: dict[str, Any]
    place: str = ""


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

    @property
    def name(self) -> str:
        return self.task.name  # type: ignore[no-any-return]

    def entries(self) -> Iterator[Entry]:
        """The one task of this message."""
        yield Entry(
            self.task, self.result, self.args, self.kwargs, self.options
        )

    def waiting(self) -> bool:
        """Whether it still waits to be sent (not cancelled)."""
        return bool(self.result.delivery == WAITING)

    def apply(self) -> Any:
        """Publish with Celery's ``apply_async``; return its handle.

        Called inside a :class:`PublishScope`.
        """
        options = self.options
        if self.result is not None:
            options = dict(options, task_id=self.result.id)
        return self.task.apply_async(self.args, self.kwargs, **options)


class BrokerPublisher:
    """Publishes with ``apply_async``, so every Celery option applies.

    :param app: the :class:`~pyramid_tasks.PyramidCelery` it sends for.
    :param on_sent: ``on_sent(app, message)`` when a held message of a
        batch was sent (default: :func:`report_sent`).
    :param on_failed: ``on_failed(app, message, exc, scope)`` when it was
        not (default: :func:`report_failed`).
    """

    def __init__(
        self,
        app: Any,
        on_sent: Any = None,
        on_failed: Any = None,
    ) -> None:
        self.app = app
        self.on_sent = on_sent or report_sent
        self.on_failed = on_failed or report_failed

    def held(self, message: Any) -> None:
        """``message`` now waits for a transaction to commit."""

    def publish(self, message: Any) -> Any:
        """Send ``message`` now; return the handle.

        :raises kombu.exceptions.EncodeError: an argument cannot be
            encoded.
        :raises pyramid_tasks.TaskPublishError: the broker could not be
            reached after Celery's publish retries.
        """
        try:
            if isinstance(message, Message):
                # One message: apply_async acquires its producer.
                with PublishScope():
                    return message.apply()
            # A workflow: all its first publishes over one producer.
            with self.app.producer_or_acquire() as producer:
                with PublishScope(producer):
                    return message.apply()
        except OperationalError as exc:
            # Celery retried per task_publish_retry_policy; name the broker.
            uri = self.app.connection_for_write().as_uri(include_password=True)
            raise TaskPublishError(
                f"Task {message.name!r} could not be sent to "
                f"{maybe_sanitize_url(uri)}: {exc}"
            ) from exc

    def publish_batch(self, messages: list[Any]) -> None:
        """Send every message over one producer; report each outcome.

        ``PIPELINE_SIZE`` messages at a time go out in one round trip on
        Redis (kombu's batch publish) and in one socket write on
        RabbitMQ (a :class:`.FrameBuffer`). Each message is still built
        and published by ``apply_async``, so every Celery option
        applies. When the broker fails, the messages not known to be
        sent go one by one with Celery's publish retries.

        Nothing is raised: each handle says ``sent`` or ``failed``, and a
        failure is logged and reported by ``DeferredTaskPublishFailed``.
        """
        with self.app.producer_or_acquire() as producer:
            try:
                if getattr(producer, "supports_batch_publish", False):
                    with producer.batch(max_size=_MAX_BUFFERED) as batch:
                        self._publish_chunks(
                            producer, messages, partial(_flushing, batch)
                        )
                elif (buffer := FrameBuffer.of(producer)) is not None:
                    self._publish_chunks(producer, messages, buffer.reuse)
            except (KombuError, OSError):
                # A failed write leaves its delivery uncertain; sending
                # again is Celery's own at-least-once answer to that.
                pass
            self._publish_each(
                producer,
                [message for message in messages if message.waiting()],
            )

    def _publish_chunks(
        self,
        producer: Any,
        messages: list[Any],
        chunk: Callable[[], AbstractContextManager[Any]],
    ) -> None:
        """Publish ``PIPELINE_SIZE`` messages in each ``chunk()``, which
        sends them when it exits; then report them sent."""
        for start in range(0, len(messages), PIPELINE_SIZE):
            buffered = []
            with chunk():
                for message in messages[start : start + PIPELINE_SIZE]:
                    with PublishScope(producer) as scope:
                        try:
                            message.apply()
                        except OperationalError:
                            raise
                        except Exception as exc:
                            self.on_failed(self.app, message, exc, scope)
                        else:
                            buffered.append(message)
            for message in buffered:
                self.on_sent(self.app, message)

    def _publish_each(self, producer: Any, messages: list[Any]) -> None:
        broker_down = None
        for message in messages:
            if broker_down is not None:
                self.on_failed(self.app, message, broker_down, None)
                continue
            with PublishScope(producer) as scope:
                try:
                    message.apply()
                except OperationalError as exc:
                    # Celery already retried per task_publish_retry_policy;
                    # the rest of the batch would only wait to fail too.
                    broker_down = exc
                    self.on_failed(self.app, message, exc, scope)
                except Exception as exc:
                    self.on_failed(self.app, message, exc, scope)
                else:
                    self.on_sent(self.app, message)


@contextmanager
def _flushing(batch: Any) -> Iterator[None]:
    """Send what kombu's batch holds when the block exits."""
    yield
    batch.flush()


def report_sent(app: Any, message: Any) -> None:
    """Mark a held message sent and fire ``DeferredTaskPublished``."""
    registry = app.registry
    for entry in message.entries():
        entry.result.delivery = SENT
        if registry.has_listeners:
            registry.notify(
                DeferredTaskPublished(
                    message.request, entry.task, entry.result
                )
            )


def report_failed(
    app: Any,
    message: Any,
    exc: BaseException,
    scope: PublishScope | None = None,
) -> None:
    """Mark the tasks of a held message that were not sent failed: log
    them, fire the event. A workflow may have sent some of its tasks
    (``scope.sent``) before the error."""
    registry = app.registry
    sent = set(scope.sent) if scope is not None else set()
    for entry in message.entries():
        result = entry.result
        if result.id in sent:
            result.delivery = SENT
            continue
        result.delivery = FAILED
        result.publish_error = exc
        log.error(
            "Task %s[%s] was not published after commit: %s",
            entry.task.name,
            result.id,
            redact_urls(exc),
        )
        registry.notify(
            DeferredTaskPublishFailed(
                registry,
                entry.task.name,
                result.id,
                entry.args,
                entry.kwargs,
                entry.options,
                exc,
            )
        )
