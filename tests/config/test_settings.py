"""Reading the settings: ``celery.*`` for Celery, ``pyramid_tasks.*`` ours."""

from datetime import timedelta

from celery.app.defaults import NAMESPACES, flatten
from pyramid.exceptions import ConfigurationError
import pytest

from pyramid_tasks.config.settings import coerce_setting, read_setting

# The pyramid-tasks 0.4 import path.
from pyramid_tasks.settings import (
    UnknownCelerySetting,
    extract_celery_settings,
)


def test_only_celery_prefixed_keys_are_taken_without_the_prefix():
    config = extract_celery_settings(
        {"celery.broker_url": "redis://", "sqlalchemy.url": "sqlite://"}
    )
    assert config == {"broker_url": "redis://"}


def test_dotted_keys_nest_and_numbers_inside_dicts_are_coerced():
    config = extract_celery_settings(
        {
            "celery.broker_transport_options.visibility_timeout": "3600",
            "celery.broker_transport_options.queue_name_prefix": "dev-",
            "celery.broker_transport_options.polling_interval": "0.5",
            "celery.broker_transport_options.fanout_prefix": "true",
        }
    )
    assert config == {
        "broker_transport_options": {
            "visibility_timeout": 3600,
            "queue_name_prefix": "dev-",
            "polling_interval": 0.5,
            "fanout_prefix": True,
        }
    }


def test_known_keys_inside_a_dict_setting_take_the_type_of_celerys_default():
    config = extract_celery_settings(
        {
            "celery.task_publish_retry_policy.max_retries": "5",
            "celery.task_publish_retry_policy.interval_step": "1",
        }
    )
    policy = config["task_publish_retry_policy"]
    assert policy == {"max_retries": 5, "interval_step": 1.0}
    assert isinstance(policy["interval_step"], float)


def test_deeper_nesting_builds_nested_dicts():
    config = extract_celery_settings(
        {"celery.task_routes.app.tasks.add": "math"}
    )
    assert config == {"task_routes": {"app": {"tasks": {"add": "math"}}}}


@pytest.mark.parametrize(
    "key, text, expected",
    [
        ("worker_concurrency", "4", 4),
        ("worker_prefetch_multiplier", " 1 ", 1),
        ("result_expires", "60.5", 60.5),
        ("task_default_rate_limit", "10/m", "10/m"),
        ("task_acks_late", "true", True),
        ("task_acks_late", "yes", True),
        ("task_acks_late", "on", True),
        ("task_acks_late", "1", True),
        ("task_acks_late", "false", False),
        ("task_acks_late", "no", False),
        ("task_acks_late", "0", False),
        ("task_acks_late", "off", False),
        ("accept_content", "json, msgpack", ["json", "msgpack"]),
        ("accept_content", "json\nmsgpack", ["json", "msgpack"]),
        ("accept_content", "", []),
        ("imports", "a.tasks,\n b.tasks", ("a.tasks", "b.tasks")),
        ("include", "", ()),
        ("beat_schedule", '{"x": {"task": "t"}}', {"x": {"task": "t"}}),
        ("security_key_password", "pw", b"pw"),
        ("beat_cron_starting_deadline", "30", 30),
        ("timezone", "Europe/Paris", "Europe/Paris"),
    ],
)
def test_strings_are_coerced_to_the_type_celery_expects(key, text, expected):
    config = extract_celery_settings({f"celery.{key}": text})
    assert config[key] == expected
    assert type(config[key]) is type(expected)


def test_every_boolean_setting_understands_false():
    bools = [k for k, o in flatten(NAMESPACES) if o.type == "bool"]
    assert len(bools) > 20
    config = extract_celery_settings({f"celery.{k}": "false" for k in bools})
    assert set(config.values()) == {False}


def test_python_objects_pass_through_unchanged():
    expires = timedelta(hours=1)
    routes = {"a": {"queue": "b"}}
    config = extract_celery_settings(
        {
            "celery.result_expires": expires,
            "celery.task_routes": routes,
            "celery.worker_concurrency": 3,
            "celery.broker_transport_options.visibility_timeout": 10,
        }
    )
    assert config["result_expires"] is expires
    assert config["task_routes"] is routes
    assert config["worker_concurrency"] == 3
    assert config["broker_transport_options"] == {"visibility_timeout": 10}


