"""The concurrent.futures API of task handles and request.map_task."""

from concurrent.futures import (
    CancelledError,
    InvalidStateError,
    TimeoutError,
    as_completed,
    wait,
)
import logging
import threading
import time

from celery.result import AsyncResult, GroupResult
from celery.worker import state as worker_state
from kombu.exceptions import OperationalError
import pytest
import transaction

from pyramid_tasks import TaskArgumentsError, TaskFuture, TaskGroupResult
from pyramid_tasks.result import DROPPED, FAILED, WAITING
from pyramid_tasks.testing import capture_tasks, make_tasks_app, worker_thread

from services import make_request, running_worker

RAN = []


@pytest.fixture(autouse=True)
def _fresh():
    RAN.clear()


def add(request, x, y=0):
    RAN.append((x, y))
    return x + y


def fail(request, message):
    raise ValueError(message)


def setup(config):
    config.register_task(add, name="add")
    config.register_task(fail, name="fail")


@pytest.fixture
def app():
    return make_tasks_app(
        setup, **{"pyramid_tasks.futures.poll_interval": "0.02"}
    )


def in_transaction(request):
    manager = transaction.TransactionManager()
    request.environ["tm.active"] = True
    request.environ["tm.manager"] = manager
    return manager


def test_a_handle_is_still_a_celery_async_result(app):
    handle = app.make_request().defer_task(add, 1, 2)
    assert isinstance(handle, AsyncResult)
    assert isinstance(handle.future, TaskFuture)
    assert handle.future is handle.future
    assert handle.future.handle is handle


def test_futures_follow_a_real_worker(app):
    request = app.make_request()
    with worker_thread(app.celery_app):
        handle = request.defer_task(add, 2, 3)
        assert handle.future.result(timeout=10) == 5
        assert handle.done() and not handle.running()
        assert not handle.cancelled() and handle.exception() is None
        assert handle.result == 5 and handle.get() == 5  # Celery's API
        failed = request.defer_task(fail, "nope")
        error = failed.exception(timeout=10)
        assert isinstance(error, ValueError) and str(error) == "nope"
        with pytest.raises(ValueError, match="nope"):
            failed.future.result()
        assert failed.done()


def test_done_callbacks_share_one_poller_thread(app):
    request = app.make_request()
    seen, finished = [], threading.Event()
    handles = [request.defer_task(add, n) for n in range(5)]

    def callback(handle):
        seen.append((handle.id, handle.result, threading.current_thread()))
        if len(seen) == 5:
            finished.set()

    before = threading.active_count()
    for handle in handles:
        handle.add_done_callback(callback)
    assert threading.active_count() == before + 1
    assert not handles[0].done()
    with worker_thread(app.celery_app):
        assert finished.wait(10)
    assert sorted(value for _id, value, _t in seen) == [0, 1, 2, 3, 4]
    assert len({thread for _id, _v, thread in seen}) == 1
    # A callback on a finished task runs at once, in the caller's thread.
    handles[0].add_done_callback(callback)
    assert seen[-1][2] is threading.current_thread()


def test_futures_work_with_wait_and_as_completed(app):
    request = app.make_request()
    futures = [request.defer_task(add, n, 1).future for n in range(3)]
    with worker_thread(app.celery_app):
        done, pending = wait(futures, timeout=10)
        assert len(done) == 3 and not pending
    results = sorted(f.result() for f in as_completed(futures, timeout=1))
    assert results == [1, 2, 3]


def test_result_times_out_with_the_futures_error(app):
    handle = app.make_request().defer_task(add, 1)  # no worker running
    with pytest.raises(TimeoutError):
        handle.future.result(timeout=0.05)
    with pytest.raises(TimeoutError):
        handle.exception(timeout=0.05)
    assert not handle.done() and not handle.future.running()


def test_cancelling_a_task_waiting_for_commit_drops_it(app):
    request = app.make_request()
    with capture_tasks(app.celery_app) as captured:
        with in_transaction(request):
            kept = request.defer_task(add, 1)
            handle = request.defer_task(add, 2)
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
        done = request.defer_task(add, 1)
        done.get(timeout=10, interval=0.02)
        assert done.cancel() is False
        assert done.future.cancel() is False
        later = request.defer_task_with_options(add, (2,), countdown=30)
        assert later.future.cancel() is True
        assert later.future.cancelled()
        # The worker (a thread here) got the revoke broadcast.
        deadline = time.monotonic() + 5
        while later.id not in worker_state.revoked:
            assert time.monotonic() < deadline, "revoke never arrived"
            time.sleep(0.02)
    assert RAN == [(1, 0)]


def test_an_aborted_transaction_cancels_the_future(app):
    request = app.make_request()
    with capture_tasks(app.celery_app):
        manager = in_transaction(request)
        manager.begin()
        handle = request.defer_task(add, 1)
        future = handle.future
        manager.abort()
    assert future.cancelled()


def test_a_publish_failure_is_the_future_exception(app):
    request = app.make_request()

    def broker_down(*args, **kwargs):
        raise OperationalError("broker is down")

    app.celery_app.tasks["add"].apply_async = broker_down
    with in_transaction(request):
        handle = request.defer_task(add, 1)
    assert handle.delivery == FAILED
    assert handle.done() and not handle.cancelled()
    assert handle.exception() is handle.publish_error is not None
    assert handle.cancel() is False


