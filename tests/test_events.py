"""The lifecycle events, as an application sees them."""

import pytest
from webtest import TestApp

from pyramid_tasks import (
    DeferredTaskDropped,
    DeferredTaskPublished,
    TaskDeferred,
    TaskFailed,
    TaskRetried,
)
from pyramid_tasks.testing import capture_tasks, make_tasks_app, worker_thread

from services import EventLog, in_transaction


@pytest.fixture
def log():
    return EventLog()


def test_deferral_and_publication_events_carry_request_task_and_id(log):
    kinds = (TaskDeferred, DeferredTaskPublished, DeferredTaskDropped)
    app = make_tasks_app(log.setup(kinds))
    response = TestApp(app.wsgi_app).get("/")
    deferred = log.of(TaskDeferred)
    assert [(e.task_name, e.after_commit) for e in deferred] == [
        ("add", True),
        ("add", False),
    ]
    assert deferred[0].task_id == response.json["id"]
    assert [(e.args, e.kwargs) for e in deferred] == [
        ((1, 2), {}),
        ((3, 4), {}),
    ]
    assert deferred[0].options == {}
    assert deferred[0].request is deferred[1].request
    assert deferred[0].request.path == "/"
    (published,) = log.of(DeferredTaskPublished)
    assert published.task_id == response.json["id"]
    assert published.request is deferred[0].request
    assert published.result.sent and published.task.name == "add"
    assert log.of(DeferredTaskDropped) == []

    log.events.clear()
    with pytest.raises(RuntimeError):
        TestApp(app.wsgi_app).get("/?fail=1")
    (dropped,) = log.of(DeferredTaskDropped)
    assert dropped.task_id == log.of(TaskDeferred)[0].task_id
    assert log.of(DeferredTaskPublished) == []


def test_a_cancelled_handle_is_neither_published_nor_reported(log):
    app = make_tasks_app(log.setup((DeferredTaskPublished,)))
    request = app.make_request()
    with capture_tasks(app.celery_app) as captured:
        with in_transaction(request):
            kept = request.defer_task("add", 1, 1)
            dropped = request.defer_task("add", 2, 2)
            assert dropped.cancel() is True
    assert [e.task_id for e in log.of(DeferredTaskPublished)] == [kept.id]
    assert [r.committed for r in captured] == [True, False]


def test_task_run_events_in_a_real_worker(log):
    app = make_tasks_app(log.setup())
    request = app.make_request()
    with worker_thread(app.celery_app):
        assert request.defer_task("add", 2, 3).get(timeout=10) == 5
        failed = request.defer_task("fail")
        failed.get(timeout=10, propagate=False)
        assert request.defer_task("flaky").get(timeout=10) == "ok"
    events = log.events
    assert [(type(e).__name__, e.task_name) for e in events] == [
        ("BeforeTaskRun", "add"),
        ("TaskSucceeded", "add"),
        ("BeforeTaskRun", "fail"),
        ("TaskFailed", "fail"),
        ("BeforeTaskRun", "flaky"),
        ("TaskRetried", "flaky"),
        ("BeforeTaskRun", "flaky"),
        ("TaskSucceeded", "flaky"),
    ]
    before, succeeded = events[0], events[1]
    assert succeeded.result == 5
    assert before.request is succeeded.request
    assert before.request.current_task is before.task
    assert before.request.registry is app.registry
    failure = log.of(TaskFailed)[0]
    assert isinstance(failure.exception, KeyError)
    assert failure.request.exception is failure.exception
    assert failure.context_id == failed.id
    retry = log.of(TaskRetried)[0]
    assert str(retry.exception) == "again"
    assert retry.request is events[4].request
    assert log.attempts == [0, 1]
