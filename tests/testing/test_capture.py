"""Capturing deferred tasks: recorded, checked, inline, never sent."""

import pytest
from webtest import TestApp

from pyramid_tasks import TaskSerializationError
from pyramid_tasks.testing import TaskCapture, capture_tasks
from pyramid_tasks.web.publisher import BrokerPublisher
from pyramid_tasks.web.states import DROPPED, SENT

from services import in_transaction


def test_a_view_deferring_after_commit_is_captured_and_nothing_is_sent(app):
    testapp = TestApp(app.wsgi_app)
    with capture_tasks(app.registry) as captured:
        response = testapp.get("/signup?user_id=3")
    record = captured.assert_deferred(
        "send_email", user_id=3, after_commit=True
    )
    assert record.id == response.json["id"]
    assert record.name == "send_email"
    assert record.after_commit is True
    assert record.committed is True
    assert record.result.delivery == SENT
    assert app.log == [("view", app.log[0][1]), "view finished"]
    assert app.celery_app.publisher.__class__ is BrokerPublisher


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
        captured.assert_deferred("send_email", user_id=1, after_commit=True)


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
        captured.assert_deferred("send_email", user_id=4, after_commit=True)
    assert app.log == [("view", app.log[0][1]), "view finished"]


def test_a_missing_task_assertion_lists_what_was_captured(app):
    request = app.make_request()
    with capture_tasks(request) as captured:
        request.defer_task("send_email", 5)
        with pytest.raises(AssertionError) as info:
            captured.assert_deferred("send_email", 6)
    assert "send_email(6) was not deferred" in str(info.value)
    assert "<CapturedTask send_email(5)>" in str(info.value)
    function = app.celery_app.tasks["send_email"].original_func
    assert captured.named(function) == captured.named("send_email")
    assert len(captured) == 1 and captured[0].args == (5,)


def test_unserializable_arguments_fail_at_defer_time_as_in_production(app):
    request = app.make_request()
    with capture_tasks(app.celery_app) as captured:
        with pytest.raises(TaskSerializationError, match="user_id"):
            request.defer_task("send_email", user_id=object())
    assert len(captured) == 0


def test_capture_cannot_be_installed_twice(app):
    with capture_tasks(app.celery_app):
        with pytest.raises(RuntimeError, match="already captured"):
            TaskCapture(app.celery_app).install()
    assert isinstance(app.celery_app.publisher, BrokerPublisher)


def test_uninstalling_gives_the_app_its_own_publisher_back(app):
    original = app.celery_app.publisher
    capture = TaskCapture(app.celery_app).install()
    assert app.celery_app.publisher is capture
    TaskCapture(app.celery_app).uninstall()  # not installed: no effect
    assert app.celery_app.publisher is capture
    capture.uninstall()
    assert app.celery_app.publisher is original


def test_inline_tasks_run_after_the_commit_with_their_own_request(app):
    testapp = TestApp(app.wsgi_app)
    with capture_tasks(app.registry, inline=True) as captured:
        testapp.get("/signup?user_id=8")
    assert app.log[1:] == ["view finished", ("send_email", 8)]
    assert captured[0].outcome.result == "mail hello to 8"
    assert captured[0].result.get(timeout=1) == "mail hello to 8"


def test_inline_tasks_do_not_run_when_the_transaction_aborts(app):
    testapp = TestApp(app.wsgi_app)
    with capture_tasks(app.registry, inline=True) as captured:
        with pytest.raises(RuntimeError):
            testapp.get("/signup?user_id=9&fail=1")
    assert ("send_email", 9) not in app.log
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
        handle = request.defer_task("send_email", 10)
        assert app.log == [("send_email", 10)]
    assert handle.get(timeout=1) == "mail hello to 10"


def test_inline_runs_every_task_of_a_request_and_clear_forgets(app):
    testapp = TestApp(app.wsgi_app)
    with capture_tasks(app.registry, inline=True) as captured:
        testapp.get("/twice")
        assert [r.outcome.result for r in captured] == [
            "mail hello to 1",
            "mail hello to 2",
        ]
        captured.clear()
        assert len(captured) == 0


def test_a_task_held_before_capturing_began_is_captured_at_commit(app):
    request = app.make_request()
    manager = in_transaction(request)
    with manager:
        handle = request.defer_task("send_email", 5)
        with capture_tasks(app.celery_app) as captured:
            assert len(captured) == 0
            manager.commit()
            manager.begin()
    (record,) = captured
    assert (record.id, record.committed, record.sent) == (
        handle.id,
        True,
        True,
    )
    assert record.run() == "mail hello to 5"
