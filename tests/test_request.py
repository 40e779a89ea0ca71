"""request.defer_task and friends, on the in-memory broker."""

import pytest

from pyramid_tasks import (
    BeforeDeferTask,
    TaskArgumentsError,
    TaskResult,
    TaskSerializationError,
    UnknownTaskError,
)
from pyramid_tasks.result import SENT

from services import make_request, running_worker


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


def test_events_are_importable_from_the_events_module():
    from pyramid_tasks import events

    assert events.BeforeDeferTask is BeforeDeferTask
