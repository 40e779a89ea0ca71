"""request.report_progress: Celery's PROGRESS state, limited in rate."""

import logging
import time

import pytest

from pyramid_tasks import NotInTaskError
from pyramid_tasks.testing import make_tasks_app
from pyramid_tasks.worker.progress import PROGRESS

from services import free_port, make_request, running_worker

#: What the tasks saw of their own stored state, by task id.
SEEN = {}


def _stored(request):
    task = request.current_task
    meta = task.backend.get_task_meta(task.request.id)
    info = meta["result"]
    return meta["status"], info.get("done") if isinstance(info, dict) else None


def count(request, steps, pause=0.0):
    """Report each step, and look at the stored state after each one."""
    seen = SEEN.setdefault(request.current_task.request.id, [])
    for done in range(1, steps + 1):
        request.report_progress(done, steps, f"step {done}")
        seen.append(_stored(request))
        time.sleep(pause)
    # Runs after the reporter's own callback, before Celery's SUCCESS.
    request.add_finished_callback(lambda r: seen.append(_stored(r)))
    return steps


def unknown_total(request):
    request.report_progress(3)
    meta = request.current_task.backend.get_task_meta(
        request.current_task.request.id
    )
    return meta["status"], meta["result"]


def report_only(request, steps=1):
    for done in range(1, steps + 1):
        request.report_progress(done, steps)
    return "ok"


def setup(config):
    config.register_task(count, name="count")
    config.register_task(report_only, name="report_only")
    config.register_task(unknown_total, name="unknown_total")
    config.register_task(count, name="count_ignored", ignore_result=True)


@pytest.fixture
def app_with(request):
    """``app_with(interval)``: an app and a real worker for it."""
    started = []

    def build(interval="60", **settings):
        tasks_app = make_tasks_app(
            setup, **{"pyramid_tasks.progress.interval": interval}, **settings
        )
        worker = running_worker(tasks_app.celery_app)
        worker.__enter__()
        started.append(worker)
        return tasks_app

    yield build
    for worker in started:
        worker.__exit__(None, None, None)


def test_the_first_value_is_written_at_once_and_the_last_before_success(
    app_with,
):
    tasks_app = app_with(interval="60")
    handle = tasks_app.make_request().defer_task("count", 10)
    assert handle.get(timeout=15) == 10
    seen = SEEN[handle.id]
    # One write in the loop (the first value), the rest held back...
    assert seen[:10] == [(PROGRESS, 1)] * 10
    # ...and the last value written before the task returned.
    assert seen[10] == (PROGRESS, 10)
    assert handle.state == "SUCCESS"


def test_a_zero_interval_writes_every_value(app_with):
    tasks_app = app_with(interval="0")
    handle = tasks_app.make_request().defer_task("count", 5)
    handle.get(timeout=15)
    assert SEEN[handle.id][:5] == [(PROGRESS, n) for n in range(1, 6)]


def test_a_report_after_the_interval_is_written(app_with):
    tasks_app = app_with(interval="0.05")
    handle = tasks_app.make_request().defer_task("count", 3, 0.08)
    handle.get(timeout=15)
    assert SEEN[handle.id][:3] == [(PROGRESS, 1), (PROGRESS, 2), (PROGRESS, 3)]


def test_the_meta_has_done_total_and_message(app_with):
    tasks_app = app_with()
    handle = tasks_app.make_request().defer_task("unknown_total")
    assert handle.get(timeout=15) == [
        PROGRESS,
        {"done": 3, "total": None, "message": None},
    ]


def test_a_task_that_ignores_its_result_stores_no_progress(app_with):
    tasks_app = app_with()
    request = tasks_app.make_request()
    handle = request.defer_task("count_ignored", 2)
    overridden = request.defer_task_with_options(
        "count", args=(2,), ignore_result=True
    )
    deadline = time.monotonic() + 15
    while not (handle.id in SEEN and overridden.id in SEEN):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    while len(SEEN[overridden.id]) < 3 or len(SEEN[handle.id]) < 3:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert SEEN[handle.id] == [("PENDING", None)] * 3
    assert SEEN[overridden.id] == [("PENDING", None)] * 3


def test_a_view_request_cannot_report_progress():
    tasks_app = make_tasks_app(setup)
    request = make_request(tasks_app.registry)
    with pytest.raises(NotInTaskError, match="call it on the request a task"):
        request.report_progress(1, 2)


def test_a_task_called_directly_has_no_id_and_stores_nothing():
    tasks_app = make_tasks_app(setup)
    task = tasks_app.celery_app.tasks["report_only"]
    # No task id: nothing to store under, and nothing fails.
    assert task() == "ok"


def test_a_failing_result_backend_does_not_fail_the_task(caplog):
    # A Redis backend where nothing listens, asked to retry nothing.
    tasks_app = make_tasks_app(
        setup,
        **{
            "celery.result_backend": f"redis://127.0.0.1:{free_port()}/0",
            "celery.result_backend_transport_options": (
                '{"retry_policy": {"max_retries": 0}}'
            ),
            "pyramid_tasks.progress.interval": "0",
        },
    )
    task = tasks_app.celery_app.tasks["report_only"]
    with caplog.at_level(logging.WARNING, "pyramid_tasks.worker.progress"):
        outcome = task.apply((3,), task_id="tid-1")
    assert outcome.get() == "ok"
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert warnings[0].startswith(
        "Task report_only[tid-1] could not store its progress: "
    )
