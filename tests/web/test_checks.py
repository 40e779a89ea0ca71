"""The checks made at defer time: arguments, serialization, options."""

from __future__ import annotations

from datetime import datetime, timezone
import json

from celery import signature
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kombu import Exchange, Queue
from kombu.serialization import registry
import pytest

from pyramid_tasks import (
    DeferError,
    TaskArgumentsError,
    TaskResult,
    TaskSerializationError,
)
from pyramid_tasks.exceptions import TaskOptionsError
from pyramid_tasks.testing import make_tasks_app
from pyramid_tasks.web.checks import check_options
from pyramid_tasks.web.states import SENT


class DummyTask:
    name = "add"
    serializer = "json"


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
    {"countdown": -5, "expires": 2**31 - 1},
    {"mandatory": "anything: not checked"},
    {"retry_policy": {"interval_start": 0, "interval_max": 0.5}},
    {"link": signature("add", args=(1,))},
    {"link_error": [signature("add"), signature("other")]},
    {"reply_to": "q", "group_id": "g", "group_index": 2, "root_id": "r"},
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
    ("countdown", float("inf"), "a number of seconds"),
    ("countdown", float("nan"), "a number of seconds"),
    ("countdown", 1e16, "a number of seconds within 68 years"),
    # Found by Hypothesis: Celery's own range error, below a 32-bit int.
    ("countdown", -(2**31) - 1, "a number of seconds within 68 years"),
    ("expires", float("nan"), "a number of seconds, a datetime or an ISO"),
    ("expires", -1e16, "a number of seconds within 68 years"),
    ("time_limit", float("inf"), "a number of seconds"),
    ("headers", {"a": object()}, "a dict of JSON values"),
    ("retry_policy", {"a": 1}, "a dict of max_retries, interval_start"),
    ("retry_policy", {"max_retries": "x"}, "a dict of max_retries"),
    ("retry_policy", [1], "a dict of max_retries"),
    ("link", "add", "a signature or a list of signatures"),
    ("link", [signature("add", args=(object(),))], "signatures whose"),
    ("chord", {"task": "x", "args": [object()]}, "signatures whose"),
    ("chord", {"a": 1}, "a signature or a list of signatures"),
    ("group_index", "1", "an integer"),
    ("add_to_parent", "yes", "True or False"),
]


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    BAD,
    ids=[f"{name}-{n}" for n, (name, _, _) in enumerate(BAD)],
)
def test_invalid_option_names_task_option_and_value(name, value, expected):
    with pytest.raises(TaskOptionsError) as info:
        check_options(DummyTask(), {name: value})
    assert str(info.value).startswith(
        f"Task 'add' option {name}={value!r} is invalid: expected {expected}"
    )


def add(request, x, y=1):
    return x + y


def untyped(request, *args, **kwargs):
    return len(args)


def tasks():
    def setup(config):
        config.register_task(add, name="add")
        config.register_task(untyped, name="untyped", typing=False)

    return make_tasks_app(setup)


@pytest.mark.parametrize(
    ("args", "kwargs", "problem"),
    [
        ((), {}, "missing a required argument: 'x'"),
        ((1, 2, 3), {}, "too many positional arguments"),
        ((1,), {"z": 3}, "got an unexpected keyword argument 'z'"),
    ],
)
def test_arguments_are_checked_against_the_task_without_its_request(
    args, kwargs, problem
):
    request = tasks().make_request()
    with pytest.raises(TaskArgumentsError) as info:
        request.defer_task_with_options("add", args, kwargs)
    assert str(info.value) == (
        f"Task 'add' cannot take these arguments: {problem} "
        "(the task takes (x, y=1))"
    )


def test_the_argument_that_cannot_be_serialized_is_named():
    request = tasks().make_request()
    with pytest.raises(TaskSerializationError, match="argument 'y'"):
        request.defer_task("add", 1, y=object())
    with pytest.raises(TaskSerializationError, match="argument '#1'"):
        request.defer_task("untyped", 1, object())


def test_values_that_encode_alone_but_not_together_are_still_an_error():
    request = tasks().make_request()
    with pytest.raises(TaskSerializationError, match="arguments cannot"):
        # json encodes the value, but no tuple as a key of the kwargs.
        request.defer_task_with_options("untyped", (), {(1, 2): 3})


ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=4),
    st.binary(max_size=4),
    st.just(object()),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.just({"a": object()}),
    st.just(signature("add", args=(1,))),
    st.just([signature("add", args=(object(),))]),
    st.just({"max_retries": "x"}),
    st.sampled_from([float("inf"), -1, 1e16, "2030-01-01T00:00:00"]),
)
OPTIONS = sorted(
    set(GOOD_NAMES := [name for o in GOOD for name in o])
    | {name for name, _, _ in BAD}
)


@settings(
    max_examples=3000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    options=st.dictionaries(st.sampled_from(OPTIONS), ODD, max_size=3),
    args=st.lists(ODD, max_size=3),
)
def test_any_options_and_arguments_are_sent_or_a_named_error(options, args):
    """Nothing but a DeferError escapes, and what passes is really sent."""
    request = APP.make_request()
    try:
        handle = request.defer_task_with_options("add", args, **options)
    except DeferError:
        return
    assert isinstance(handle, TaskResult) and handle.delivery == SENT


APP = tasks()


def test_a_message_the_serializer_refuses_whole_names_the_serializer():
    """A serializer may refuse the message while each argument encodes."""

    def encode(body):
        # The message body is (args, kwargs, embed); alone, they pass.
        if isinstance(body, tuple | list) and len(body) == 3:
            raise ValueError("no messages today")
        return json.dumps(body)

    registry.register("picky", encode, json.loads, "application/x-picky")
    try:
        app = make_tasks_app(
            lambda config: config.register_task(add, name="add"),
            **{"celery.accept_content": "json, picky"},
        )
        request = app.make_request()
        with pytest.raises(TaskSerializationError) as info:
            request.defer_task_with_options("add", (1,), serializer="picky")
        assert str(info.value) == (
            "Task 'add' message cannot be serialized with picky: "
            "no messages today"
        )
    finally:
        registry.unregister("picky")
