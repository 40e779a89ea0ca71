from celery import signals
from pyramid.config import Configurator
import pytest

from pyramid_tasks import PyramidCelery
from pyramid_tasks.application import UnsafeSerializerWarning


def hello(request):
    return request.registry.settings["who"]


def build(**settings):
    settings.setdefault("celery.broker_url", "memory://")
    with Configurator(settings=settings) as config:
        config.include("pyramid_tasks")
        config.register_task(hello, name="hello")
    return config


def test_make_celery_app_returns_the_configured_app():
    config = Configurator(
        settings={
            "celery.broker_url": "memory://",
            "celery.task_acks_late": "on",
        }
    )
    config.include("pyramid_tasks")
    app = config.make_celery_app()
    assert isinstance(app, PyramidCelery)
    assert app.registry is config.registry
    assert config.registry.celery_app is app
    assert app.conf.task_acks_late is True
    assert app.conf.broker_url == "memory://"


def test_pyramid_includes_in_settings_enables_the_package():
    config = Configurator(
        settings={
            "pyramid.includes": "pyramid_tasks",
            "celery.broker_url": "memory://",
        }
    )
    config.register_task(hello, name="hello")
    app = config.make_celery_app()
    assert "hello" in app.tasks


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
    from celery import Celery

    build()
    other = Celery(set_as_current=False)
    assert "hello" not in other.tasks


def test_our_app_is_never_made_the_current_app():
    from celery import current_app

    before = current_app._get_current_object()
    app = build().make_celery_app()
    assert current_app._get_current_object() is before
    assert current_app._get_current_object() is not app


def test_including_many_times_does_not_pile_up_signal_handlers():
    build()
    count = len(signals.worker_process_init.receivers)
    for _ in range(5):
        build()
    assert len(signals.worker_process_init.receivers) == count


def test_json_is_the_default_serializer():
    app = build().make_celery_app()
    assert app.conf.task_serializer == "json"
    assert app.conf.result_serializer == "json"
    assert list(app.conf.accept_content) == ["json"]


def test_enabling_pickle_warns_why_it_is_dangerous():
    with pytest.warns(UnsafeSerializerWarning, match="run code"):
        build(**{"celery.accept_content": "json, pickle"})
