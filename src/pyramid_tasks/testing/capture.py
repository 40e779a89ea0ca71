"""Capture deferred tasks in tests instead of sending them.

:func:`capture_tasks` installs a :class:`TaskCapture` as the app's
publisher: deferral works as in production (argument and serializer
checks, events, waiting for the commit) up to the broker, which is never
contacted. Each task becomes a :class:`~.captured.CapturedTask` that runs
on demand through the real path. In *inline* mode each task runs when
the request that deferred it has finished (after its transaction
committed), never inside it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import contextlib
from typing import Any

from celery.utils import uuid
from pyramid.threadlocal import get_current_request

from ..application import PyramidCelery
from ..web.publisher import Entry, PublishScope, report_sent
from .captured import CapturedTask

__all__ = ["TaskCapture", "capture_tasks"]


class TaskCapture:
    """Records the tasks an application defers; install with
    :func:`capture_tasks`.

    Deferral works as in production (argument and serializer checks,
    events, waiting for the commit) up to the broker, which is never
    contacted. A workflow is recorded task by task, each with its
    ``place`` in it; its tasks are published as Celery publishes them (a
    chain's next task once the one before has run). In inline mode each
    published task is run once the current request has finished (at once
    outside a request).

    :ivar tasks: every :class:`CapturedTask`, in order.
    :ivar inline: whether tasks run by themselves.
    :ivar raise_errors: in inline mode, re-raise the first task error.
    """

    def __init__(
        self,
        app: PyramidCelery,
        inline: bool = False,
        raise_errors: bool = True,
    ) -> None:
        self.app = app
        self._previous: Any = None
        self.inline = inline
        self.raise_errors = raise_errors
        self.tasks: list[CapturedTask] = []
        self._by_id: dict[str, CapturedTask] = {}
        self._due: list[CapturedTask] = []

    # The publisher protocol (see PyramidCelery.publisher).

    def held(self, message: Any) -> None:
        """Record the tasks of a message that waits for its commit."""
        for entry in message.entries():
            self._record(entry, True)

    def publish(self, message: Any) -> Any:
        """Record a message sent at once; return its handle."""
        if message.result is None:  # a single task: its id is chosen now
            task_id = message.options.get("task_id") or uuid()
            message.result = message.task.AsyncResult(task_id)
        for entry in message.entries():
            self._record(entry, False)
        self._release(message)
        return message.result

    def publish_batch(self, messages: list[Any]) -> None:
        """The transaction committed: its tasks count as sent."""
        for message in messages:
            for entry in message.entries():
                if entry.result.id not in self._by_id:
                    # Captured since the task was held.
                    self._record(entry, True)
            report_sent(self.app, message)
            self._release(message)

    def _release(self, message: Any) -> None:
        """Let Celery build the message's publishes, into this capture:
        a workflow starts with its first tasks, as on a broker."""
        with PublishScope(sink=self):
            message.apply()

    def intercept(
        self,
        task: Any,
        args: Any,
        kwargs: Any,
        task_id: str | None,
        link: Any,
        link_error: Any,
        options: dict[str, Any],
    ) -> Any:
        """Take a publish Celery makes, instead of the broker."""
        options = dict(options)
        if link is not None:
            options["link"] = link
        if link_error is not None:
            options["link_error"] = link_error
        record = self._by_id.get(task_id) if task_id else None
        if record is None:
            handle = task.AsyncResult(task_id or uuid())
            entry = Entry(
                task, handle, tuple(args or ()), kwargs or {}, options
            )
            record = self._record(entry, False)
        else:
            record.published_with(args or (), kwargs or {}, options)
        record.published = True
        if self.inline:
            self._schedule(record)
        return record.result

    def _record(self, entry: Entry, after_commit: bool) -> CapturedTask:
        record = CapturedTask(
            entry.task,
            entry.args,
            entry.kwargs,
            entry.options,
            entry.result,
            after_commit,
            capture=self,
            place=entry.place,
        )
        self._by_id[record.id] = record
        self.tasks.append(record)
        return record

    # Inspecting.

    def __iter__(self) -> Iterator[CapturedTask]:
        return iter(self.tasks)

    def __len__(self) -> int:
        return len(self.tasks)

    def __getitem__(self, index: int) -> CapturedTask:
        return self.tasks[index]

    def named(
        self, func_or_name: Callable[..., Any] | str
    ) -> list[CapturedTask]:
        """The captured tasks of one task function or name."""
        name = self._name(func_or_name)
        return [record for record in self.tasks if record.name == name]

    def assert_deferred(
        self,
        func_or_name: Callable[..., Any] | str,
        *args: Any,
        after_commit: bool | None = None,
        **kwargs: Any,
    ) -> CapturedTask:
        """Return the task deferred with exactly these arguments.

        :param after_commit: also require that it waited for a commit
            that happened (``True``) or that it did not wait (``False``).
        :raises AssertionError: no such task; the message lists what was
            captured.
        """
        name = self._name(func_or_name)
        for record in self.tasks:
            if (
                record.name == name
                and record.args == args
                and record.kwargs == kwargs
                and (
                    after_commit is None
                    or (
                        record.committed
                        if after_commit
                        else not record.after_commit
                    )
                )
            ):
                return record
        arguments = [repr(a) for a in args] + [
            f"{k}={v!r}" for k, v in kwargs.items()
        ]
        wanted = f"{name}({', '.join(arguments)})"
        if after_commit is not None:
            wanted += " after commit" if after_commit else " at once"
        raise AssertionError(
            f"{wanted} was not deferred; captured: {self.tasks!r}"
        )

    def run_all(self) -> list[Any]:
        """Run every sent task not run yet, including the tasks they
        defer; return their results in order.

        :raises Exception: the first task error, after running the rest.
        """
        results, errors = [], []
        index = 0
        while index < len(self.tasks):
            record = self.tasks[index]
            index += 1
            if record.published and record.outcome is None:
                try:
                    results.append(record.run())
                except Exception as exc:  # noqa: BLE001 - reported below
                    results.append(exc)
                    errors.append(exc)
        if errors:
            raise errors[0]
        return results

    def clear(self) -> None:
        """Forget every captured task."""
        self.tasks = []
        self._by_id = {}
        self._due = []

    # Installing.

    def install(self) -> TaskCapture:
        """Become the app's publisher."""
        if isinstance(self.app.publisher, TaskCapture):
            raise RuntimeError("Tasks are already captured for this app")
        self._previous, self.app.publisher = self.app.publisher, self
        return self

    def uninstall(self) -> None:
        """Give the app its publisher back."""
        if self.app.publisher is self:
            self.app.publisher = self._previous

    def _schedule(self, record: CapturedTask) -> None:
        request = get_current_request()
        self._due.append(record)
        if request is None:
            self._run_due()
        elif len(self._due) == 1:
            request.add_finished_callback(lambda _request: self._run_due())

    def _run_due(self) -> None:
        errors = []
        while self._due:
            record = self._due.pop(0)
            try:
                record.run()
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
        if errors and self.raise_errors:
            raise errors[0]

    def _name(self, func_or_name: Callable[..., Any] | str) -> str:
        if isinstance(func_or_name, str):
            return func_or_name
        return self.app.lookup_task(func_or_name).name  # type: ignore[no-any-return]


@contextlib.contextmanager
def capture_tasks(
    target: Any, inline: bool = False, raise_errors: bool = True
) -> Iterator[TaskCapture]:
    """Capture the tasks deferred by an application while in the block.

    ``target`` is the Celery app, the registry, a configurator or a
    request::

        with capture_tasks(request.registry) as captured:
            view(request)
        captured.assert_deferred(send_email, user_id=3, after_commit=True)
        captured.run_all()

    With ``inline=True`` tasks run by themselves after the request that
    deferred them finished; a task error is raised to the test unless
    ``raise_errors=False``.
    """
    app = _celery_app(target)
    capture = TaskCapture(app, inline=inline, raise_errors=raise_errors)
    capture.install()
    try:
        yield capture
    finally:
        capture.uninstall()


def _celery_app(target: Any) -> PyramidCelery:
    if isinstance(target, PyramidCelery):
        return target
    registry = getattr(target, "registry", target)
    return registry.celery_app  # type: ignore[no-any-return]
