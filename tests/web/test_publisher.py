"""Publishing: one producer per batch, pipelining, failures reported."""

import logging

from kombu.exceptions import BatchPublishError, OperationalError
from kombu.transport.redis import PublishBatch
import pytest

from pyramid_tasks import DeferredTaskPublishFailed, TaskPublishError
from pyramid_tasks.web.states import FAILED, SENT

from services import make_request, queued, redis_queued


def listening(failures):
    """An extra setup subscribing ``failures.append`` to publish failures."""
    return lambda config: config.add_subscriber(
        failures.append, DeferredTaskPublishFailed
    )


def failing_for(task, bad_args, error):
    """Make ``task`` fail to publish the arguments ``bad_args``."""
    real = task.apply_async
    calls = []

    def apply_async(args, kwargs, **options):
        calls.append(args)
        if bad_args is None or args == bad_args:
            raise error
        return real(args, kwargs, **options)

    task.apply_async = apply_async
    return calls


def test_a_batch_is_published_over_one_producer(web):
    testapp, app = web.build()
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


def test_a_failed_publish_after_commit_is_logged_and_announced(web, caplog):
    failures = []
    testapp, app = web.build(listening(failures))
    calls = failing_for(
        app.tasks["noop"], None, OperationalError("broker is down")
    )
    with caplog.at_level(logging.ERROR, "pyramid_tasks.web.publisher"):
        testapp.get("/defer?count=3")
    # One attempt fails; the rest of the batch is not retried in vain.
    assert len(calls) == 1
    handles = web.handles
    assert [h.delivery for h in handles] == [FAILED] * 3
    assert [(f.task_name, f.task_id, f.args) for f in failures] == [
        ("noop", h.id, (n,)) for n, h in enumerate(handles)
    ]
    assert all(isinstance(f.exception, OperationalError) for f in failures)
    assert f"noop[{handles[0].id}]" in caplog.text


def test_publish_failures_are_logged_without_passwords(web, caplog):
    testapp, app = web.build()
    failing_for(
        app.tasks["noop"],
        None,
        RuntimeError("backend redis://:hunter2@db:6379/1 is gone"),
    )
    with caplog.at_level(logging.ERROR, "pyramid_tasks.web.publisher"):
        testapp.get("/defer")
    assert "was not published" in caplog.text
    assert "hunter2" not in caplog.text
    assert "redis://:**@db:6379/1" in caplog.text


@pytest.mark.parametrize("broker", ["memory", "redis"])
def test_other_publish_errors_fail_only_their_task(web, broker):
    failures = []
    testapp, app = web.build(listening(failures), broker=broker)
    failing_for(app.tasks["noop"], (1,), ValueError("bad option"))
    testapp.get("/defer?count=3")
    assert [h.delivery for h in web.handles] == [SENT, FAILED, SENT]
    assert queued(app) == 2
    assert [f.args for f in failures] == [(1,)]


def test_a_batch_is_pipelined_on_redis(web, monkeypatch):
    flushes = []
    real_flush = PublishBatch.flush

    def counting_flush(self):
        flushes.append(self._buffered)
        return real_flush(self)

    monkeypatch.setattr(PublishBatch, "flush", counting_flush)
    testapp, app = web.build(broker="redis")
    testapp.get("/defer?count=250")
    assert [h.delivery for h in web.handles] == [SENT] * 250
    assert redis_queued(app) == 250
    # One round trip per 100 tasks.
    assert [n for n in flushes if n] == [100, 100, 50]
    with app.connection() as conn:
        queue = conn.SimpleQueue(app.conf.task_default_queue)
        ids = [queue.get(timeout=1).headers["id"] for _ in range(250)]
    assert sorted(ids) == sorted(h.id for h in web.handles)


def test_a_failed_pipeline_is_sent_again_one_task_at_a_time(web, monkeypatch):
    def failing_flush(self):
        self.discard()
        raise BatchPublishError("delivery is uncertain")

    monkeypatch.setattr(PublishBatch, "flush", failing_flush)
    testapp, app = web.build(broker="redis")
    testapp.get("/defer?count=3")
    assert [h.delivery for h in web.handles] == [SENT] * 3
    assert redis_queued(app) == 3


def test_a_broker_error_while_pipelining_falls_back_and_is_reported(web):
    failures = []
    testapp, app = web.build(listening(failures), broker="redis")
    calls = failing_for(
        app.tasks["noop"], None, OperationalError("broker is down")
    )
    testapp.get("/defer?count=3")
    # Tried once in the pipeline and once on its own; the rest is failed.
    assert len(calls) == 2
    assert [h.delivery for h in web.handles] == [FAILED] * 3
    assert [f.task_id for f in failures] == [h.id for h in web.handles]


def test_an_unreachable_broker_names_the_task_and_hides_the_password(web):
    testapp, app = web.build(
        **{
            "celery.broker_url": "redis://:hunter2@127.0.0.1:1/0",
            "celery.broker_connection_timeout": "0.1",
            "celery.task_publish_retry_policy": '{"max_retries": 0}',
        }
    )
    request = make_request(app.registry)
    with pytest.raises(TaskPublishError) as info:
        request.defer_task(web.noop, 1)
    message = str(info.value)
    assert message.startswith("Task 'noop' could not be sent to redis://")
    assert "hunter2" not in message
    assert isinstance(info.value, OperationalError)
