"""The ledger's own tests, written with pyramid_tasks' testing kit.

The kit's pytest plugin gives the fixtures ``tasks_app``,
``captured_tasks`` and ``inline_tasks``; this module only says how to
configure the application.
"""

import html
import re

import pytest
from sqlalchemy_ledger.tasks import total_task
from webtest import TestApp


@pytest.fixture
def tasks_settings(tmp_path):
    from pyramid_tasks.testing import memory_settings

    return memory_settings(
        **{
            "sqlalchemy.url": f"sqlite:///{tmp_path / 'ledger.sqlite'}",
            "pyramid_tasks.status.secret": "kit-secret",
        }
    )


@pytest.fixture
def tasks_setup():
    def setup(config):
        config.include("pyramid_tm")
        config.include("pyramid_tasks.transaction")
        config.include("pyramid_tasks.status")
        config.include("sqlalchemy_ledger.models")
        config.include("sqlalchemy_ledger.views")
        config.include("sqlalchemy_ledger.page")
        config.include("sqlalchemy_ledger.tasks")

    return setup


def test_total_is_deferred_after_commit_and_runs_for_real(
    tasks_app, captured_tasks
):
    web = TestApp(tasks_app.wsgi_app)
    web.get("/append", {"value": 30})
    web.get("/append", {"value": 12})
    task_id = web.get("/total").text.strip()

    captured = captured_tasks.assert_deferred(total_task, 0.0)
    assert captured.after_commit and captured.committed
    assert captured.id == task_id
    # The captured message runs through the real path: a fresh task
    # request, the transaction deriver, the JSON round trip.
    assert captured_tasks.run_all() == [42]
    assert web.get("/totals").json == [{"task_id": task_id, "total": 42}]


def test_a_rejected_request_defers_nothing(tasks_app, captured_tasks):
    web = TestApp(tasks_app.wsgi_app)
    web.get("/total", {"delay": "soon"}, status=400)
    assert len(captured_tasks) == 0


def test_inline_mode_runs_the_total_after_the_request(tasks_app, inline_tasks):
    web = TestApp(tasks_app.wsgi_app)
    web.get("/append", {"value": 5})
    task_id = web.get("/total").text.strip()
    assert web.get("/result", {"id": task_id}).text == "5\n"
    assert web.get("/totals").json == [{"task_id": task_id, "total": 5}]


def test_the_page_watches_the_total_it_starts(tasks_app, inline_tasks):
    web = TestApp(tasks_app.wsgi_app)
    assert "holds 0 values" in web.get("/").text
    web.post("/", {"action": "append", "value": "40"})
    page = web.post("/", {"action": "total", "delay": "0"}).text
    assert 'role="progressbar"' in page
    assert "progress.js" in page
    url = html.unescape(re.search(r'data-task-status="([^"]+)"', page)[1])
    answer = web.get(url.removeprefix("http://localhost")).json
    assert answer["state"] == "success"
    assert answer["result"] == 40
    assert answer["progress"] is None


def test_the_page_refuses_bad_values(tasks_app):
    web = TestApp(tasks_app.wsgi_app)
    bad_value = web.post("/", {"action": "append", "value": "x"}, status=400)
    assert "must be an integer" in bad_value.text
    for delay in ("soon", "61"):
        bad = web.post("/", {"action": "total", "delay": delay}, status=400)
        assert "0 to 60 seconds" in bad.text
