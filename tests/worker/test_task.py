"""PyramidTask: each task gets a Pyramid request, in a real worker."""

from celery import chord, group
from pyramid.threadlocal import (
    RequestContext,
    get_current_registry,
    get_current_request,
)
import pytest

from pyramid_tasks import BeforeTaskRun, CeleryWorkerProcessInit, TaskDeferred
from pyramid_tasks.context import CONTEXT_HEADER
from pyramid_tasks.testing import capture_tasks, make_tasks_app
from pyramid_tasks.worker.task import notifies_task_runs

from services import (
    BROKERS,
    EventLog,
    in_transaction,
    make_request,
    running_worker,
)

EVENTS = []


def inspect_request(request, marker):
    return {
        "marker": marker,
        "settings": request.registry.settings["app.name"],
        "db": request.db,
        "counter": request.counter(),
        "current_request": get_current_request() is request,
        "current_registry": get_current_registry() is request.registry,
        "current_task": request.current_task.name,
        "task_id": request.current_task.request.id,
        "url": request.route_url("home"),
        "path": request.path,
        "user_agent": request.environ.get("HTTP_USER_AGENT"),
    }


def with_callback(request, fail):
    def finished(req):
        exception = getattr(req, "exception", None)
        EVENTS.append(
            ("finished", req.current_task.request.id, repr(exception))
        )

    request.add_finished_callback(finished)
    if fail:
        raise ValueError("task failed")
    return "ok"


def setup(config):
    config.add_settings({"app.name": "worker-test"})
    config.add_request_method(lambda r: "DB", "db", reify=True)
    config.add_request_method(lambda r: 41 + 1, "counter")
    config.add_route("home", "/home")
    config.register_task(inspect_request, name="inspect_request")
    config.register_task(with_callback, name="with_callback")
    config.add_subscriber(EVENTS.append, CeleryWorkerProcessInit)


@pytest.fixture(scope="module", params=BROKERS)
def worker(request):
    from pyramid.config import Configurator

    from services import broker_settings

    config = Configurator(settings=broker_settings(request.param))
    config.include("pyramid_tasks")
    setup(config)
    app = config.make_celery_app()
    with running_worker(app):
        yield config, app


def test_each_task_gets_a_fresh_pyramid_request(worker):
    config, app = worker
    request = make_request(config.registry, "/somewhere")
    first = request.defer_task("inspect_request", 1)
    second = request.defer_task("inspect_request", 2)
    one, two = first.get(timeout=15), second.get(timeout=15)
    assert one == {
        "marker": 1,
        "settings": "worker-test",
        "db": "DB",
        "counter": 42,
        "current_request": True,
        "current_registry": True,
        "current_task": "inspect_request",
        "task_id": first.id,
        "url": "http://localhost/home",
        "path": "/",
        "user_agent": None,
    }
    assert two["task_id"] == second.id


def test_finished_callbacks_run_on_success_and_failure(worker):
    config, app = worker
    request = make_request(config.registry)
    ok = request.defer_task("with_callback", False)
    bad = request.defer_task("with_callback", True)
    assert ok.get(timeout=15) == "ok"
    with pytest.raises(ValueError, match="task failed"):
        bad.get(timeout=15)
    finished = {e[1]: e[2] for e in EVENTS if isinstance(e, tuple)}
    assert finished[ok.id] == "None"
    assert finished[bad.id] == "ValueError('task failed')"


def test_an_explicit_environ_header_seeds_the_task_request(worker):
    config, app = worker
    request = make_request(config.registry)
    result = request.defer_task_with_options(
        "inspect_request",
        args=(3,),
        headers={"environ": {"HTTP_USER_AGENT": "compat/0.4"}},
    )
    assert result.get(timeout=15)["user_agent"] == "compat/0.4"


def test_worker_process_init_fires_the_pyramid_event(worker):
    config, app = worker
    fired = [e for e in EVENTS if isinstance(e, CeleryWorkerProcessInit)]
    assert fired and fired[-1].registry is config.registry