def test_map_task_defers_one_task_per_item_as_a_group(app):
    request = app.make_request()
    with worker_thread(app.celery_app):
        group = request.map_task(add, [1, 2, 3], [10, 20, 30])
        assert isinstance(group, TaskGroupResult)
        assert isinstance(group, GroupResult)
        assert group.result(timeout=10) == [11, 22, 33]
        assert group.done() and not group.running()
        assert not group.cancelled() and group.exception() is None
        constant = request.map_task(add, [1, 2], kwargs={"y": 5})
        assert constant.result(timeout=10) == [6, 7]
        failing = request.map_task(fail, ["a", "b"])
        assert str(failing.exception(timeout=10)) == "a"
        assert [h.parent for h in group] == [None] * 3
    assert [h.id for h in group] == [f.handle.id for f in group.futures]


def test_map_task_in_a_transaction_waits_for_the_commit(app):
    request = app.make_request()
    finished = threading.Event()
    with capture_tasks(app.celery_app) as captured:
        with in_transaction(request):
            group = request.map_task("add", range(3), queue="maths")
            assert [h.delivery for h in group] == [WAITING] * 3
            assert [r.committed for r in captured] == [None] * 3
        group.add_done_callback(lambda g: finished.set())
        assert [r.committed for r in captured] == [True] * 3
        assert captured.run_all() == [0, 1, 2]
    assert finished.wait(5)
    assert group.result(timeout=1) == [0, 1, 2]
    options = [r.options for r in captured]
    assert {o["group_id"] for o in options} == {group.id}
    assert [o["group_index"] for o in options] == [0, 1, 2]
    assert {o["queue"] for o in options} == {"maths"}


def test_map_task_cancel_drops_every_waiting_task(app):
    request = app.make_request()
    with capture_tasks(app.celery_app) as captured:
        with in_transaction(request):
            group = request.map_task(add, [1, 2])
            assert group.cancel() is True
    assert group.cancelled() and group.done()
    assert [r.committed for r in captured] == [False, False]
    with pytest.raises(CancelledError):
        group.result()


def test_map_task_checks_every_item_before_deferring_any(app):
    request = app.make_request()
    with capture_tasks(app.celery_app) as captured:
        with pytest.raises(TaskArgumentsError):
            request.map_task(add, [1, 2], [1, 2], [1, 2])
        empty = request.map_task(add, [])
    assert len(captured) == 0
    assert empty.result() == [] and empty.done()
    called = []
    empty.add_done_callback(called.append)
    assert called == [empty]


@pytest.mark.redis
def test_futures_and_map_task_on_redis(make_app):
    config, celery_app = make_app(
        setup,
        broker="redis",
        **{"pyramid_tasks.futures.poll_interval": "0.02"},
    )
    request = make_request(config.registry)
    called = threading.Event()
    with running_worker(celery_app):
        handle = request.defer_task(add, 4, 5)
        handle.add_done_callback(lambda h: called.set())
        group = request.map_task(add, [1, 2, 3])
        assert group.result(timeout=10) == [1, 2, 3]
        assert handle.future.result(timeout=10) == 9
        assert called.wait(5)
        assert isinstance(
            request.defer_task(fail, "x").exception(timeout=10), ValueError
        )


def test_states_stored_by_the_backend_settle_the_future(app):
    request = app.make_request()
    backend = app.celery_app.backend
    started = request.defer_task(add, 1)
    backend.store_result(started.id, None, "STARTED")
    assert started.running() and started.future.running()
    assert started.future.cancel() is False
    revoked = request.defer_task(add, 2)
    backend.mark_as_revoked(revoked.id)
    assert revoked.future.cancelled() and revoked.future.done()
    # A second outcome (the poller racing a caller) is ignored.
    revoked.future._settle(result=3)
    assert revoked.future.cancelled()


def ignored(request):
    return "never stored"


def test_a_task_ignoring_its_result_never_completes_its_future(app):
    app.config.register_task(ignored, name="ignored", ignore_result=True)
    app.config.commit()
    with pytest.raises(TimeoutError):
        app.make_request().defer_task(ignored).future.result(timeout=1)


def untyped(request, *items):
    return len(items)


def test_map_task_without_argument_checks(app):
    app.config.register_task(untyped, name="untyped", typing=False)
    app.config.commit()
    with capture_tasks(app.celery_app) as captured:
        group = app.make_request().map_task(untyped, [1, 2], [3, 4])
        assert captured.run_all() == [2, 2]
    assert group.result() == [2, 2]


class FlakyBackend:
    """Fails the second look-up, answers like the real backend otherwise."""

    def __init__(self, backend):
        self.backend = backend
        self.calls = 0

    def __getattr__(self, name):
        return getattr(self.backend, name)

    def get_task_meta(self, task_id, **kwargs):
        self.calls += 1
        if self.calls == 2:
            raise ConnectionError("backend hiccup")
        return self.backend.get_task_meta(task_id, **kwargs)


class ListHandler(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_the_poller_survives_a_backend_error(app):
    # The worker reconfigures logging, so listen on our logger itself.
    handler = ListHandler()
    logger = logging.getLogger("pyramid_tasks.futures")
    logger.addHandler(handler)
    try:
        handle = app.make_request().defer_task(add, 1)
        handle.backend = FlakyBackend(handle.backend)
        finished = threading.Event()
        handle.add_done_callback(lambda h: finished.set())
        with worker_thread(app.celery_app):
            assert finished.wait(10)
    finally:
        logger.removeHandler(handler)
    assert handler.messages == [f"Cannot check task {handle.id}"]
