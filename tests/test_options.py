"""Checks of well-known ``apply_async`` options at defer time."""

from __future__ import annotations

from datetime import datetime, timezone

from kombu import Exchange, Queue
import pytest

from pyramid_tasks.exceptions import TaskOptionsError
from pyramid_tasks.options import check_options


class DummyTask:
    name = "add"


GOOD = [
    {"countdown": 5},
    {"countdown": 0.5},
    {"eta": datetime(2030, 1, 1, tzinfo=timezone.utc)},
    {"eta": "2030-01-01T00:00:00+00:00"},
    {"expires": 60},
    {"expires": "2030-01-01T00:00:00"},
    {"time_limit": 10, "soft_time_limit": 5},
    {"priority": 0},
    {"priority": 255},
    {"queue": "slow"},
    {"queue": Queue("slow")},
    {"exchange": Exchange("x")},
    {"routing_key": "a.b", "task_id": "id", "shadow": "name"},
    {"headers": {"a": 1}, "retry_policy": {"max_retries": 1}},
    {"retry": False, "ignore_result": True},
    {"serializer": "json"},
    {"compression": "gzip"},
    {"countdown": None, "eta": None},
    {"mandatory": "anything: not checked"},
]


@pytest.mark.parametrize("options", GOOD, ids=str)
def test_valid_options_pass(options):
    check_options(DummyTask(), options)


BAD = [
    ("countdown", "soon", "a number of seconds"),
    ("countdown", True, "a number of seconds"),
    ("eta", 5, "a datetime or an ISO 8601 string"),
    ("eta", "tomorrow", "a datetime or an ISO 8601 string"),
    (
        "expires",
        "never",
        "a number of seconds, a datetime or an ISO 8601 string",
    ),
    ("time_limit", "1m", "a number of seconds"),
    ("priority", "high", "an integer from 0 to 255"),
    ("priority", -1, "an integer from 0 to 255"),
    ("priority", True, "an integer from 0 to 255"),
    ("queue", 5, "a queue name or a kombu Queue"),
    ("exchange", 5, "an exchange name or Exchange"),
    ("routing_key", 5, "a string"),
    ("headers", [("a", 1)], "a dict"),
    ("retry", "yes", "True or False"),
    ("serializer", "xml", "the name of an installed serializer"),
    ("serializer", 5, "the name of an installed serializer"),
    ("compression", "rar", "a registered compression such as 'gzip'"),
]


@pytest.mark.parametrize(("name", "value", "expected"), BAD, ids=str)
def test_invalid_option_names_task_option_and_value(name, value, expected):
    with pytest.raises(TaskOptionsError) as info:
        check_options(DummyTask(), {name: value})
    assert str(info.value) == (
        f"Task 'add' option {name}={value!r} is invalid: expected {expected}"
    )
