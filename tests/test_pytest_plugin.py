"""The pytest plugin: fixtures any project gets from installing us."""

import os
import subprocess
import sys
import textwrap

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
