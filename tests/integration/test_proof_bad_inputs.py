"""Proof 4: every bad input gives a clear error naming the culprit.

Each row of the README's table is one case here, with the exception type
and the exact message. Errors raised at defer time happen inside the view,
so the request fails while its transaction can still roll back.
"""

from __future__ import annotations

import re
import time

from pyramid.config import Configurator
from pyramid.exceptions import ConfigurationError
from pyramid.request import Request, apply_request_extensions
import pytest
import transaction

from pyramid_tasks import DeferredTaskPublishFailed
from pyramid_tasks.exceptions import (
    TaskArgumentsError,
    TaskOptionsError,
    TaskPublishError,
    TaskSerializationError,
    UnknownTaskError,
)
from pyramid_tasks.settings import UnknownCelerySetting

from services import broker_settings, free_port


def add(request, x, y=1):
    return x + y


def _request(**settings):
    all_settings = broker_settings("memory")
    all_settings.update(settings)
    config = Configurator(settings=all_settings)
    config.include("pyramid_tasks")
    config.include("pyramid_tasks.transaction")
    config.register_task(add, name="add")
    config.make_celery_app()
    request = Request.blank("/")
    request.registry = config.registry
    apply_request_extensions(request)
    return request


#: Unreachable broker: a refused port, short timeouts and one retry.
UNREACHABLE = {
    "celery.broker_connection_timeout": "0.5",
    "celery.task_publish_retry_policy": (
        '{"max_retries": 1, "interval_start": 0, "interval_step": 0.1}'
    ),
}

DEFER_ROWS = [
    (
        "unknown task",
        lambda r: r.defer_task("ad", 1),
        UnknownTaskError,
        "No task is registered as 'ad'; did you mean 'add'?",
    ),
    (
        "missing argument",
        lambda r: r.defer_task("add"),
        TaskArgumentsError,
        "Task 'add' cannot take these arguments: missing a required "
        "argument: 'x' (the task takes (x, y=1))",
    ),
    (
        "too many arguments",
        lambda r: r.defer_task("add", 1, 2, 3),
        TaskArgumentsError,
        "Task 'add' cannot take these arguments: too many positional "
        "arguments (the task takes (x, y=1))",
    ),
    (
        "unexpected keyword",
        lambda r: r.defer_task("add", 1, z=3),
        TaskArgumentsError,
        "Task 'add' cannot take these arguments: got an unexpected keyword "
        "argument 'z' (the task takes (x, y=1))",
    ),
    (
        "unserializable argument",
        lambda r: r.defer_task("add", object()),
        TaskSerializationError,
        "Task 'add' argument 'x' cannot be serialized with json: Object of "
        "type object is not JSON serializable",
    ),
    (
        "unserializable keyword",
        lambda r: r.defer_task("add", 1, y={2}),
        TaskSerializationError,
        "Task 'add' argument 'y' cannot be serialized with json: Object of "
        "type set is not JSON serializable",
    ),
    (
        "countdown not a number",
        lambda r: r.defer_task_with_options("add", (1,), countdown="soon"),
        TaskOptionsError,
        "Task 'add' option countdown='soon' is invalid: expected a number "
        "of seconds",
    ),
    (
        "eta not a date",
        lambda r: r.defer_task_with_options("add", (1,), eta="tomorrow"),
        TaskOptionsError,
        "Task 'add' option eta='tomorrow' is invalid: expected a datetime "
        "or an ISO 8601 string",
    ),
    (
        "priority out of range",
        lambda r: r.defer_task_with_options("add", (1,), priority=300),
        TaskOptionsError,
        "Task 'add' option priority=300 is invalid: expected an integer "
        "from 0 to 255",
    ),
    (
        "unknown serializer",
        lambda r: r.defer_task_with_options("add", (1,), serializer="xml"),
        TaskOptionsError,
        "Task 'add' option serializer='xml' is invalid: expected the name "
        "of an installed serializer",
    ),
]


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [row[1:] for row in DEFER_ROWS],
    ids=[row[0] for row in DEFER_ROWS],
)
@pytest.mark.parametrize("in_transaction", [False, True])
def test_bad_defer_fails_in_the_view(call, error, message, in_transaction):
    request = _request()
    if in_transaction:
        manager = transaction.TransactionManager(explicit=True)
        manager.begin()
        request.environ.update({"tm.active": True, "tm.manager": manager})
    with pytest.raises(error) as info:
        call(request)
    assert str(info.value) == message


