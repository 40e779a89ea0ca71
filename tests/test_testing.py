"""The testing kit: capture, run through the real path, inline, fixtures."""

import datetime
import os
import subprocess
import sys
import textwrap

from pyramid.threadlocal import get_current_request
import pytest
from webtest import TestApp

from pyramid_tasks import TaskSerializationError
from pyramid_tasks.result import DROPPED, SENT
from pyramid_tasks.testing import (
    TaskCapture,
    capture_tasks,
    make_tasks_app,
    memory_settings,
    worker_thread,
)

from services import free_port

LOG = []


@pytest.fixture(autouse=True)
def _fresh_log():
    LOG.clear()


def send_email(request, user_id, subject="hello"):
    LOG.append(("send_email", user_id))
    return f"mail {subject} to {user_id}"


def describe(request, items, when, **extra):
    """What a task sees: its arguments after the round trip, its request."""
    request.add_finished_callback(lambda r: LOG.append("finished"))
    return {
        "items": items,
        "items_type": type(items).__name__,
        "when": when,
        "when_type": type(when).__name__,
        "extra": extra,
        "tagged": request.environ.get("test.tagged"),
        "derivers": request.current_task.derivers,
        "own_request": get_current_request() is request,
        "task_id": request.current_task.request.id,
        "url": request.application_url,
        "setting": request.registry.settings["app.name"],
    }


def fail(request, n):
    raise ValueError(f"failed with {n}")


def tagging_deriver(task, info):
    def tagged(request, *args, **kwargs):
        request.environ["test.tagged"] = info.name
        return task(request, *args, **kwargs)

    return tagged


def signup(request):
    user_id = int(request.params["user_id"])
    LOG.append(("view", id(request)))
    request.add_finished_callback(lambda r: LOG.append("view finished"))
    handle = request.defer_task(send_email, user_id=user_id)
    if "fail" in request.params:
        raise RuntimeError("the view failed")
    return {"id": handle.id}


def immediate(request):
    handle = request.defer_task_with_options(
        send_email, kwargs={"user_id": 1}, after_commit=False, countdown=5
    )
    return {"id": handle.id}


def broken(request):
    request.defer_task(fail, 7)
    return {}


def setup(config):
    config.include("pyramid_tm")
    config.add_task_deriver(tagging_deriver)
    config.register_task(send_email, name="send_email")
    config.register_task(describe, name="describe")
    config.register_task(fail, name="fail")
    config.add_route("signup", "/signup")
    config.add_view(signup, route_name="signup", renderer="json")
    config.add_route("immediate", "/immediate")
    config.add_view(immediate, route_name="immediate", renderer="json")
    config.add_route("broken", "/broken")
    config.add_view(broken, route_name="broken", renderer="json")


@pytest.fixture
def app():
    # A broker nobody listens on: capturing must never contact it.
    return make_tasks_app(
        setup,
        **{
            "app.name": "kit",
            "celery.broker_url": f"redis://127.0.0.1:{free_port()}/0",
            "celery.result_backend": "cache+memory://",
            "celery.broker_connection_retry": "false",
            "celery.task_publish_retry": "false",
        },
    )


def test_a_view_deferring_after_commit_is_captured_and_nothing_is_sent(app):
    testapp = TestApp(app.wsgi_app)
    with capture_tasks(app.registry) as captured:
        response = testapp.get("/signup?user_id=3")
    record = captured.assert_deferred(send_email, user_id=3, after_commit=True)
    assert record.id == response.json["id"]
    assert record.name == "send_email"
    assert record.after_commit is True
    assert record.committed is True
    assert record.result.delivery == SENT
    assert LOG == [("view", LOG[0][1]), "view finished"]
    assert app.celery_app.task_publisher is None


