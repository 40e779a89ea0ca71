"""config.include("pyramid_tasks.outbox"): the directive and the settings."""

from pyramid.config import Configurator
from pyramid.exceptions import ConfigurationConflictError, ConfigurationError
import pytest

from pyramid_tasks.interfaces import IOutbox
from pyramid_tasks.outbox.relay import RelaySettings

from services import broker_settings


def request_session(request):
    return request


def configurator(**settings):
    config = Configurator(settings={**broker_settings("memory"), **settings})
    config.include("pyramid_tasks")
    config.include("pyramid_tasks.outbox")
    return config


def test_the_session_setting_names_the_session_callable():
    config = configurator(
        **{
            "pyramid_tasks.outbox.session": f"{__name__}:request_session",
            "pyramid_tasks.outbox.table": "my_outbox",
            "pyramid_tasks.outbox.batch_size": "10",
            "pyramid_tasks.outbox.in_worker": "yes",
        }
    )
    app = config.make_celery_app()
    outbox = config.registry.getUtility(IOutbox)
    assert app.outbox is outbox and outbox.session is request_session
    assert outbox.table.name == "my_outbox"
    assert outbox.tables.done.name == "my_outbox_done"
    assert outbox.relay_settings == RelaySettings(
        batch_size=10, in_worker=True
    )


def test_the_directive_wins_over_the_setting_and_is_introspectable():
    config = configurator(
        **{"pyramid_tasks.outbox.session": "not.used:anywhere"}
    )
    config.set_task_outbox(f"{__name__}.request_session", table="mine")
    config.commit()
    outbox = config.registry.getUtility(IOutbox)
    assert (outbox.session, outbox.table.name) == (request_session, "mine")
    intr = config.registry.introspector.get("task outbox", "task outbox")
    assert intr["session"] is request_session


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({}, "pyramid_tasks.outbox needs a session"),
        (
            {"pyramid_tasks.outbox.session": f"{__name__}:configurator"}
            | {"pyramid_tasks.outbox.batch_size": "0"},
            "'pyramid_tasks.outbox.batch_size' = '0'",
        ),
        (
            {"pyramid_tasks.outbox.session": f"{__name__}:broker_settings"}
            | {"pyramid_tasks.outbox.lease": "long"},
            "not a valid float",
        ),
        (
            {"pyramid_tasks.outbox.session": "pyramid_tasks.outbox:__doc__"},
            "is not a callable",
        ),
    ],
)
def test_a_bad_outbox_configuration_fails_at_startup_naming_it(
    settings, words
):
    config = configurator(**settings)
    with pytest.raises(ConfigurationError, match=words):
        config.commit()


def test_a_session_that_is_not_callable_is_refused_at_once():
    config = configurator()
    with pytest.raises(ConfigurationError, match="is not callable"):
        config.set_task_outbox(42)


def test_two_outboxes_set_by_the_application_conflict():
    config = configurator()
    config.set_task_outbox(request_session)
    config.set_task_outbox(request_session)
    with pytest.raises(ConfigurationConflictError):
        config.commit()
