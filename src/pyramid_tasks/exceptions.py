"""The errors and warnings of pyramid_tasks."""

from __future__ import annotations

from collections.abc import Iterable
import difflib

from kombu.exceptions import OperationalError


class DeferError(Exception):
    """Base class: the task was not queued and nothing was sent."""


class UnknownTaskError(DeferError, LookupError):
    """No task is registered under the given name or function."""

    def __init__(self, wanted: object, known: Iterable[str]) -> None:
        name = getattr(wanted, "__qualname__", None) or str(wanted)
        close = difflib.get_close_matches(
            str(getattr(wanted, "__name__", wanted)), list(known), n=3
        )
        hint = (
            f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        )
        super().__init__(f"No task is registered as {name!r}{hint}")
        self.wanted = wanted
        self.suggestions = close


class TaskArgumentsError(DeferError, TypeError):
    """The arguments do not fit the task function's signature."""


class TaskSerializationError(DeferError, TypeError):
    """An argument cannot be encoded by the task's serializer."""


class TaskOptionsError(DeferError, ValueError):
    """A well-known ``apply_async`` option has a value of the wrong kind.

    .. versionadded:: 1.0
    """


class WorkflowError(DeferError, TypeError):
    """A workflow that cannot be deferred: one with no task, one given
    arguments of its own, or one whose tasks would run without a Pyramid
    request (``starmap``, ``chunks``).

    .. versionadded:: 1.0
    """


class OutboxError(DeferError):
    """A task cannot be stored in the outbox: the session is not joined
    to the transaction, or the outbox table is missing.

    .. versionadded:: 1.0
    """


class TaskPublishError(DeferError, OperationalError):
    """The broker could not be reached to send a task right away.

    A :class:`kombu.exceptions.OperationalError`, so code catching that
    keeps working; the message names the task and the broker.

    .. versionadded:: 1.0
    """


class NotInTaskError(RuntimeError):
    """A task-only request method was called on a request that runs no
    task, such as a view's (``request.report_progress``).

    .. versionadded:: 1.0
    """


class TaskContextRejected(Exception):
    """A task message's context is unsigned, forged or malformed.

    The task does not run. Raised in the worker when
    ``pyramid_tasks.context_secret`` is set and the signature of the
    carried context (or of the explicit ``environ`` header) is missing
    or does not match.
    """


class UnknownCelerySetting(UserWarning):
    """A ``celery.*`` setting that Celery does not know."""


class UnsafeSerializerWarning(UserWarning):
    """Celery is configured to accept an unsafe serializer such as pickle."""


class ScheduleTimezoneWarning(UserWarning):
    """A crontab entry runs at UTC times because no timezone is set."""
