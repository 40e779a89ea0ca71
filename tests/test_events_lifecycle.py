"""Lifecycle events: deferral, publication, task runs, worker, metrics."""

from celery import signals
import pytest
import transaction
from webtest import TestApp

from pyramid_tasks import (
    BeforeTaskRun,
    CeleryWorkerReady,
    CeleryWorkerShutdown,
    DeferredTaskDropped,
    DeferredTaskPublished,
    TaskDeferred,
    TaskFailed,
    TaskRetried,
    TaskRunEvent,
)
from pyramid_tasks.metrics import get_task_metrics
from pyramid_tasks.testing import capture_tasks, make_tasks_app, worker_thread
from pyramid_tasks.worker import notifies_task_runs

EVENTS = []
ATTEMPTS = []


@pytest.fixture(autouse=True)
def _fresh():
    EVENTS.clear()
    ATTEMPTS.clear()


def add(request, x, y):
    return x + y


def fail(request):
    raise KeyError("missing")


def flaky(request):
    ATTEMPTS.append(request.current_task.request.retries)
    if len(ATTEMPTS) < 2:
        raise request.current_task.retry(
            exc=ValueError("again"), countdown=0, max_retries=3
        )
    return "ok"


def record(event):
    task = getattr(event, "task", None)
    # Celery's task context only lives while the task runs.
    event.context_id = getattr(getattr(task, "request", None), "id", None)
    EVENTS.append(event)


def view(request):
    handle = request.defer_task(add, 1, 2)
    request.defer_task_with_options(add, (3, 4), after_commit=False)
    if "fail" in request.params:
        raise RuntimeError("abort")
    return {"id": handle.id}


def setup(config, events=(TaskRunEvent,)):
    config.include("pyramid_tm")
    config.register_task(add, name="add")
    config.register_task(fail, name="fail")
    config.register_task(flaky, name="flaky")
    config.add_route("home", "/")
    config.add_view(view, route_name="home", renderer="json")
    for event in events:
        config.add_subscriber(record, event)


def of(kind):
    return [event for event in EVENTS if type(event) is kind]


def test_deferral_and_publication_events_carry_request_task_and_id():
    app = make_tasks_app(
        lambda config: setup(
            config, (TaskDeferred, DeferredTaskPublished, DeferredTaskDropped)
        )
    )
    response = TestApp(app.wsgi_app).get("/")
    deferred = of(TaskDeferred)
    assert [(e.task_name, e.after_commit) for e in deferred] == [
        ("add", True),
        ("add", False),
    ]
    assert deferred[0].task_id == response.json["id"]
    assert deferred[0].request is deferred[1].request
    assert deferred[0].request.path == "/"
    (published,) = of(DeferredTaskPublished)
    assert published.task_id == response.json["id"]
    assert published.request is deferred[0].request
    assert published.result.sent and published.task.name == "add"
    assert of(DeferredTaskDropped) == []

    EVENTS.clear()
    with pytest.raises(RuntimeError):
        TestApp(app.wsgi_app).get("/?fail=1")
    (dropped,) = of(DeferredTaskDropped)
    assert dropped.task_id == of(TaskDeferred)[0].task_id
    assert of(DeferredTaskPublished) == []


def test_a_cancelled_handle_is_neither_published_nor_reported():
    app = make_tasks_app(
        lambda config: setup(config, (DeferredTaskPublished,))
    )
    request = app.make_request()
    request.environ["tm.active"] = True
    request.environ["tm.manager"] = transaction.TransactionManager()
    with capture_tasks(app.celery_app) as captured:
        with request.environ["tm.manager"]:
            kept = request.defer_task(add, 1, 1)
            dropped = request.defer_task(add, 2, 2)
            assert dropped.cancel() is True
    assert [e.task_id for e in of(DeferredTaskPublished)] == [kept.id]
    assert [r.committed for r in captured] == [True, False]