def test_a_task_deferred_at_once_records_its_options(app):
    testapp = TestApp(app.wsgi_app)
    with capture_tasks(app.celery_app) as captured:
        response = testapp.get("/immediate")
    (record,) = captured
    assert record.options == {"countdown": 5}
    assert record.id == response.json["id"]
    assert record.after_commit is False
    assert record.committed is None
    captured.assert_deferred("send_email", user_id=1, after_commit=False)
    with pytest.raises(AssertionError, match="after commit"):
        captured.assert_deferred(send_email, user_id=1, after_commit=True)


def test_an_aborted_transaction_drops_the_captured_task(app):
    testapp = TestApp(app.wsgi_app)
    with capture_tasks(app.registry) as captured:
        with pytest.raises(RuntimeError):
            testapp.get("/signup?user_id=4&fail=1")
        assert captured.run_all() == []
    (record,) = captured
    assert record.committed is False
    assert record.result.delivery == DROPPED
    with pytest.raises(AssertionError, match=r"send_email\(user_id=4\)"):
        captured.assert_deferred(send_email, user_id=4, after_commit=True)
    assert LOG == [("view", LOG[0][1]), "view finished"]


def test_a_missing_task_assertion_lists_what_was_captured(app):
    request = app.make_request()
    with capture_tasks(request) as captured:
        request.defer_task(send_email, 5)
        with pytest.raises(AssertionError) as info:
            captured.assert_deferred(send_email, 6)
    assert "send_email(6) was not deferred" in str(info.value)
    assert "<CapturedTask send_email(5)>" in str(info.value)
    assert captured.named(send_email) == captured.named("send_email")
    assert len(captured) == 1 and captured[0].args == (5,)


def test_unserializable_arguments_fail_at_defer_time_as_in_production(app):
    request = app.make_request()
    with capture_tasks(app.celery_app) as captured:
        with pytest.raises(TaskSerializationError, match="user_id"):
            request.defer_task(send_email, user_id=object())
    assert len(captured) == 0


def test_running_a_captured_task_goes_through_the_real_path(app):
    request = app.make_request()
    when = datetime.datetime(2024, 5, 6, 7, 8, 9)
    with capture_tasks(app.celery_app) as captured:
        handle = request.defer_task(describe, (1, 2), when, flag=True)
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
    assert LOG == ["finished"]
    # The caller's handle holds the outcome, and runs happen once.
    assert handle.get(timeout=1) == result
    assert handle.done() and handle.future.result() == result
    assert captured.run_all() == []


def test_a_captured_task_error_comes_back_to_the_test(app):
    request = app.make_request()
    with capture_tasks(app.celery_app) as captured:
        handle = request.defer_task(fail, 3)
        request.defer_task(send_email, 4)
        with pytest.raises(ValueError, match="failed with 3"):
            captured.run_all()
        assert captured[1].outcome.result == "mail hello to 4"
        with pytest.raises(ValueError, match="failed with 3"):
            captured[0].run()
    assert captured[0].outcome.state == "FAILURE"
    assert isinstance(handle.exception(), ValueError)


def test_capture_cannot_be_installed_twice(app):
    with capture_tasks(app.celery_app):
        with pytest.raises(RuntimeError, match="already captured"):
            TaskCapture(app.celery_app).install()
    assert app.celery_app.task_publisher is None


def test_inline_tasks_run_after_the_commit_with_their_own_request(app):
    testapp = TestApp(app.wsgi_app)
    with capture_tasks(app.registry, inline=True) as captured:
        testapp.get("/signup?user_id=8")
    assert LOG[1:] == ["view finished", ("send_email", 8)]
    assert captured[0].outcome.result == "mail hello to 8"
    assert captured[0].result.get(timeout=1) == "mail hello to 8"


def test_inline_tasks_do_not_run_when_the_transaction_aborts(app):
    testapp = TestApp(app.wsgi_app)
    with capture_tasks(app.registry, inline=True) as captured:
        with pytest.raises(RuntimeError):
            testapp.get("/signup?user_id=9&fail=1")
    assert ("send_email", 9) not in LOG
    assert captured[0].outcome is None


