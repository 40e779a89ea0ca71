"""Apps for the producer-side tests.

``web``: a pyramid_tm app whose view defers ``noop`` tasks at
``/defer?count=N``; ``&immediate=1`` sends at once, ``&fail=1`` raises
after deferring, ``&doom=1`` dooms the transaction. ``app``: an in-memory
app with the tasks ``add`` and ``fail`` whose futures poll quickly.
"""

from types import SimpleNamespace

import pytest
from webtest import TestApp

from pyramid_tasks.testing import make_tasks_app

from services import broker_settings

HANDLES = []
RAN = []


def noop(request, n):
    return n


def defer_view(request):
    count = int(request.params.get("count", 1))
    immediate = "immediate" in request.params
    for n in range(count):
        handle = request.defer_task_with_options(
            noop, args=(n,), after_commit=False if immediate else None
        )
        HANDLES.append(handle)
    request.response.text = ",".join(h.delivery for h in HANDLES)
    if "fail" in request.params:
        raise RuntimeError("view failed after deferring")
    if "doom" in request.params:
        request.tm.doom()
    return request.response


def setup_defer_view(config):
    config.include("pyramid_tm")
    config.register_task(noop, name="noop")
    config.add_route("defer", "/defer")
    config.add_view(defer_view, route_name="defer")


@pytest.fixture
def web(make_app):
    """``web.build(setup=None, broker="memory", **settings)`` gives a
    WebTest app and its Celery app; ``web.handles`` the view's handles."""
    HANDLES.clear()

    def build(extra_setup=None, broker="memory", **settings):
        def setup(config):
            setup_defer_view(config)
            if extra_setup is not None:
                extra_setup(config)

        config, app = make_app(setup, broker=broker, **settings)
        return TestApp(config.make_wsgi_app()), app

    yield SimpleNamespace(build=build, handles=HANDLES, noop=noop)
    HANDLES.clear()


def add(request, x, y=0):
    RAN.append((x, y))
    return x + y


def fail(request, message):
    raise ValueError(message)


def setup_add_and_fail(config):
    config.register_task(add, name="add")
    config.register_task(fail, name="fail")


@pytest.fixture
def app_on():
    """``app_on(broker)``: a :class:`~pyramid_tasks.testing.TasksApp`
    with the tasks ``add`` and ``fail`` whose futures poll quickly;
    ``app.ran`` lists the ``add`` calls."""
    RAN.clear()

    def build(broker="memory"):
        tasks_app = make_tasks_app(
            setup_add_and_fail,
            **broker_settings(broker),
            **{"pyramid_tasks.futures.poll_interval": "0.02"},
        )
        tasks_app.ran = RAN
        return tasks_app

    return build


@pytest.fixture
def app(app_on):
    """``app_on("memory")``."""
    return app_on()
