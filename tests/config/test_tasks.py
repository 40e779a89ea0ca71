"""config.register_task and the @task decorator."""

from dataclasses import dataclass
import functools
from unittest import mock

from pyramid.config import Configurator
from pyramid.exceptions import ConfigurationConflictError, ConfigurationError
import pytest

from pyramid_tasks import PyramidTask, TaskArgumentsError

from services import make_request


def add(request, x, y):
    """Add two numbers."""
    return x + y


def no_request():
    """Cannot be a task: it takes no request."""


def keyword_request(*, request):
    """Cannot be a task: the request must come first, by position."""


class Greeter:
    def __init__(self, greeting):
        self.greeting = greeting

    def greet(self, request, name):
        return f"{self.greeting} {name}"

    def __call__(self, request, name):
        return f"{self.greeting}, {name}!"


@dataclass
class Unhashable:
    """A callable object that cannot be a dict key (``eq`` without hash)."""

    factor: int

    def __call__(self, request, x):
        return x * self.factor


def test_register_task_creates_a_celery_task_with_options(config):
    config.register_task(add, name="add", queue="math", rate_limit="5/s")
    app = config.make_celery_app()
    task = app.tasks["add"]
    assert isinstance(task, PyramidTask)
    assert task.queue == "math"
    assert task.rate_limit == "5/s"
    assert task.original_func is add
    assert task.__doc__ == "Add two numbers."


def test_the_default_name_is_module_and_function(config):
    config.register_task(add)
    app = config.make_celery_app()
    assert app.lookup_task(add).name == f"{__name__}.add"


def test_custom_options_reach_the_task_as_attributes(config):
    config.register_task(add, name="add", audit_level=3)
    app = config.make_celery_app()
    assert app.tasks["add"].audit_level == 3


def test_dotted_names_are_resolved(config):
    config.register_task(f"{__name__}.add", name="add")
    app = config.make_celery_app()
    assert app.tasks["add"].original_func is add


def test_two_tasks_with_one_name_conflict(config):
    config.register_task(add, name="add")
    config.register_task(lambda request: 1, name="add")
    with pytest.raises(ConfigurationConflictError):
        config.commit()


def test_the_application_overrides_an_included_task(config):
    def other(request):
        return "app"

    def include(config):
        config.register_task(add, name="add")

    config.include(include)
    config.register_task(other, name="add")
    app = config.make_celery_app()
    assert app.tasks["add"].original_func is other


def test_each_task_is_an_introspectable(config):
    config.register_task(add, name="add", queue="math")
    config.commit()
    intr = config.registry.introspector.get("tasks", "add")
    assert intr.title == "add"
    assert intr.type_name == "task"
    assert intr["func"] is add
    assert intr["options"] == {"queue": "math"}
    assert intr["task"].name == "add"


@pytest.mark.parametrize(
    "func, options, words",
    [
        (42, {}, "not callable"),
        (no_request, {}, "first positional argument"),
        (keyword_request, {}, "first positional argument"),
        (functools.partial(no_request), {"name": "p"}, "first positional"),
        (Greeter("hi"), {}, "pass register_task"),
        (mock.Mock(), {}, "pass register_task"),
        (next, {"name": "next"}, "signature"),
        (add, {"bind": True}, "'bind'"),
        (add, {"base": dict}, "base="),
    ],
)
def test_bad_registrations_raise_configuration_error(
    config, func, options, words
):
    with pytest.raises(ConfigurationError, match=words):
        config.register_task(func, **options)


def test_a_base_subclass_is_accepted(config):
    class Audited(PyramidTask):
        audited = True

    config.register_task(add, name="add", base=Audited)
    app = config.make_celery_app()
    assert app.tasks["add"].audited is True


def test_the_task_decorator_registers_on_scan():
    import scanned_tasks

    with Configurator(settings={"celery.broker_url": "memory://"}) as config:
        config.include("pyramid_tasks")
        config.scan(scanned_tasks)
        app = config.make_celery_app()
    task = app.tasks["scanned.multiply"]
    assert task.queue == "math"
    assert task.original_func is scanned_tasks.multiply
    assert app.lookup_task(scanned_tasks.multiply) is task
    # The decorator leaves the function callable as it was.
    assert scanned_tasks.multiply(None, 2, 3) == 6


def test_any_callable_taking_the_request_is_a_task(config):
    greeter = Greeter("Hello")
    config.register_task(functools.partial(add, y=10), name="add_ten")
    config.register_task(greeter.greet)
    config.register_task(greeter, name="greeter")
    config.register_task(Unhashable(3), name="triple")
    config.register_task(mock.Mock(return_value="mocked"), name="mocked")
    app = config.make_celery_app()
    assert app.tasks["add_ten"].apply((1,)).get() == 11
    # Methods and partials default to the name of their function.
    method = app.lookup_task(greeter.greet)
    assert method.name == f"{__name__}.greet"
    assert method.apply(("Ann",)).get() == "Hello Ann"
    assert app.tasks["greeter"].apply(("Bob",)).get() == "Hello, Bob!"
    assert app.tasks["triple"].apply((2,)).get() == 6
    assert app.tasks["mocked"].apply().get() == "mocked"
    intr = config.registry.introspector.get("tasks", "add_ten")
    assert isinstance(intr["func"], functools.partial)


def test_a_partial_gets_its_function_name_and_checks_what_is_left(config):
    config.register_task(functools.partial(add, y=10))
    app = config.make_celery_app()
    task = app.tasks[f"{__name__}.add"]
    request = make_request(config.registry)
    with pytest.raises(TaskArgumentsError, match="x, \\*, y=10"):
        request.defer_task(task.name, 1, 2)
    assert task.__doc__ == "Add two numbers."
