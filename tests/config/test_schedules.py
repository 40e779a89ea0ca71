"""Periodic tasks declared in the ini file."""

from datetime import timedelta
import sys

from celery.schedules import crontab, solar
from hypothesis import given, settings
from hypothesis import strategies as st
from pyramid import testing
from pyramid.exceptions import ConfigurationConflictError, ConfigurationError
import pytest

from pyramid_tasks.config.schedules import (
    ScheduleTimezoneWarning,
    parse_schedule_settings,
)

from services import broker_settings

P = "pyramid_tasks.schedule."


def ping(request, target="all"):
    return target


def entry(name, **fields):
    return {f"{P}{name}.{field}": value for field, value in fields.items()}


def commit(config, settings):
    config.register_task(ping, name="ping")
    config.add_settings(settings)
    return config.make_celery_app()


@pytest.mark.parametrize(
    "every, seconds",
    [("30", 30), ("2.5", 2.5), ("45s", 45), ("10m", 600), ("2h", 7200)]
    + [("1d", 86400), (" 3 M ", 180)],
)
def test_an_every_entry_runs_at_that_interval(config, every, seconds):
    app = commit(config, entry("tick", task="ping", every=every))
    schedule = app.conf.beat_schedule["tick"]["schedule"]
    assert schedule == timedelta(seconds=seconds)


def test_an_entry_gives_args_kwargs_and_options_to_the_periodic_task(config):
    settings = entry(
        "tick",
        task="ping",
        every="5",
        args='["db"]',
        kwargs='{"target": "x"}',
        options='{"queue": "slow", "expires": 4}',
    )
    app = commit(config, settings)
    assert app.conf.beat_schedule["tick"] == {
        "task": "ping",
        "schedule": timedelta(seconds=5),
        "args": ("db",),
        "kwargs": {"target": "x"},
        "options": {"queue": "slow", "expires": 4},
    }


def test_an_entry_is_introspectable_as_a_periodic_task(config):
    commit(config, entry("tick", task="ping", every="5", args="[1]"))
    intr = config.registry.introspector.get("periodic tasks", "tick")
    assert intr["task_name"] == "ping"
    assert intr["args"] == (1,)
    assert intr.title == "tick"


def test_a_crontab_entry_warns_that_it_runs_at_utc_without_timezone(config):
    with pytest.warns(ScheduleTimezoneWarning, match="'nightly'.*UTC"):
        app = commit(
            config, entry("nightly", task="ping", crontab="0 3 * * *")
        )
    schedule = app.conf.beat_schedule["nightly"]["schedule"]
    assert schedule == crontab(minute=0, hour=3)


def test_a_crontab_entry_with_a_timezone_does_not_warn(config):
    settings = entry("weekly", task="ping", crontab="30 7 * * 1-5")
    settings.update(entry("hourly", task="ping", crontab="@Hourly"))
    settings["celery.timezone"] = "Europe/Amsterdam"
    app = commit(config, settings)
    schedules = app.conf.beat_schedule
    assert schedules["weekly"]["schedule"] == crontab(
        minute=30, hour=7, day_of_week="1-5"
    )
    assert schedules["hourly"]["schedule"] == crontab(minute=0)


def test_a_solar_entry_runs_at_the_event(config):
    app = commit(config, entry("dusk", task="ping", solar="sunset 52.1 4.3"))
    schedule = app.conf.beat_schedule["dusk"]["schedule"]
    assert isinstance(schedule, solar)
    assert (schedule.event, schedule.lat, schedule.lon) == (
        "sunset",
        52.1,
        4.3,
    )


