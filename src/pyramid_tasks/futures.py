"""The ``concurrent.futures`` view of deferred tasks and ``request.map_task``.

Futures are settled by one poller thread per application, started when
the first future needs watching and ending when none is left, so a
callback never costs a thread of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future, InvalidStateError, TimeoutError
import logging
import threading
import time
from typing import Any

from celery import states
from celery.exceptions import TimeoutError as CeleryTimeoutError
from celery.result import GroupResult
from celery.utils import uuid

from .result import DROPPED, FAILED, WAITING, TaskResult

__all__ = ["TaskFuture", "TaskGroupResult", "map_task", "POLL_SETTING"]

log = logging.getLogger(__name__)

#: Setting: seconds between two checks of the pending futures (0.1).
POLL_SETTING = "pyramid_tasks.futures.poll_interval"


class TaskFuture(Future):
    """A :class:`concurrent.futures.Future` for one deferred task.

    Get it from ``handle.future``. ``cancel()`` drops a task still
    waiting for the commit and revokes a sent one; callbacks run in the
    application's poller thread.

    :ivar handle: the :class:`~pyramid_tasks.result.TaskResult`.
    """

    def __init__(self, handle: TaskResult) -> None:
        super().__init__()
        self.handle = handle
        if not self._refresh():
            _poller(handle.app).track(self)

    def _refresh(self) -> bool:
        """Settle the future if its task is done; return whether it is."""
        if super().done():
            return True
        handle = self.handle
        delivery = handle.delivery
        if delivery == WAITING:
            return False
        if delivery == DROPPED:
            super().cancel()
        elif delivery == FAILED:
            self._settle(exception=handle.publish_error)
        else:
            state = handle.state
            if state == states.SUCCESS:
                self._settle(result=handle.result)
            elif state == states.REVOKED:
                super().cancel()
            elif state in states.PROPAGATE_STATES:
                self._settle(exception=handle.result)
        return super().done()

    def _settle(self, result: Any = None, exception: Any = None) -> None:
        # The poller and a waiting caller may both see the end.
        try:
            if exception is not None:
                self.set_exception(exception)
            else:
                self.set_result(result)
        except InvalidStateError:
            pass

    def _wait(self, timeout: float | None) -> None:
        if self._refresh():
            return
        handle = self.handle
        if handle.delivery == WAITING:
            raise InvalidStateError(
                f"Task {handle.id} waits for the transaction to commit"
            )
        try:
            handle.get(
                timeout=timeout,
                propagate=False,
                interval=_poller(handle.app).interval,
            )
        except CeleryTimeoutError:
            raise TimeoutError from None
        if not self._refresh():
            raise TimeoutError

    def done(self) -> bool:
        return self._refresh()

    def running(self) -> bool:
        return not self._refresh() and self.handle.running()

    def cancelled(self) -> bool:
        self._refresh()
        return super().cancelled()

    def cancel(self) -> bool:
        if self._refresh():
            return super().cancelled()
        if not self.handle.cancel():
            return False
        super().cancel()
        return True

    def result(self, timeout: float | None = None) -> Any:
        self._wait(timeout)
        return super().result(0)

    def exception(self, timeout: float | None = None) -> Any:
        self._wait(timeout)
        return super().exception(0)


class _Poller:
    """One thread watching every pending future of an application."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.pending: set[TaskFuture] = set()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def track(self, future: TaskFuture) -> None:
        with self.lock:
            self.pending.add(future)
            if self.thread is None:
                self.thread = threading.Thread(
                    target=self._run, name="pyramid_tasks-futures", daemon=True
                )
                self.thread.start()

    def _run(self) -> None:
        while True:
            with self.lock:
                if not self.pending:
                    self.thread = None
                    return
                futures = list(self.pending)
            for future in futures:
                try:
                    done = future._refresh()
                except Exception:  # noqa: BLE001 - keep watching the rest
                    log.exception("Cannot check task %s", future.handle.id)
                    done = False
                if done:
                    with self.lock:
                        self.pending.discard(future)
            time.sleep(self.interval)


def _poller(app) -> _Poller:
    poller = app.__dict__.get("_future_poller")
    if poller is None:
        settings = app.registry.settings or {}
        poller = app._future_poller = _Poller(
            float(settings.get(POLL_SETTING, 0.1))
        )
    return poller


class TaskGroupResult(GroupResult):
    """The handle of ``request.map_task``: a Celery
    :class:`~celery.result.GroupResult` with a pool-like API.

    Iterating it gives the :class:`~pyramid_tasks.result.TaskResult` of
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

        def one_done(_future: Future) -> None:
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


def map_task(
    request,
    func_or_name: Callable | str,
    *iterables: Iterable[Any],
    kwargs: dict[str, Any] | None = None,
    **options: Any,
) -> TaskGroupResult:
    """Defer one task per item of ``zip(*iterables)``, as a Celery group.

    Like :meth:`concurrent.futures.Executor.map`, the task gets one
    argument from each iterable; ``kwargs`` are keyword arguments given
    to every task; ``options`` are ``apply_async`` options plus
    ``after_commit``. Every message carries the group id and its index.
    Each item goes through ``request.defer_task_with_options``, so in a
    transaction the whole group waits for the commit and is published
    over one connection (or dropped). All arguments are checked before
    anything is deferred::

        group = request.map_task(resize, photo_ids, [(64, 64)] * 3)
        sizes = group.result(timeout=10)

    .. versionadded:: 1.0

    :raises pyramid_tasks.exceptions.DeferError: see ``defer_task``.
    """
    from .request import _check_arguments, defer_task_with_options
    from .tasks import lookup_task

    app = request.registry.celery_app
    task = lookup_task(app, func_or_name)
    items = [tuple(item) for item in zip(*iterables, strict=False)]
    kwargs = dict(kwargs or {})
    if task.typing:
        for args in items:
            _check_arguments(task, args, kwargs)
    group_id = options.pop("group_id", None) or uuid()
    results = [
        defer_task_with_options(
            request,
            task.name,
            args,
            kwargs,
            group_id=group_id,
            group_index=index,
            **options,
        )
        for index, args in enumerate(items)
    ]
    return TaskGroupResult(group_id, results, app=app)
