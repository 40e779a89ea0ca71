"""The :mod:`concurrent.futures` view of deferred tasks.

Futures are settled by one poller thread per application, started when
the first future needs watching and ending when none is left, so a
callback never costs a thread of its own.
"""

from __future__ import annotations

from concurrent.futures import Future, InvalidStateError, TimeoutError
import logging
import threading
import time
from typing import Any

from celery import states
from celery.exceptions import TimeoutError as CeleryTimeoutError

from ..interfaces import IFuturePoller
from .states import DROPPED, FAILED, WAITING

__all__ = ["FuturePoller", "TaskFuture"]

log = logging.getLogger(__name__)


class TaskFuture(Future):  # type: ignore[type-arg]
    """A :class:`concurrent.futures.Future` for one deferred task.

    Get it from ``handle.future``. ``cancel()`` drops a task still
    waiting for the commit and revokes a sent one; callbacks run in the
    application's poller thread.

    :ivar handle: the :class:`~pyramid_tasks.TaskResult`.
    """

    def __init__(self, handle: Any) -> None:
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
        return not self._refresh() and bool(self.handle.running())

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


class FuturePoller:
    """One thread watching every pending future of an application.

    :param interval: seconds between two checks of the pending futures
        (the ``pyramid_tasks.futures.poll_interval`` setting).
    """

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.pending: set[TaskFuture] = set()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def track(self, future: TaskFuture) -> None:
        """Watch ``future`` until it is done."""
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


def _poller(app: Any) -> FuturePoller:
    return app.registry.getUtility(IFuturePoller)  # type: ignore[no-any-return]
