"""config.add_periodic_task: the beat schedule of the application."""

from datetime import timedelta

from celery.schedules import crontab, solar
from pyramid.exceptions import ConfigurationConflictError, ConfigurationError
import pytest


def ping(request, target="all"):
    return target


@pytest.mark.parametrize(
    "schedule",
    [5, 2.5, timedelta(minutes=1), crontab(minute=0), solar("sunset", 1, 2)],
)
def test_periodic_tasks_land_in_the_beat_schedule(config, schedule):
    config.register_task(ping, name="ping")
    config.add_periodic_task(
        schedule, "ping", ("a",), {"x": 1}, name="p", queue="q"
    )
    app = config.make_celery_app()
    assert app.conf.beat_schedule["p"] == {
        "task": "ping",
        "schedule": schedule,
        "args": ("a",),
        "kwargs": {"x": 1},
        "options": {"queue": "q"},
    }


def test_a_function_can_be_scheduled_before_it_is_registered(config):
    config.add_periodic_task(10, ping)
    config.register_task(ping, name="ping")
    app = config.make_celery_app()
    (name,) = app.conf.beat_schedule
    assert app.conf.beat_schedule[name]["task"] == "ping"
    assert name == "ping() 10"


def test_an_unknown_task_names_the_entry(config):
    config.register_task(ping, name="ping")
    config.add_periodic_task(10, "pong", name="every ten")
    with pytest.raises(ConfigurationError) as info:
        config.commit()
    assert "'every ten'" in str(info.value)
    assert "'ping'" in str(info.value)


@pytest.mark.parametrize("schedule", ["5", 0, -1, True, None])
def test_a_bad_schedule_names_the_entry(config, schedule):
    with pytest.raises(ConfigurationError, match="'nightly'"):
        config.add_periodic_task(schedule, "ping", name="nightly")


def test_two_entries_with_one_name_conflict(config):
    config.register_task(ping, name="ping")
    config.add_periodic_task(10, "ping", name="p")
    config.add_periodic_task(20, "ping", name="p")
    with pytest.raises(ConfigurationConflictError):
        config.commit()


def test_entries_are_introspectable_and_related_to_their_task(config):
    config.register_task(ping, name="ping")
    config.add_periodic_task(10, "ping", name="p")
    config.commit()
    introspector = config.registry.introspector
    intr = introspector.get("periodic tasks", "p")
    assert intr["task_name"] == "ping"
    related = introspector.related(intr)
    assert [r.discriminator for r in related] == ["ping"]


def test_bad_apply_async_options_are_an_error_naming_the_entry(config):
    config.register_task(ping, name="ping")
    config.add_periodic_task(10, "ping", name="often", countdown=float("inf"))
    with pytest.raises(ConfigurationError) as info:
        config.commit()
    assert "Periodic task 'often': Task 'ping' option countdown=inf" in str(
        info.value
    )
