"""The handles of deferred tasks: TaskResult and TaskGroupResult."""

from concurrent.futures import CancelledError, InvalidStateError
import time

from celery.result import AsyncResult
from celery.worker import state as worker_state
import pytest

from pyramid_tasks import TaskFuture
from pyramid_tasks.testing import capture_tasks, worker_thread
from pyramid_tasks.web.states import DROPPED

from services import in_transaction


def test_a_handle_is_still_a_celery_async_result(app):
    handle = app.make_request().defer_task("add", 1, 2)
    assert isinstance(handle, AsyncResult)
    assert isinstance(handle.future, TaskFuture)
    assert handle.future is handle.future
    assert handle.future.handle is handle


def test_cancelling_a_task_waiting_for_commit_drops_it(app):
    request = app.make_request()
    with capture_tasks(app.celery_app) as captured:
        with in_transaction(request):
            kept = request.defer_task("add", 1)
            handle = request.defer_task("add", 2)
            assert not handle.done() and not handle.cancelled()
            with pytest.raises(InvalidStateError, match="commit"):
                handle.future.result()
            assert handle.future.cancel() is True
            assert handle.cancel() is True  # already cancelled
    assert handle.delivery == DROPPED
    assert handle.cancelled() and handle.done()
    with pytest.raises(CancelledError):
        handle.future.result()
    assert [r.id for r in captured if r.sent] == [kept.id]


def test_a_sent_task_is_revoked_and_a_finished_one_cannot_be_cancelled(app):
    request = app.make_request()
    with worker_thread(app.celery_app):
        done = request.defer_task("add", 1)
        done.get(timeout=10, interval=0.02)
        assert done.cancel() is False
        assert done.future.cancel() is False
        later = request.defer_task_with_options("add", (2,), countdown=30)
        assert later.future.cancel() is True
        assert later.future.cancelled()
        # The worker (a thread here) got the revoke broadcast.
        deadline = time.monotonic() + 5
        while later.id not in worker_state.revoked:
            assert time.monotonic() < deadline, "revoke never arrived"
            time.sleep(0.02)
    assert app.ran == [(1, 0)]


def test_map_task_cancel_drops_every_waiting_task(app):
    request = app.make_request()
    with capture_tasks(app.celery_app) as captured:
        with in_transaction(request):
            group = request.map_task("add", [1, 2])
            assert group.cancel() is True
    assert group.cancelled() and group.done()
    assert [r.committed for r in captured] == [False, False]
    with pytest.raises(CancelledError):
        group.result()
