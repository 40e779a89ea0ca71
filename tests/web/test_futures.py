"""The concurrent.futures view of deferred tasks."""

from concurrent.futures import TimeoutError, as_completed, wait
import logging
import threading

from kombu.exceptions import OperationalError
import pytest

from pyramid_tasks.testing import capture_tasks, worker_thread
from pyramid_tasks.web.states import FAILED

from services import in_transaction, running_worker


def test_futures_follow_a_real_worker(app):
    request = app.make_request()
    with worker_thread(app.celery_app):
        handle = request.defer_task("add", 2, 3)
        assert handle.future.result(timeout=10) == 5
        assert handle.done() and not handle.running()
        assert not handle.cancelled() and handle.exception() is None
        assert handle.result == 5 and handle.get() == 5  # Celery's API
        failed = request.defer_task("fail", "nope")
        error = failed.exception(timeout=10)
        assert isinstance(error, ValueError) and str(error) == "nope"
        with pytest.raises(ValueError, match="nope"):
            failed.future.result()
        assert failed.done()


def test_done_callbacks_share_one_poller_thread(app):
    request = app.make_request()
    seen, finished = [], threading.Event()
    handles = [request.defer_task("add", n) for n in range(5)]

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
    futures = [request.defer_task("add", n, 1).future for n in range(3)]
    with worker_thread(app.celery_app):
        done, pending = wait(futures, timeout=10)
        assert len(done) == 3 and not pending
    results = sorted(f.result() for f in as_completed(futures, timeout=1))
    assert results == [1, 2, 3]


GATE = threading.Event()


def gated(request):
    """Runs until the test opens the gate."""
    assert GATE.wait(10)
    return "through"


def test_a_running_task_times_out_with_the_futures_error_then_settles(app):
    GATE.clear()
    app.config.register_task(gated, name="gated")
    app.config.commit()
    request = app.make_request()
    with worker_thread(app.celery_app):
        handle = request.defer_task("gated")
        with pytest.raises(TimeoutError):
            handle.future.result(timeout=0.2)
        with pytest.raises(TimeoutError):
            handle.exception(timeout=0.05)
        assert not handle.done()
        GATE.set()
        assert handle.future.result(timeout=10) == "through"
        assert handle.done()


def test_an_aborted_transaction_cancels_the_future(app):
    request = app.make_request()
    with capture_tasks(app.celery_app):
        manager = in_transaction(request)
        manager.begin()
        handle = request.defer_task("add", 1)
        future = handle.future
        manager.abort()
    assert future.cancelled()


def test_a_publish_failure_is_the_future_exception(app):
    request = app.make_request()

    def broker_down(*args, **kwargs):
        raise OperationalError("broker is down")

    app.celery_app.tasks["add"].apply_async = broker_down
    with in_transaction(request):
        handle = request.defer_task("add", 1)
    assert handle.delivery == FAILED
    assert handle.done() and not handle.cancelled()
    assert handle.exception() is handle.publish_error is not None
    assert handle.cancel() is False


@pytest.mark.redis
def test_futures_and_map_task_on_redis(app_on):
    app = app_on("redis")
    request = app.make_request()
    called = threading.Event()
    with running_worker(app.celery_app):
        handle = request.defer_task("add", 4, 5)
        handle.add_done_callback(lambda h: called.set())
        group = request.map_task("add", [1, 2, 3])
        assert group.result(timeout=10) == [1, 2, 3]
        assert handle.future.result(timeout=10) == 9
        assert called.wait(5)
        assert isinstance(
            request.defer_task("fail", "x").exception(timeout=10), ValueError
        )


def test_states_stored_by_the_backend_settle_the_future(app):
    request = app.make_request()
    backend = app.celery_app.backend
    started = request.defer_task("add", 1)
    backend.store_result(started.id, None, "STARTED")
    assert started.running() and started.future.running()
    assert started.future.cancel() is False
    revoked = request.defer_task("add", 2)
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
    logger = logging.getLogger("pyramid_tasks.web.futures")
    logger.addHandler(handler)
    try:
        handle = app.make_request().defer_task("add", 1)
        handle.backend = FlakyBackend(handle.backend)
        finished = threading.Event()
        handle.add_done_callback(lambda h: finished.set())
        with worker_thread(app.celery_app):
            assert finished.wait(10)
    finally:
        logger.removeHandler(handler)
    assert handler.messages == [f"Cannot check task {handle.id}"]