def test_run_events_are_only_built_when_someone_listens():
    log = EventLog()
    app = make_tasks_app(log.setup((TaskDeferred,)))
    assert notifies_task_runs(app.celery_app) is False
    bare = make_tasks_app()
    assert bare.registry.has_listeners is False
    assert notifies_task_runs(bare.celery_app) is False
    # A subscriber added later is seen: the cache follows the registry.
    app.config.add_subscriber(log.record, BeforeTaskRun)
    app.config.commit()
    assert notifies_task_runs(app.celery_app) is True
    with capture_tasks(app.celery_app) as captured:
        app.make_request().defer_task("add", 1, 1)
        captured.run_all()
    assert [type(e) for e in log.events] == [TaskDeferred, BeforeTaskRun]


def whereami(request):
    return {"url": request.route_url("home"), "agent": request.user_agent}


def test_apply_treats_the_message_headers_as_a_worker_does():
    def setup(config):
        config.add_route("home", "/home")
        config.register_task(whereami, name="whereami")

    app = make_tasks_app(
        setup, **{"pyramid_tasks.public_url": "https://public.example"}
    )
    task = app.celery_app.tasks["whereami"]
    assert task.apply().get()["url"] == "https://public.example/home"
    carried = {"url": ["http", "shop.example:8080", "/app"]}
    result = task.apply(
        headers={
            CONTEXT_HEADER: carried,
            "environ": {"HTTP_USER_AGENT": "compat/0.4"},
        }
    ).get()
    assert result == {
        "url": "http://shop.example:8080/app/home",
        "agent": "compat/0.4",
    }


def add(request, x, y):
    return x + y


def where_from(request):
    return request.route_url("home")


def direct_setup(config):
    config.add_route("home", "/home")
    config.register_task(add, name="add")
    config.register_task(where_from, name="where_from")


@pytest.mark.parametrize(
    "send",
    [
        lambda tasks: tasks["add"].delay(1, 2),
        lambda tasks: tasks["add"].s(1, 2).apply_async(),
        lambda tasks: (tasks["add"].s(1, 2) | tasks["add"].s(3)).apply_async(),
        lambda tasks: group(tasks["add"].s(1, 2), tasks["add"].s(3, 4))(),
        lambda tasks: chord([tasks["add"].s(1, 2)], tasks["add"].s(3))(),
    ],
    ids=["delay", "signature", "chain", "group", "chord"],
)
def test_celerys_own_api_in_a_view_waits_for_the_commit(send):
    app = make_tasks_app(direct_setup)
    tasks = app.celery_app.tasks
    request = app.make_request(HTTP_HOST="shop.example")
    with capture_tasks(app.celery_app) as captured:
        manager = in_transaction(request)
        with RequestContext(request), manager:
            send(tasks)
            assert captured.tasks and not any(r.published for r in captured)
        assert all(r.committed for r in captured)
        with RequestContext(request):
            manager.begin()
            send(tasks)
            manager.abort()
        dropped = [r for r in captured if r.committed is False]
        assert dropped and not any(r.published for r in dropped)


def test_celerys_own_api_sends_at_once_when_asked_or_outside_requests():
    app = make_tasks_app(direct_setup)
    task = app.celery_app.tasks["where_from"]
    request = app.make_request(HTTP_HOST="shop.example")
    with capture_tasks(app.celery_app) as captured:
        with RequestContext(request), in_transaction(request):
            task.apply_async(after_commit=False)
            task.s().set(after_commit=False).delay()
        task.delay()  # no request: Celery as usual
        assert [r.after_commit for r in captured] == [False, False, False]
        assert captured.run_all() == [
            "http://shop.example/home",
            "http://shop.example/home",
            "http://localhost/home",
        ]


def test_eager_runs_apply_and_verify_the_carried_context():
    app = make_tasks_app(
        direct_setup,
        **{
            "celery.task_always_eager": "true",
            "pyramid_tasks.context_secret": "s3cret",
        },
    )
    request = app.make_request(HTTP_HOST="shop.example")
    handle = request.defer_task("where_from")
    assert handle.get() == "http://shop.example/home"
    forged = app.celery_app.tasks["where_from"].apply(
        headers={CONTEXT_HEADER: {"url": ["http", "evil.example", ""]}}
    )
    assert forged.failed()
    assert "rejected: it is not signed" in str(forged.result)
