"""The Celery app of a Pyramid registry."""

from celery import Celery, current_app
from pyramid.config import Configurator
from pyramid.registry import Registry
import pytest
from zope.interface.interfaces import ComponentLookupError

from pyramid_tasks import PyramidCelery, TaskGroupResult, TaskResult
from pyramid_tasks.application import get_celery_app
from pyramid_tasks.exceptions import UnknownTaskError
from pyramid_tasks.interfaces import ITaskContext, ITaskRequestFactory


def hello(request):
    return request.registry.settings["who"]


def add(request, x, y):
    """Add two numbers."""
    return x + y


def build(**settings):
    settings.setdefault("celery.broker_url", "memory://")
    with Configurator(settings=settings) as config:
        config.include("pyramid_tasks")
        config.register_task(hello, name="hello")
    return config


def test_two_configurators_give_two_independent_apps():
    one = build(**{"celery.task_default_queue": "one", "who": "one"})
    two = build(**{"celery.task_default_queue": "two", "who": "two"})
    app_one, app_two = one.make_celery_app(), two.make_celery_app()
    assert app_one is not app_two
    assert app_one.conf.task_default_queue == "one"
    assert app_two.conf.task_default_queue == "two"
    assert app_one.tasks["hello"] is not app_two.tasks["hello"]
    assert app_one.tasks["hello"].apply().get() == "one"
    assert app_two.tasks["hello"].apply().get() == "two"


def test_tasks_do_not_leak_into_other_celery_apps():
    build()
    other = Celery(set_as_current=False)
    assert "hello" not in other.tasks


def test_our_app_is_never_made_the_current_app():
    before = current_app._get_current_object()
    app = build().make_celery_app()
    assert current_app._get_current_object() is before
    assert current_app._get_current_object() is not app


def test_the_main_name_is_the_package_of_the_registry():
    registry = Registry("myapp")
    assert PyramidCelery(registry).main == "myapp"
    assert PyramidCelery(Registry("")).main == "pyramid_tasks"


def test_components_are_looked_up_through_their_interfaces():
    config = build()
    app = get_celery_app(config.registry)
    assert app is config.registry.celery_app
    assert app.task_context is config.registry.getUtility(ITaskContext)
    factory = config.registry.getUtility(ITaskRequestFactory)
    assert app.task_request_factory is factory


def test_handles_are_the_classes_configuration_set():
    app = build().make_celery_app()
    handle = app.AsyncResult("some-id")
    assert isinstance(handle, TaskResult)
    assert handle.app is app
    group = app.GroupResult("group-id", [handle])
    assert isinstance(group, TaskGroupResult)
    # A bare app keeps Celery's own classes.
    bare = PyramidCelery(Registry())
    assert not isinstance(bare.AsyncResult("x"), TaskResult)


def test_an_app_without_pyramid_tasks_has_no_celery_app():
    with pytest.raises(ComponentLookupError):
        get_celery_app(Registry())


def test_lookup_finds_tasks_by_function_and_by_name(config):
    config.register_task(add, name="math.add")
    app = config.make_celery_app()
    assert app.lookup_task(add) is app.tasks["math.add"]
    assert app.lookup_task("math.add") is app.tasks["math.add"]


def test_lookup_of_an_unknown_name_lists_close_names(config):
    config.register_task(add, name="math.add")
    app = config.make_celery_app()
    with pytest.raises(UnknownTaskError) as info:
        app.lookup_task("math.ad")
    assert "'math.ad'" in str(info.value)
    assert "'math.add'" in str(info.value)
    assert info.value.suggestions == ["math.add"]


def test_lookup_of_an_unregistered_function_names_it(config):
    app = config.make_celery_app()
    with pytest.raises(UnknownTaskError, match="'add'"):
        app.lookup_task(add)


def test_lookup_of_something_unhashable_is_an_unknown_task(config):
    app = config.make_celery_app()
    with pytest.raises(UnknownTaskError, match=r"\[1, 2\]"):
        app.lookup_task([1, 2])


def test_lookup_of_a_task_of_another_app_is_an_unknown_task(config):
    config.register_task(add, name="math.add")
    app = config.make_celery_app()
    other = build().make_celery_app()
    assert app.lookup_task(app.tasks["math.add"]) is app.tasks["math.add"]
    with pytest.raises(UnknownTaskError, match="'hello'"):
        app.lookup_task(other.tasks["hello"])
