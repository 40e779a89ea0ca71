"""config.set_celery_app, make_celery_app and the settings they apply."""

from pyramid.config import Configurator
from pyramid.exceptions import ConfigurationConflictError, ConfigurationError
from pyramid.registry import Registry
import pytest

from pyramid_tasks import PyramidCelery, TaskGroupResult, TaskResult
from pyramid_tasks.exceptions import UnsafeSerializerWarning
from pyramid_tasks.interfaces import ICeleryApp, IFuturePoller
from pyramid_tasks.web.publisher import BrokerPublisher


def hello(request):
    return request.registry.settings.get("who")


class MyCelery(PyramidCelery):
    """An application's own Celery app class."""


def configurator(**settings):
    settings.setdefault("celery.broker_url", "memory://")
    config = Configurator(settings=settings)
    config.include("pyramid_tasks")
    return config


def test_make_celery_app_returns_the_configured_app():
    config = configurator(**{"celery.task_acks_late": "on"})
    app = config.make_celery_app()
    assert isinstance(app, PyramidCelery)
    assert app.registry is config.registry
    assert config.registry.celery_app is app
    assert config.registry.getUtility(ICeleryApp) is app
    assert app.conf.task_acks_late is True
    assert app.conf.broker_url == "memory://"
    assert isinstance(app.publisher, BrokerPublisher)


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


def test_the_app_is_there_during_configuration_and_made_once():
    config = configurator()
    early = config.registry.celery_app
    config.include("pyramid_tasks")  # again: the same default app
    assert config.registry.celery_app is early
    config.register_task(hello, name="hello")
    assert config.make_celery_app() is early
    assert early.tasks["hello"].apply().get() is None


def test_the_application_sets_its_own_app_class():
    config = configurator()
    config.set_celery_app(MyCelery)
    config.register_task(hello, name="hello")
    app = config.make_celery_app()
    assert type(app) is MyCelery
    assert "hello" in app.tasks
    assert config.registry.celery_app is app


def test_the_application_sets_an_app_it_made():
    config = configurator()
    mine = MyCelery(config.registry, main="mine")
    config.set_celery_app(mine)
    assert config.make_celery_app() is mine
    intr = config.registry.introspector.get("celery app", "celery app")
    assert intr["app"] is mine and intr.title == "mine"


def test_a_dotted_name_is_resolved():
    config = configurator()
    config.set_celery_app(f"{__name__}.MyCelery")
    assert type(config.make_celery_app()) is MyCelery


@pytest.mark.parametrize(
    "app",
    [
        lambda registry: object(),
        PyramidCelery(Registry("other")),
        "not.a.module:nothing",
    ],
    ids=["a factory of something else", "another registry", "no module"],
)
def test_something_else_than_our_app_is_refused(app):
    config = configurator()
    with pytest.raises((ConfigurationError, ImportError)) as info:
        config.set_celery_app(app)
    if isinstance(info.value, ConfigurationError):
        assert "made for this registry" in str(info.value)


def test_two_apps_set_by_the_application_conflict():
    config = configurator()
    config.set_celery_app(MyCelery)
    config.set_celery_app(MyCelery)
    with pytest.raises(ConfigurationConflictError):
        config.commit()


def test_settings_added_later_in_configuration_still_count():
    config = configurator()
    config.add_settings(
        {
            "celery.task_default_queue": "later",
            "pyramid_tasks.futures.poll_interval": "0.5",
        }
    )
    app = config.make_celery_app()
    assert app.conf.task_default_queue == "later"
    assert config.registry.getUtility(IFuturePoller).interval == 0.5


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("pyramid_tasks.after_commit", "perhaps", "not a valid bool"),
        ("pyramid_tasks.futures.poll_interval", "often", "not a valid float"),
        ("pyramid_tasks.futures.poll_interval", "-1", "a number >= 0"),
        ("pyramid_tasks.progress.interval", "-0.5", "a number >= 0"),
        ("pyramid_tasks.progress.interval", "soon", "not a valid float"),
        ("pyramid_tasks.public_url", "ftp://x", "not a public URL"),
    ],
)
def test_a_bad_setting_fails_at_startup_naming_it(key, value, words):
    config = configurator(**{key: value})
    with pytest.raises(ConfigurationError) as info:
        config.commit()
    assert f"{key!r} = {value!r}" in str(info.value)
    assert words in str(info.value)


def test_the_after_commit_setting_is_read():
    assert configurator().make_celery_app().after_commit is True
    app = configurator(**{"pyramid_tasks.after_commit": "off"})
    assert app.make_celery_app().after_commit is False


def test_the_progress_interval_setting_is_read():
    assert configurator().make_celery_app().progress_interval == 0.5
    app = configurator(**{"pyramid_tasks.progress.interval": "0"})
    assert app.make_celery_app().progress_interval == 0.0


def test_enabling_pickle_warns_why_it_is_dangerous():
    config = configurator(**{"celery.accept_content": "json, pickle"})
    with pytest.warns(UnsafeSerializerWarning, match="run code"):
        config.commit()


class MyResult(TaskResult):
    """An application's own handle class."""


class MyGroupResult(TaskGroupResult):
    """An application's own group handle class."""


class RecordingPublisher(BrokerPublisher):
    """An application's own publisher."""


def test_classes_and_publisher_an_app_brings_are_kept():
    class Custom(PyramidCelery):
        result_class = MyResult
        group_result_class = MyGroupResult

    config = configurator()
    mine = Custom(config.registry)
    mine.publisher = RecordingPublisher(mine)
    config.set_celery_app(mine)
    app = config.make_celery_app()
    assert isinstance(app.AsyncResult("x"), MyResult)
    assert isinstance(app.GroupResult("g", []), MyGroupResult)
    assert type(app.publisher) is RecordingPublisher