def test_unreachable_broker_fails_within_a_bounded_time():
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    request = _request(**{"celery.broker_url": url}, **UNREACHABLE)
    started = time.monotonic()
    with pytest.raises(TaskPublishError) as info:
        request.defer_task_with_options("add", (1,), after_commit=False)
    assert time.monotonic() - started < 5
    assert str(info.value) == (
        f"Task 'add' could not be sent to redis://127.0.0.1:{port}/0: "
        f"Error 111 connecting to 127.0.0.1:{port}. Connection refused."
    )


def test_unreachable_broker_after_commit_fires_the_failure_event(caplog):
    port = free_port()
    url = f"amqp://guest:secret@127.0.0.1:{port}//"
    request = _request(**{"celery.broker_url": url}, **UNREACHABLE)
    failures = []
    request.registry.registerHandler(
        failures.append, (DeferredTaskPublishFailed,)
    )
    request.registry.has_listeners = True
    manager = transaction.TransactionManager(explicit=True)
    manager.begin()
    request.environ.update({"tm.active": True, "tm.manager": manager})
    handle = request.defer_task("add", 1, y=2)
    assert handle.delivery == "waiting"
    manager.commit()
    assert handle.delivery == "failed"
    [event] = failures
    assert (event.task_name, event.task_id) == ("add", handle.id)
    assert (event.args, event.kwargs) == ((1,), {"y": 2})
    assert "Connection refused" in str(event.exception)
    assert f"Task add[{handle.id}] was not published after commit" in (
        caplog.text
    )


SETTINGS_ROWS = [
    (
        {"celery.worker_concurrency": "many"},
        "Setting 'celery.worker_concurrency' = 'many' is not a valid int: "
        "invalid literal for int() with base 10: 'many'",
    ),
    (
        {"celery.task_acks_late": "perhaps"},
        "Setting 'celery.task_acks_late' = 'perhaps' is not a valid bool: "
        "Cannot coerce 'perhaps' to type bool",
    ),
    (
        {"celery.task_publish_retry_policy": "{max_retries: 1}"},
        "Setting 'celery.task_publish_retry_policy' = '{max_retries: 1}' is "
        "not a valid dict: Expecting property name enclosed in double "
        "quotes: line 1 column 2 (char 1)",
    ),
    (
        {"pyramid_tasks.after_commit": "perhaps"},
        "Setting 'pyramid_tasks.after_commit' = 'perhaps' is not a valid "
        "bool: use true or false",
    ),
    (
        {"pyramid_tasks.transaction.retries": "many"},
        "Setting 'pyramid_tasks.transaction.retries' = 'many' (task 'add') "
        "is not a valid int: expected a number >= 0",
    ),
]


@pytest.mark.parametrize(
    ("settings", "message"),
    SETTINGS_ROWS,
    ids=[next(iter(row[0])) for row in SETTINGS_ROWS],
)
def test_invalid_setting_fails_at_startup(settings, message):
    with pytest.raises(ConfigurationError) as info:
        _request(**settings)
    # Pyramid wraps it with the place of the action; the first line is ours.
    assert str(info.value).splitlines()[0].partition(": ")[2] == message


def test_misspelt_setting_warns_with_the_right_name():
    expected = (
        "Unknown Celery setting 'celery.task_ack_late'; did you mean "
        "'celery.task_acks_late'?"
    )
    with pytest.warns(UnknownCelerySetting, match=re.escape(expected)):
        _request(**{"celery.task_ack_late": "true"})


def test_invalid_transaction_task_option_fails_at_startup():
    config = Configurator(settings=broker_settings("memory"))
    config.include("pyramid_tasks")
    config.include("pyramid_tasks.transaction")
    config.register_task(add, name="add", transaction_retries=-1)
    with pytest.raises(ConfigurationError) as info:
        config.make_celery_app()
    assert str(info.value).splitlines()[0].partition(": ")[2] == (
        "Task option transaction_retries = -1 (task 'add') is not a valid "
        "int: expected a number >= 0"
    )