@pytest.mark.parametrize(
    "key, value, words",
    [
        ("celery.worker_concurrency", "many", ["worker_concurrency", "many"]),
        ("celery.result_expires", "soon", ["result_expires", "soon"]),
        ("celery.task_acks_late", "maybe", ["task_acks_late", "maybe"]),
        ("celery.beat_schedule", "[1]", ["beat_schedule", "[1]"]),
        (
            "celery.task_publish_retry_policy.max_retries",
            "x",
            ["max_retries", "'x'"],
        ),
    ],
)
def test_a_value_that_cannot_be_coerced_names_key_and_value(key, value, words):
    with pytest.raises(ConfigurationError) as info:
        extract_celery_settings({key: value})
    for word in words:
        assert word in str(info.value)


def test_an_unknown_key_warns_with_the_closest_valid_key():
    with pytest.warns(UnknownCelerySetting) as record:
        config = extract_celery_settings({"celery.broker_ulr": "redis://"})
    message = str(record[0].message)
    assert "'celery.broker_ulr'" in message
    assert "'celery.broker_url'" in message
    assert config == {"broker_ulr": "redis://"}


def test_an_unknown_key_with_nothing_close_still_warns():
    with pytest.warns(UnknownCelerySetting, match="zzzz") as record:
        extract_celery_settings({"celery.zzzz": "1"})
    assert "did you mean" not in str(record[0].message)


def test_a_value_and_a_nested_key_for_one_name_conflict():
    with pytest.raises(ConfigurationError) as info:
        extract_celery_settings(
            {
                "celery.broker_transport_options": "{}",
                "celery.broker_transport_options.visibility_timeout": "1",
            }
        )
    assert "'celery.broker_transport_options'" in str(info.value)
    assert "'celery.broker_transport_options.visibility_timeout'" in str(
        info.value
    )


def test_an_empty_name_part_is_an_error():
    with pytest.raises(ConfigurationError, match="celery.broker_url."):
        extract_celery_settings({"celery.broker_url.": "x"})


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        (bool, "yes", True),
        (bool, " Off ", False),
        (bool, True, True),
        (int, "3", 3),
        (int, 4, 4),
        (int, 5.0, 5),
        (float, "0.25", 0.25),
        (float, 2, 2.0),
        (list, "a b\nc", ["a", "b", "c"]),
        (list, ("a", "b"), ["a", "b"]),
        (list, "", []),
        (str, " X-Id ", "X-Id"),
    ],
)
def test_our_settings_are_read_strictly_as_their_kind(kind, value, expected):
    read = read_setting({"pyramid_tasks.x": value}, "pyramid_tasks.x", kind, 0)
    assert read == expected and type(read) is type(expected)


def test_a_missing_setting_gives_the_default_converted():
    assert read_setting({}, "pyramid_tasks.x", float, "1.5") == 1.5
    assert read_setting(None, "pyramid_tasks.x", bool, True) is True


@pytest.mark.parametrize(
    ("kind", "value", "minimum", "problem"),
    [
        (bool, "perhaps", None, "is not a valid bool: use true or false"),
        (int, "many", None, "is not a valid int: expected a number"),
        (int, 2.5, None, "is not a valid int: expected a number"),
        (int, True, None, "is not a valid int: expected a number"),
        (int, "-1", 0, "is not a valid int: expected a number >= 0"),
        (float, "nan", None, "is not a valid float: expected a number"),
        (float, "inf", 0, "is not a valid float: expected a number >= 0"),
        (float, "1e999", None, "is not a valid float: expected a number"),
        (float, None, None, "is not a valid float: expected a number"),
    ],
)
def test_a_bad_value_names_the_setting_and_the_value(
    kind, value, minimum, problem
):
    with pytest.raises(ConfigurationError) as info:
        read_setting(
            {"pyramid_tasks.x": value},
            "pyramid_tasks.x",
            kind,
            0,
            minimum=minimum,
        )
    assert (
        str(info.value) == f"Setting 'pyramid_tasks.x' = {value!r} {problem}"
    )


def test_the_source_and_context_of_a_value_are_named():
    with pytest.raises(ConfigurationError) as info:
        coerce_setting(
            "x", int, "Task option retries", context=" (task 'add')"
        )
    assert str(info.value) == (
        "Task option retries = 'x' (task 'add') is not a valid int: "
        "expected a number"
    )
