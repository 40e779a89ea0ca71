"""request.defer_task and friends, on the in-memory broker."""

import threading

from celery.result import GroupResult
import pytest

from pyramid_tasks import (
    TaskArgumentsError,
    TaskGroupResult,
    TaskResult,
    TaskSerializationError,
    UnknownTaskError,
)

# The pyramid-tasks 0.4 import path of the event.
from pyramid_tasks.events import BeforeDeferTask
from pyramid_tasks.testing import capture_tasks, worker_thread
from pyramid_tasks.web.states import SENT, WAITING

from services import in_transaction, make_request, running_worker


def add(request, x, y=0):
    return x + y


def whoami(request):
    return {
        "db": request.db,
        "registry_ok": request.registry is request.current_task.app.registry,
        "task": request.current_task.name,
    }


SEEN = []


def remember_and_rename(event):
    if event.kwargs.get("y") == "rename me":
        SEEN.append((event.task_name, event.args, event.request))
        event.kwargs["y"] = 2
        event.options["task_id"] = "from-event"


def setup(config):
    config.add_request_method(lambda r: "the-db", "db", reify=True)
    config.register_task(add, name="add")
    config.register_task(whoami, name="whoami")
    config.add_subscriber(remember_and_rename, BeforeDeferTask)


@pytest.fixture(scope="module")
def worker_app():
    """One app and one embedded worker for the whole module."""
    from pyramid.config import Configurator

    from services import broker_settings

    config = Configurator(settings=broker_settings("memory"))
    config.include("pyramid_tasks")
    setup(config)
    app = config.make_celery_app()
    with running_worker(app):
        yield config, app


@pytest.fixture
def make_app(worker_app):
    return lambda setup: worker_app


def test_defer_task_returns_a_result_and_the_worker_runs_it(make_app):
    config, app = make_app(setup)
    request = make_request(config.registry)
    result = request.defer_task(add, 2, y=3)
    assert isinstance(result, TaskResult)
    assert result.delivery == SENT
    assert result.get(timeout=10) == 5


def test_delay_task_is_an_alias_and_names_work(make_app):
    config, app = make_app(setup)
    request = make_request(config.registry)
    assert request.delay_task("add", 1, 1).get(timeout=10) == 2


def test_defer_task_with_options_passes_apply_async_options(make_app):
    config, app = make_app(setup)
    request = make_request(config.registry)
    result = request.defer_task_with_options(
        add, args=(1,), kwargs={"y": 4}, countdown=0.1, task_id="fixed-id"
    )
    assert result.id == "fixed-id"
    assert result.get(timeout=10) == 5


def test_get_task_result_finds_a_stored_id(make_app):
    config, app = make_app(setup)
    request = make_request(config.registry)
    task_id = request.defer_task(add, 20, 22).id
    again = request.get_task_result(task_id)
    assert isinstance(again, TaskResult)
    assert again.get(timeout=10) == 42


def test_the_task_gets_a_request_with_methods_and_registry(make_app):
    config, app = make_app(setup)
    request = make_request(config.registry)
    assert request.defer_task(whoami).get(timeout=10) == {
        "db": "the-db",
        "registry_ok": True,
        "task": "whoami",
    }


def test_an_unknown_task_names_it_and_the_closest_names(make_app):
    config, app = make_app(setup)
    request = make_request(config.registry)
    with pytest.raises(UnknownTaskError, match="'ad'.*'add'"):
        request.defer_task("ad", 1)


@pytest.mark.parametrize(
    "args, kwargs, words",
    [
        ((), {}, "missing a required argument: 'x'"),
        (
            (1, 2, 3),
            {},
            "too many positional arguments (the task takes (x, y=0))",
        ),
        ((1,), {"z": 1}, "unexpected keyword argument 'z'"),
    ],
)
def test_arguments_that_do_not_fit_fail_in_the_view(
    make_app, args, kwargs, words
):
    config, app = make_app(setup)
    request = make_request(config.registry)
    with pytest.raises(TaskArgumentsError) as info:
        request.defer_task(add, *args, **kwargs)
    assert "'add'" in str(info.value)
    assert words in str(info.value)