def test_inline_task_errors_reach_the_test_unless_told_otherwise(app):
    testapp = TestApp(app.wsgi_app)
    with capture_tasks(app.registry, inline=True):
        with pytest.raises(ValueError, match="failed with 7"):
            testapp.get("/broken")
    with capture_tasks(app.registry, inline=True, raise_errors=False) as c:
        testapp.get("/broken")
    assert c[0].outcome.state == "FAILURE"


def test_inline_tasks_outside_a_request_run_at_once(app):
    request = app.make_request()
    with capture_tasks(app.registry, inline=True):
        handle = request.defer_task(send_email, 10)
        assert LOG == [("send_email", 10)]
    assert handle.get(timeout=1) == "mail hello to 10"


@pytest.mark.parametrize(
    "task, args", [(describe, ((1, 2), "x")), (fail, (1,))]
)
def test_capture_and_a_real_worker_agree(task, args):
    """Same task, both paths, same outcome: the kit cannot drift."""
    app = make_tasks_app(setup, **{"app.name": "kit"})
    request = app.make_request()
    with capture_tasks(app.celery_app) as captured:
        captured_handle = request.defer_task(task, *args)
        if task is fail:
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


def test_worker_thread_runs_tasks_and_stops():
    app = make_tasks_app(setup, **{"app.name": "kit"})
    with worker_thread(app.celery_app):
        handle = app.make_request().defer_task(send_email, 11)
        assert handle.get(timeout=10) == "mail hello to 11"
    assert LOG == [("send_email", 11)]


def test_memory_settings_are_private_and_extendable():
    one, two = memory_settings(), memory_settings(**{"a": "b"})
    assert one["celery.broker_url"] == "memory://"
    assert one["celery.task_default_queue"] != two["celery.task_default_queue"]
    assert two["a"] == "b"


PLUGIN_TEST = """
from webtest import TestApp
import pytest


def greet(request, name):
    return "hello " + name


def view(request):
    request.defer_task(greet, "ann")
    return {}


@pytest.fixture
def tasks_setup():
    def setup(config):
        config.register_task(greet, name="greet")
        config.add_route("home", "/")
        config.add_view(view, route_name="home", renderer="json")
    return setup


def test_captured(tasks_app, captured_tasks):
    TestApp(tasks_app.wsgi_app).get("/")
    record = captured_tasks.assert_deferred(greet, "ann")
    assert record.run() == "hello ann"


def test_inline(tasks_app, inline_tasks):
    TestApp(tasks_app.wsgi_app).get("/")
    assert inline_tasks[0].outcome.result == "hello ann"


def test_worker(tasks_app, tasks_worker):
    handle = tasks_app.make_request().defer_task(greet, "bob")
    assert handle.future.result(timeout=10) == "hello bob"
"""


def test_the_pytest_plugin_gives_fixtures_to_any_project(tmp_path):
    (tmp_path / "test_plugin.py").write_text(textwrap.dedent(PLUGIN_TEST))
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTEST_ADDOPTS", None)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout


def twice(request):
    request.defer_task(send_email, 1)
    request.defer_task(send_email, 2)
    return {}


def test_inline_runs_every_task_of_a_request_and_clear_forgets(app):
    app.config.add_route("twice", "/twice")
    app.config.add_view(twice, route_name="twice", renderer="json")
    app.config.commit()
    testapp = TestApp(app.config.make_wsgi_app())
    with capture_tasks(app.registry, inline=True) as captured:
        testapp.get("/twice")
        assert [r.outcome.result for r in captured] == [
            "mail hello to 1",
            "mail hello to 2",
        ]
        captured.clear()
        assert len(captured) == 0
    capture = TaskCapture(app.celery_app)
    capture.uninstall()  # not installed: nothing to undo
    assert app.celery_app.task_publisher is None


def test_worker_thread_can_run_twice_for_one_app():
    app = make_tasks_app(setup, **{"app.name": "kit"})
    for n in (1, 2):
        with worker_thread(app.celery_app):
            handle = app.make_request().defer_task(send_email, n)
            assert (
                handle.get(timeout=10, interval=0.02) == f"mail hello to {n}"
            )