def test_task_run_events_in_a_real_worker():
    app = make_tasks_app(setup)
    request = app.make_request()
    with worker_thread(app.celery_app):
        assert request.defer_task(add, 2, 3).get(timeout=10) == 5
        failed = request.defer_task(fail)
        failed.get(timeout=10, propagate=False)
        assert request.defer_task(flaky).get(timeout=10) == "ok"
    names = [(type(e).__name__, e.task_name) for e in EVENTS]
    assert names == [
        ("BeforeTaskRun", "add"),
        ("TaskSucceeded", "add"),
        ("BeforeTaskRun", "fail"),
        ("TaskFailed", "fail"),
        ("BeforeTaskRun", "flaky"),
        ("TaskRetried", "flaky"),
        ("BeforeTaskRun", "flaky"),
        ("TaskSucceeded", "flaky"),
    ]
    before, succeeded = EVENTS[0], EVENTS[1]
    assert succeeded.result == 5
    assert before.request is succeeded.request
    assert before.request.current_task is before.task
    assert before.request.registry is app.registry
    failure = of(TaskFailed)[0]
    assert isinstance(failure.exception, KeyError)
    assert failure.request.exception is failure.exception
    assert failure.context_id == failed.id
    retry = of(TaskRetried)[0]
    assert str(retry.exception) == "again"
    assert retry.request is EVENTS[4].request
    assert ATTEMPTS == [0, 1]


def test_captured_runs_fire_the_same_events():
    app = make_tasks_app(setup)
    request = app.make_request()
    with capture_tasks(app.celery_app) as captured:
        request.defer_task(add, 1, 2)
        request.defer_task(fail)
        with pytest.raises(KeyError):
            captured.run_all()
    kinds = [type(e).__name__ for e in EVENTS]
    assert kinds == [
        "BeforeTaskRun",
        "TaskSucceeded",
        "BeforeTaskRun",
        "TaskFailed",
    ]


def test_run_events_are_only_built_when_someone_listens():
    app = make_tasks_app(lambda config: setup(config, (TaskDeferred,)))
    assert notifies_task_runs(app.celery_app) is False
    bare = make_tasks_app()
    assert bare.registry.has_listeners is False
    assert notifies_task_runs(bare.celery_app) is False
    # A subscriber added later is seen: the cache follows the registry.
    app.config.add_subscriber(record, BeforeTaskRun)
    app.config.commit()
    assert notifies_task_runs(app.celery_app) is True
    with capture_tasks(app.celery_app) as captured:
        app.make_request().defer_task(add, 1, 1)
        captured.run_all()
    assert [type(e) for e in EVENTS] == [TaskDeferred, BeforeTaskRun]


class DummyConsumer:
    def __init__(self, app):
        self.app = app


def test_worker_ready_and_shutdown_events():
    app = make_tasks_app(
        lambda config: setup(config, (CeleryWorkerReady, CeleryWorkerShutdown))
    )
    consumer = DummyConsumer(app.celery_app)
    signals.worker_ready.send(sender=consumer)
    signals.worker_ready.send(sender=DummyConsumer(None))
    (ready,) = EVENTS
    assert isinstance(ready, CeleryWorkerReady)
    assert ready.registry is app.registry and ready.consumer is consumer
    # Sent by a warm shutdown; the embedded test worker stops cold.
    signals.worker_shutdown.send(sender=consumer)
    signals.worker_shutdown.send(sender=DummyConsumer(None))
    assert len(EVENTS) == 2
    assert isinstance(EVENTS[-1], CeleryWorkerShutdown)
    assert EVENTS[-1].registry is app.registry


def test_failures_of_tasks_that_are_not_ours_are_ignored():
    app = make_tasks_app(lambda config: setup(config))

    def divide():
        return 1 / 0

    def again():
        raise plain_retry.retry(countdown=0, max_retries=1)

    plain = app.celery_app.task(name="plain", shared=False, lazy=False)
    plain(divide).apply()
    make = app.celery_app.task(name="again", shared=False, lazy=False)
    plain_retry = make(again)
    plain_retry.apply()
    assert EVENTS == []


def test_metrics_count_outcomes_and_time():
    app = make_tasks_app(
        lambda config: (config.include("pyramid_tasks.metrics"), setup(config))
    )
    request = app.make_request()
    with capture_tasks(app.celery_app) as captured:
        request.defer_task(add, 1, 2)
        request.defer_task(add, 1, 3)
        request.defer_task(fail)
        request.defer_task(flaky)
        with pytest.raises(KeyError):
            captured.run_all()
    metrics = get_task_metrics(app.registry).snapshot()
    assert metrics["add"]["succeeded"] == 2
    assert metrics["add"]["runs"] == 2
    assert 0 < metrics["add"]["max_seconds"] <= metrics["add"]["seconds"]
    assert metrics["fail"]["failed"] == 1
    assert metrics["flaky"]["retried"] == 1
    assert metrics["flaky"]["succeeded"] == 1
    # A failure reported without a task request has no run time.
    metrics_object = get_task_metrics(app.registry)
    metrics_object.record("lost", "failed", None)
    assert metrics_object.snapshot()["lost"]["runs"] == 0
