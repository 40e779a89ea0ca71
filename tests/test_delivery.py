"""Commit-aware deferral through a real WSGI app with pyramid_tm."""

import logging

from kombu.exceptions import ChannelError, OperationalError
import pytest
import transaction
from webtest import TestApp

from pyramid_tasks import DeferredTaskPublishFailed
from pyramid_tasks.result import DROPPED, FAILED, SENT, WAITING

from services import make_request


def noop(request, n):
    return n


def queued(app):
    """How many messages wait in the app's private queue."""
    queue = app.conf.task_default_queue
    with app.connection() as conn:
        try:
            return conn.default_channel.queue_declare(queue, passive=True)[1]
        except ChannelError:  # never declared: nothing was published
            return 0


HANDLES = []


@pytest.fixture(autouse=True)
def _fresh_handles():
    HANDLES.clear()


def defer_view(request):
    count = int(request.params.get("count", 1))
    immediate = "immediate" in request.params
    for n in range(count):
        handle = request.defer_task_with_options(
            noop, args=(n,), after_commit=False if immediate else None
        )
        HANDLES.append(handle)
    request.response.text = ",".join(h.delivery for h in HANDLES)
    if "fail" in request.params:
        raise RuntimeError("view failed after deferring")
    if "doom" in request.params:
        request.tm.doom()
    return request.response


def setup(config):
    config.include("pyramid_tm")
    config.register_task(noop, name="noop")
    config.add_route("defer", "/defer")
    config.add_view(defer_view, route_name="defer")


@pytest.fixture
def web(make_app):
    HANDLES.clear()

    def build(**settings):
        config, app = make_app(setup, **settings)
        return TestApp(config.make_wsgi_app()), app

    return build


def test_tasks_wait_for_commit_then_are_sent(web):
    testapp, app = web()
    response = testapp.get("/defer?count=3")
    assert response.text == ",".join([WAITING] * 3)
    assert [h.delivery for h in HANDLES] == [SENT] * 3
    assert queued(app) == 3


def test_the_task_id_is_known_before_commit(web):
    testapp, app = web()
    testapp.get("/defer")
    (handle,) = HANDLES
    assert handle.id
    with app.connection() as conn:
        message = conn.SimpleQueue(app.conf.task_default_queue).get(timeout=1)
        assert message.headers["id"] == handle.id


def test_tasks_are_dropped_when_the_view_raises(web):
    testapp, app = web()
    with pytest.raises(RuntimeError):
        testapp.get("/defer?count=2&fail=1")
    assert [h.delivery for h in HANDLES] == [DROPPED] * 2
    assert queued(app) == 0


def test_tasks_are_dropped_when_the_transaction_is_doomed(web):
    testapp, app = web()
    testapp.get("/defer?doom=1")
    assert [h.delivery for h in HANDLES] == [DROPPED]
    assert queued(app) == 0


def test_after_commit_false_sends_at_once(web):
    testapp, app = web()
    response = testapp.get("/defer?immediate=1")
    assert response.text == SENT
    assert queued(app) == 1


def test_the_setting_turns_commit_awareness_off(web):
    testapp, app = web(**{"pyramid_tasks.after_commit": "false"})
    with pytest.raises(RuntimeError):
        testapp.get("/defer?fail=1")
    assert [h.delivery for h in HANDLES] == [SENT]
    assert queued(app) == 1


def test_without_a_transaction_tasks_are_sent_at_once(make_app):
    from services import make_request

    config, app = make_app(setup)
    request = make_request(config.registry)
    assert request.defer_task(noop, 1).delivery == SENT
    assert queued(app) == 1


def test_a_batch_is_published_over_one_producer(web):
    testapp, app = web()
    acquired = []
    original = app.producer_or_acquire

    def counting(producer=None):
        acquired.append(producer)
        return original(producer)

    app.producer_or_acquire = counting
    testapp.get("/defer?count=25")
    assert queued(app) == 25
    # The batch acquires one producer; every publish reuses it.
    assert acquired[0] is None
    assert len({id(p) for p in acquired[1:]}) == 1
    assert None not in acquired[1:]


def test_a_failed_publish_after_commit_is_logged_and_announced(
    make_app, caplog
):
    failures = []

    def setup_with_listener(config):
        setup(config)
        config.add_subscriber(failures.append, DeferredTaskPublishFailed)

    config, app = make_app(setup_with_listener)
    calls = []

    def broker_down(*args, **kwargs):
        calls.append(args)
        raise OperationalError("broker is down")

    app.tasks["noop"].apply_async = broker_down
    testapp = TestApp(config.make_wsgi_app())
    with caplog.at_level(logging.ERROR, "pyramid_tasks.delivery"):
        testapp.get("/defer?count=3")
    # One attempt fails; the rest of the batch is not retried in vain.
    assert len(calls) == 1
    assert [h.delivery for h in HANDLES] == [FAILED] * 3
    assert [(f.task_name, f.task_id, f.args) for f in failures] == [
        ("noop", h.id, (n,)) for n, h in enumerate(HANDLES)
    ]
    assert all(isinstance(f.exception, OperationalError) for f in failures)
    assert f"noop[{HANDLES[0].id}]" in caplog.text


