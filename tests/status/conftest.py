"""An app with the status view, its tasks, and views that defer them.

``/defer?task=NAME`` defers a task in pyramid_tm's transaction and
answers ``{"id", "url"}`` (the status URL); ``&fail=1`` raises after
making the URL, ``&cancel=1`` cancels the handle, ``&now=1`` sends at
once. ``GATE`` holds the task ``gated`` after it reported 3 of 10.
"""

import threading
from types import SimpleNamespace

import pytest
from webtest import TestApp

from pyramid_tasks.testing import make_tasks_app

from services import running_worker

SECRET = "status-secret-for-tests"
GATE = threading.Event()
#: The handles the view made, in order.
HANDLES = []


def gated(request):
    request.report_progress(3, 10, "three of ten")
    GATE.wait(10)
    return {"total": 42}


def fail(request, message):
    raise ValueError(message)


def quiet(request):
    return None


def defer_view(request):
    params = request.params
    options = {"after_commit": False} if "now" in params else {}
    handle = request.defer_task_with_options(
        params["task"], args=request.params.getall("arg"), **options
    )
    HANDLES.append(handle)
    url = request.task_status_url(handle)
    if "twice" in params:
        url = request.task_status_url(handle)
    if "cancel" in params:
        handle.cancel()
    if "fail" in params:
        raise RuntimeError("the view failed after deferring")
    return {"id": handle.id, "url": url}


def setup(config):
    config.include("pyramid_tm")
    config.include("pyramid_tasks.status")
    config.register_task(gated, name="gated", status_result=True)
    config.register_task(gated, name="gated_private")
    config.register_task(fail, name="fail")
    config.register_task(quiet, name="quiet", ignore_result=True)
    config.add_route("defer", "/defer")
    config.add_view(defer_view, route_name="defer", renderer="json")


def make_status_app(extra_setup=None, **settings):
    """A :class:`~pyramid_tasks.testing.TasksApp` and its WebTest app."""

    def all_setup(config):
        setup(config)
        if extra_setup is not None:
            extra_setup(config)

    settings.setdefault("pyramid_tasks.status.secret", SECRET)
    tasks_app = make_tasks_app(all_setup, **settings)
    web = TestApp(tasks_app.wsgi_app)
    return SimpleNamespace(
        tasks=tasks_app, web=web, defer=lambda **p: _defer(web, p)
    )


def _defer(web, params):
    answer = web.get("/defer", params).json
    path = answer["url"].removeprefix("http://localhost")
    return answer["id"], path


@pytest.fixture
def status_app():
    """The app with no worker: deferred tasks stay in their queue."""
    GATE.clear()
    HANDLES.clear()
    yield make_status_app()
    GATE.set()


@pytest.fixture
def worked_app(status_app):
    """The same app with a real worker consuming."""
    with running_worker(status_app.tasks.celery_app):
        yield status_app
        GATE.set()