def test_a_disabled_entry_is_validated_but_not_registered(config):
    settings = entry("off", task="ping", every="5", enabled="false")
    settings.update(entry("on", task="ping", every="5", enabled="yes"))
    app = commit(config, settings)
    assert set(app.conf.beat_schedule) == {"on"}
    settings = entry("off", task="ping", every="nope", enabled="false")
    with pytest.raises(ConfigurationError, match="'off'"):
        parse_schedule_settings(settings)


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"every": "5"}, "no task"),
        ({"task": "ping"}, "exactly one of every, crontab or solar\n"),
        (
            {"task": "ping", "every": "5", "crontab": "* * * * *"},
            r"\(got every, crontab\)",
        ),
        ({"task": "ping", "every": "0"}, "must be positive"),
        ({"task": "ping", "every": "5 minutes"}, "a unit s, m, h or d"),
        ({"task": "ping", "crontab": "0 3 * *"}, "five fields"),
        ({"task": "ping", "crontab": "0 25 * * *"}, "'0 25 \\* \\* \\*'"),
        ({"task": "ping", "solar": "sunset 52.1"}, "an event, a latitude"),
        ({"task": "ping", "solar": "sunsett 1 2"}, "must be one of"),
        ({"task": "ping", "solar": "sunset north 2"}, "solar = "),
        ({"task": "ping", "every": "5", "args": "[1,"}, "not valid JSON"),
        ({"task": "ping", "every": "5", "args": '{"a": 1}'}, "JSON list"),
        ({"task": "ping", "every": "5", "kwargs": "[1]"}, "JSON object"),
        ({"task": "ping", "every": "5", "options": "1"}, "JSON object"),
        ({"task": "ping", "every": "5", "enabled": "maybe"}, "true or"),
        ({"task": "ping", "every": "5", "kwarg": "{}"}, "mean 'kwargs'"),
        ({"task": "ping", "every": "5", "zzz": "{}"}, "unknown field 'zzz'"),
    ],
)
def test_a_malformed_entry_is_an_error_naming_it(config, fields, message):
    with pytest.raises(ConfigurationError, match=message) as info:
        commit(config, entry("my.entry", **fields))
    assert "'my.entry'" in str(info.value)


def test_a_setting_without_a_field_is_an_error_naming_it(config):
    with pytest.raises(ConfigurationError, match=f"'{P}tick'"):
        commit(config, {f"{P}tick": "ping"})


def test_an_unknown_task_is_an_error_naming_the_entry(config):
    with pytest.raises(ConfigurationError) as info:
        commit(config, entry("tick", task="pong", every="5"))
    assert "'tick'" in str(info.value)
    assert "did you mean 'ping'" in str(info.value)


def test_a_solar_entry_without_ephem_is_an_error(config, monkeypatch):
    monkeypatch.setitem(sys.modules, "ephem", None)
    with pytest.raises(ConfigurationError, match="'dusk'.*ephem"):
        commit(config, entry("dusk", task="ping", solar="sunset 1 2"))


def test_an_entry_conflicts_with_a_periodic_task_of_its_name(config):
    config.add_periodic_task(10, "ping", name="tick")
    with pytest.raises(ConfigurationConflictError) as info:
        commit(config, entry("tick", task="ping", every="5"))
    assert f"{P}tick.every = 5" in str(info.value)


def include_a_tick(config):
    config.add_periodic_task(10, "ping", name="tick")


def test_an_entry_overrides_a_periodic_task_of_an_included_package(config):
    config.include(include_a_tick)
    app = commit(config, entry("tick", task="ping", every="5"))
    schedule = app.conf.beat_schedule["tick"]["schedule"]
    assert schedule == timedelta(seconds=5)


def test_settings_without_entries_register_nothing(config):
    app = commit(config, {"pyramid_tasks.scheduler": "x"})
    assert app.conf.beat_schedule == {}
    assert not config.registry.introspector.get_category("periodic tasks")


FIELD_VALUES = st.one_of(
    st.text(max_size=8),
    st.sampled_from(
        [
            "ping",
            "nope",
            "30",
            "-5",
            "0",
            "99999999999999999999",
            "1e400",
            "10m",
            "5 7 * * 1-5",
            "61 * * * *",
            "@daily",
            "@never",
            "sunset 52.37 4.89",
            "sunset 999 4.89",
            "dusk x y",
            "[]",
            "[1, 2]",
            "{}",
            '{"target": 1}',
            '{"countdown": 1e400}',
            '{"priority": 999}',
            "{not json",
            "true",
            "maybe",
        ]
    ),
)
FIELDS = st.dictionaries(
    st.sampled_from(
        ["task", "every", "crontab", "solar", "args", "kwargs", "options"]
        + ["enabled", "evry"]
    ),
    FIELD_VALUES,
    max_size=5,
)


@settings(max_examples=600, deadline=None)
@given(fields=FIELDS)
def test_any_ini_entry_is_registered_or_a_named_error(fields):
    config = testing.setUp(
        autocommit=False, settings=broker_settings("memory")
    )
    try:
        config.include("pyramid_tasks")
        config.register_task(ping, name="ping")
        config.add_settings(entry("fuzzed", **fields))
        try:
            app = config.make_celery_app()
        except ConfigurationError as exc:
            assert "fuzzed" in str(exc)
            return
        enabled = fields.get("enabled", "true").strip().lower() == "true"
        declared = bool(fields) and enabled
        assert ("fuzzed" in app.conf.beat_schedule) is declared
    finally:
        testing.tearDown()
