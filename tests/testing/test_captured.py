"""Running a captured task: the same path a worker takes."""

import datetime

import pytest

from pyramid_tasks.testing import capture_tasks, make_tasks_app, worker_thread

from services import EventLog


def test_running_a_captured_task_goes_through_the_real_path(app):
    request = app.make_request()
    when = datetime.datetime(2024, 5, 6, 7, 8, 9)
    with capture_tasks(app.celery_app) as captured:
        handle = request.defer_task("describe", (1, 2), when, flag=True)
        (result,) = captured.run_all()
    assert result["items"] == [1, 2]  # JSON made the tuple a list
    assert result["items_type"] == "list"
    assert result["when_type"] == "datetime"
    assert result["extra"] == {"flag": True}
    assert result["tagged"] == "describe"
    assert result["derivers"] == ["tagging_deriver"]
    assert result["own_request"] is True
    assert result["task_id"] == handle.id
    assert result["setting"] == "kit"
    assert app.log == ["finished"]
    # The caller's handle holds the outcome, and runs happen once.
    assert handle.get(timeout=1) == result
    assert handle.done() and handle.future.result() == result
    assert captured.run_all() == []


def test_a_captured_task_error_comes_back_to_the_test(app):
    request = app.make_request()
    with capture_tasks(app.celery_app) as captured:
        handle = request.defer_task("fail", 3)
        request.defer_task("send_email", 4)
        with pytest.raises(ValueError, match="failed with 3"):
            captured.run_all()
        assert captured[1].outcome.result == "mail hello to 4"
        with pytest.raises(ValueError, match="failed with 3"):
            captured[0].run()
    assert captured[0].outcome.state == "FAILURE"
    assert isinstance(handle.exception(), ValueError)


@pytest.mark.parametrize(
    "task, args", [("describe", ((1, 2), "x")), ("fail", (1,))]
)
def test_capture_and_a_real_worker_agree(kit_setup, task, args):
    """Same task, both paths, same outcome: the kit cannot drift."""
    app = make_tasks_app(kit_setup, **{"app.name": "kit"})
    request = app.make_request()
    with capture_tasks(app.celery_app) as captured:
        captured_handle = request.defer_task(task, *args)
        if task == "fail":
            with pytest.raises(ValueError):
                captured[0].run()
        else:
            captured.run_all()
    with worker_thread(app.celery_app):
        real_handle = request.defer_task(task, *args)
        real_handle.get(timeout=10, propagate=False, interval=0.05)

    def outcome(handle):
        value = handle.result
        if isinstance(value, dict):
            value = dict(value, task_id=None)
        elif isinstance(value, BaseException):
            value = (type(value), value.args)
        return handle.state, value

    assert outcome(captured_handle) == outcome(real_handle)


def test_captured_runs_fire_the_same_events():
    log = EventLog()
    app = make_tasks_app(log.setup())
    request = app.make_request()
    with capture_tasks(app.celery_app) as captured:
        request.defer_task("add", 1, 2)
        request.defer_task("fail")
        with pytest.raises(KeyError):
            captured.run_all()
    kinds = [type(e).__name__ for e in log.events]
    assert kinds == [
        "BeforeTaskRun",
        "TaskSucceeded",
        "BeforeTaskRun",
        "TaskFailed",
    ]


def test_a_task_ignoring_its_result_is_not_stored_by_its_run(app):
    request = app.make_request()
    with capture_tasks(app.celery_app) as captured:
        stored = request.defer_task("send_email", 1)
        ignored = request.defer_task_with_options(
            "send_email", (2,), ignore_result=True
        )
        captured.run_all()
    backend = app.celery_app.backend
    assert backend.get_task_meta(stored.id)["status"] == "SUCCESS"
    assert backend.get_task_meta(ignored.id)["status"] == "PENDING"