def test_an_unserializable_argument_is_named(make_app):
    config, app = make_app(setup)
    request = make_request(config.registry)
    with pytest.raises(TaskSerializationError) as info:
        request.defer_task(add, 1, y=object())
    assert "'add' argument 'y'" in str(info.value)
    assert "json" in str(info.value)
    with pytest.raises(TaskSerializationError, match="argument 'x'"):
        request.defer_task(add, {1, 2})


def test_before_defer_task_event_can_change_args_and_options(make_app):
    config, app = make_app(setup)
    request = make_request(config.registry)
    result = request.defer_task(add, 1, y="rename me")
    assert result.id == "from-event"
    assert result.get(timeout=10) == 3
    assert SEEN == [("add", (1,), request)]


def test_map_task_defers_one_task_per_item_as_a_group(app):
    request = app.make_request()
    with worker_thread(app.celery_app):
        group = request.map_task("add", [1, 2, 3], [10, 20, 30])
        assert isinstance(group, TaskGroupResult)
        assert isinstance(group, GroupResult)
        assert group.result(timeout=10) == [11, 22, 33]
        assert group.done() and not group.running()
        assert not group.cancelled() and group.exception() is None
        constant = request.map_task("add", [1, 2], kwargs={"y": 5})
        assert constant.result(timeout=10) == [6, 7]
        failing = request.map_task("fail", ["a", "b"])
        assert str(failing.exception(timeout=10)) == "a"
        assert [h.parent for h in group] == [None] * 3
    assert [h.id for h in group] == [f.handle.id for f in group.futures]


def test_map_task_in_a_transaction_waits_for_the_commit(app):
    request = app.make_request()
    finished = threading.Event()
    with capture_tasks(app.celery_app) as captured:
        with in_transaction(request):
            group = request.map_task("add", range(3), queue="maths")
            assert [h.delivery for h in group] == [WAITING] * 3
            assert [r.committed for r in captured] == [None] * 3
        group.add_done_callback(lambda g: finished.set())
        assert [r.committed for r in captured] == [True] * 3
        assert captured.run_all() == [0, 1, 2]
    assert finished.wait(5)
    assert group.result(timeout=1) == [0, 1, 2]
    options = [r.options for r in captured]
    assert {o["group_id"] for o in options} == {group.id}
    assert [o["group_index"] for o in options] == [0, 1, 2]
    assert {o["queue"] for o in options} == {"maths"}


def test_map_task_checks_every_item_before_deferring_any(app):
    request = app.make_request()
    with capture_tasks(app.celery_app) as captured:
        with pytest.raises(TaskArgumentsError):
            request.map_task("add", [1, 2], [1, 2], [1, 2])
        empty = request.map_task("add", [])
    assert len(captured) == 0
    assert empty.result() == [] and empty.done()
    called = []
    empty.add_done_callback(called.append)
    assert called == [empty]


def untyped(request, *items):
    return len(items)


def test_map_task_without_argument_checks(app):
    app.config.register_task(untyped, name="untyped", typing=False)
    app.config.commit()
    with capture_tasks(app.celery_app) as captured:
        group = app.make_request().map_task(untyped, [1, 2], [3, 4])
        assert captured.run_all() == [2, 2]
    assert group.result() == [2, 2]


def test_with_nothing_to_carry_the_message_has_no_context_headers():
    from pyramid_tasks.testing import make_tasks_app

    app = make_tasks_app(
        lambda config: config.register_task(add, name="add"),
        **{"pyramid_tasks.propagate_url": "false"},
    )
    assert app.celery_app.task_context.capturing is False
    with capture_tasks(app.celery_app) as captured:
        app.make_request().defer_task_with_options("add", (1,), queue="q")
    assert captured[0].options == {"queue": "q"}
