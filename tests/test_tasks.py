from pyramid.config import Configurator
from pyramid.exceptions import ConfigurationConflictError, ConfigurationError
import pytest

from pyramid_tasks import PyramidTask
from pyramid_tasks.exceptions import UnknownTaskError
from pyramid_tasks.tasks import lookup_task


def add(request, x, y):
    """Add two numbers."""
    return x + y


def no_request():
    return 1  # pragma: no cover - never registered


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
    assert lookup_task(app, add).name == "test_tasks.add"


def test_custom_options_reach_the_task_as_attributes(config):
    config.register_task(add, name="add", audit_level=3)
    app = config.make_celery_app()
    assert app.tasks["add"].audit_level == 3


def test_dotted_names_are_resolved(config):
    config.register_task("test_tasks.add", name="add")
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


def test_lookup_of_an_unknown_name_lists_close_names(config):
    config.register_task(add, name="math.add")
    app = config.make_celery_app()
    with pytest.raises(UnknownTaskError) as info:
        lookup_task(app, "math.ad")
    assert "'math.ad'" in str(info.value)
    assert "'math.add'" in str(info.value)
    assert info.value.suggestions == ["math.add"]


def test_lookup_of_an_unregistered_function_names_it(config):
    app = config.make_celery_app()
    with pytest.raises(UnknownTaskError, match="'add'"):
        lookup_task(app, add)


def test_the_task_decorator_registers_on_scan():
    import scanned_tasks

    with Configurator(settings={"celery.broker_url": "memory://"}) as config:
        config.include("pyramid_tasks")
        config.scan(scanned_tasks)
        app = config.make_celery_app()
    task = app.tasks["scanned.multiply"]
    assert task.queue == "math"
    assert task.original_func is scanned_tasks.multiply
    assert lookup_task(app, scanned_tasks.multiply) is task
    # The decorator leaves the function callable as it was.
    assert scanned_tasks.multiply(None, 2, 3) == 6