def test_other_publish_errors_fail_only_their_task(make_app):
    failures = []

    def setup_with_listener(config):
        setup(config)
        config.add_subscriber(failures.append, DeferredTaskPublishFailed)

    config, app = make_app(setup_with_listener)
    task = app.tasks["noop"]
    real = task.apply_async

    def flaky(args, kwargs, **options):
        if args == (1,):
            raise ValueError("bad option")
        return real(args, kwargs, **options)

    task.apply_async = flaky
    TestApp(config.make_wsgi_app()).get("/defer?count=3")
    assert [h.delivery for h in HANDLES] == [SENT, FAILED, SENT]
    assert queued(app) == 2
    assert [f.args for f in failures] == [(1,)]


def test_serialization_is_checked_before_waiting_for_commit(make_app):
    from pyramid_tasks import TaskSerializationError

    from services import make_request

    config, app = make_app(setup)
    request = make_request(config.registry)
    manager = transaction.TransactionManager(explicit=True)
    request.environ.update({"tm.active": True, "tm.manager": manager})
    with manager:
        with pytest.raises(TaskSerializationError, match="argument 'n'"):
            request.defer_task(noop, object())
        handle = request.defer_task(noop, 1)
        assert handle.delivery == WAITING
    assert handle.delivery == SENT


def redis_queued(app):
    """Messages in the app's private Redis queue (its keys are prefixed)."""
    import redis

    prefix = app.conf.broker_transport_options["global_keyprefix"]
    client = redis.Redis.from_url(app.conf.broker_url)
    try:
        return client.llen(prefix + app.conf.task_default_queue)
    finally:
        client.close()


def test_a_batch_is_pipelined_on_redis(make_app, monkeypatch):
    from kombu.transport.redis import PublishBatch

    flushes = []
    real_flush = PublishBatch.flush

    def counting_flush(self):
        flushes.append(self._buffered)
        return real_flush(self)

    monkeypatch.setattr(PublishBatch, "flush", counting_flush)
    config, app = make_app(setup, broker="redis")
    TestApp(config.make_wsgi_app()).get("/defer?count=250")
    assert [h.delivery for h in HANDLES] == [SENT] * 250
    assert redis_queued(app) == 250
    # One round trip per 100 tasks.
    assert [n for n in flushes if n] == [100, 100, 50]
    with app.connection() as conn:
        queue = conn.SimpleQueue(app.conf.task_default_queue)
        ids = [queue.get(timeout=1).headers["id"] for _ in range(250)]
    assert sorted(ids) == sorted(h.id for h in HANDLES)


def test_a_failed_pipeline_is_sent_again_one_task_at_a_time(
    make_app, monkeypatch
):
    from kombu.exceptions import BatchPublishError
    from kombu.transport.redis import PublishBatch

    def failing_flush(self):
        self.discard()
        raise BatchPublishError("delivery is uncertain")

    monkeypatch.setattr(PublishBatch, "flush", failing_flush)
    config, app = make_app(setup, broker="redis")
    TestApp(config.make_wsgi_app()).get("/defer?count=3")
    assert [h.delivery for h in HANDLES] == [SENT] * 3
    assert redis_queued(app) == 3


def test_a_pipelined_batch_fails_only_the_task_with_a_bad_option(make_app):
    failures = []

    def setup_with_listener(config):
        setup(config)
        config.add_subscriber(failures.append, DeferredTaskPublishFailed)

    config, app = make_app(setup_with_listener, broker="redis")
    task = app.tasks["noop"]
    real = task.apply_async

    def flaky(args, kwargs, **options):
        if args == (1,):
            raise ValueError("bad option")
        return real(args, kwargs, **options)

    task.apply_async = flaky
    TestApp(config.make_wsgi_app()).get("/defer?count=3")
    assert [h.delivery for h in HANDLES] == [SENT, FAILED, SENT]
    assert redis_queued(app) == 2
    assert [f.args for f in failures] == [(1,)]


def test_a_broker_error_while_pipelining_falls_back_and_is_reported(
    make_app,
):
    failures = []

    def setup_with_listener(config):
        setup(config)
        config.add_subscriber(failures.append, DeferredTaskPublishFailed)

    config, app = make_app(setup_with_listener, broker="redis")
    calls = []

    def broker_down(*args, **kwargs):
        calls.append(args)
        raise OperationalError("broker is down")

    app.tasks["noop"].apply_async = broker_down
    TestApp(config.make_wsgi_app()).get("/defer?count=3")
    # Tried once in the pipeline and once on its own; the rest is failed.
    assert len(calls) == 2
    assert [h.delivery for h in HANDLES] == [FAILED] * 3
    assert [f.task_id for f in failures] == [h.id for h in HANDLES]


def test_an_active_flag_without_a_manager_sends_at_once(make_app):
    config, app = make_app(setup)
    request = make_request(config.registry)
    request.environ["tm.active"] = True
    assert request.defer_task(noop, 1).delivery == SENT


def test_a_failed_commit_drops_the_batch(make_app):
    config, app = make_app(setup)
    request = make_request(config.registry)
    manager = transaction.TransactionManager(explicit=True)
    request.environ.update({"tm.active": True, "tm.manager": manager})

    class FailingCommit:
        def sortKey(self):  # noqa: N802 - the data manager API
            return "failing"

        def tpc_begin(self, txn):
            pass

        def commit(self, txn):
            raise RuntimeError("commit failed")

        def abort(self, txn):
            pass

        tpc_abort = abort

    manager.begin()
    handle = request.defer_task(noop, 1)
    manager.get().join(FailingCommit())
    with pytest.raises(RuntimeError, match="commit failed"):
        manager.commit()
    manager.abort()
    assert handle.delivery == DROPPED
    assert queued(app) == 0
