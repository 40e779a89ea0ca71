"""The checks a task passes when it is deferred, before anything is sent.

Celery checks arguments against the task's signature only as far as its
``typing`` option asks, encodes them only when it builds the message, and
reads most options only then, or in the worker when the message arrives.
A mistake then fails far from the view (after the commit, or in the
worker), with an error that does not name the culprit. Checking at defer
time lets the request fail while its transaction can still roll back,
with an error naming the task and the argument or option.

Options not listed here pass through unchecked: ``apply_async`` hands
unknown keywords on to the broker as message properties.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
import inspect
import json
import math
import numbers
from typing import Any

from celery import Task
from kombu import compression
from kombu.entity import Exchange, Queue
from kombu.exceptions import SerializerNotInstalled
from kombu.serialization import dumps

from ..exceptions import (
    TaskArgumentsError,
    TaskOptionsError,
    TaskSerializationError,
)

__all__ = [
    "check_arguments",
    "check_options",
    "check_serializable",
    "serialization_error",
]

#: A check of one option: its value and the serializer give what was
#: expected instead, or ``None`` when the value is fine.
Check = Callable[[Any, str], "str | None"]


def check_arguments(task: Task, args: tuple[Any, ...], kwargs: Any) -> None:
    """Raise when the arguments do not fit the task function.

    The message is in terms of the task's own signature, without the
    request the worker adds.

    :raises pyramid_tasks.exceptions.TaskArgumentsError: e.g. ``Task
        'add' cannot take these arguments: missing a required argument:
        'y' (the task takes (x, y))``.
    """
    try:
        task.__header__(*args, **kwargs)
    except TypeError as exc:
        problem = exc
        signature = task_signature_without_request(task)
        try:
            signature.bind(*args, **kwargs)
        except TypeError as bind_error:
            # Worded for the caller: Celery's check counts the request.
            problem = bind_error
        raise TaskArgumentsError(
            f"Task {task.name!r} cannot take these arguments: {problem} "
            f"(the task takes {signature})"
        ) from None


def task_signature_without_request(task: Task) -> inspect.Signature:
    """The signature of a task function, its request argument left out."""
    signature = inspect.signature(task.original_func)
    return signature.replace(
        parameters=list(signature.parameters.values())[1:]
    )


def check_serializable(
    task: Task, args: tuple[Any, ...], kwargs: Any, options: Mapping[str, Any]
) -> None:
    """Raise when the arguments cannot be encoded by the serializer.

    :raises pyramid_tasks.exceptions.TaskSerializationError: the message
        names the first argument that cannot be encoded.
    """
    serializer = options.get("serializer") or task.serializer
    try:
        dumps((args, kwargs), serializer=serializer)
    except Exception as exc:  # noqa: BLE001 - any encoder error means the same
        raise serialization_error(task, args, kwargs, options, exc) from None


def serialization_error(
    task: Task,
    args: tuple[Any, ...],
    kwargs: Any,
    options: Mapping[str, Any],
    cause: BaseException,
) -> TaskSerializationError:
    """The error for a message that could not be encoded, naming the
    argument to blame when there is one."""
    serializer = options.get("serializer") or task.serializer
    names = [
        p.name
        for p in task_signature_without_request(task).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    culprits = [
        (names[i] if i < len(names) else f"#{i}", value)
        for i, value in enumerate(args)
    ] + list(kwargs.items())
    for name, value in culprits:
        try:
            dumps(value, serializer=serializer)
        except Exception as exc:  # noqa: BLE001
            return TaskSerializationError(
                f"Task {task.name!r} argument {name!r} cannot be serialized "
                f"with {serializer}: {exc}"
            )
    try:
        dumps((args, kwargs), serializer=serializer)
    except Exception:  # noqa: BLE001
        # Every value encodes, but not together: e.g. a key json cannot use.
        return TaskSerializationError(
            f"Task {task.name!r} arguments cannot be serialized with "
            f"{serializer}"
        )
    return TaskSerializationError(
        f"Task {task.name!r} message cannot be serialized with {serializer}: "
        f"{cause}"
    )


def check_options(task: Task, options: Mapping[str, Any]) -> None:
    """Raise when a well-known ``apply_async`` option has a bad value.

    :raises pyramid_tasks.exceptions.TaskOptionsError: the message names
        the task, the option, its value and what was expected.
    """
    serializer = options.get("serializer") or task.serializer
    for name, value in options.items():
        check = _CHECKS.get(name)
        if check is None or value is None:
            continue
        expected = check(value, serializer)
        if expected:
            raise TaskOptionsError(
                f"Task {task.name!r} option {name}={value!r} is invalid: "
                f"expected {expected}"
            )


#: The longest countdown, expiry or time limit, either way: Celery
#: refuses seconds below a signed 32-bit int (about 68 years), and a
#: ``datetime`` can add that much.
_MAX_SECONDS = 2**31 - 1
_RETRY_POLICY = (
    "max_retries",
    "interval_start",
    "interval_step",
    "interval_max",
)


def _is_seconds(value: Any) -> bool:
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def _seconds(value: Any, serializer: str) -> str | None:
    if not _is_seconds(value):
        return "a number of seconds"
    if abs(value) > _MAX_SECONDS:
        return "a number of seconds within 68 years (2**31 - 1)"
    return None


def _when(value: Any, serializer: str) -> str | None:
    if isinstance(value, datetime):
        return None
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return None
    return "a datetime or an ISO 8601 string"


def _expires(value: Any, serializer: str) -> str | None:
    if _is_seconds(value):
        return _seconds(value, serializer)
    if _when(value, serializer) is None:
        return None
    return "a number of seconds, a datetime or an ISO 8601 string"


def _priority(value: Any, serializer: str) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value <= 255:
            return None
    return "an integer from 0 to 255"


def _instance(kinds: tuple[type, ...], text: str) -> Check:
    def check(value: Any, serializer: str) -> str | None:
        if isinstance(value, kinds) and not (
            isinstance(value, bool) and bool not in kinds
        ):
            return None
        return text

    return check


def _retry_policy(value: Any, serializer: str) -> str | None:
    expected = (
        "a dict of max_retries, interval_start, interval_step and "
        "interval_max, each a number >= 0"
    )
    if not isinstance(value, dict) or set(value) - set(_RETRY_POLICY):
        return expected
    for number in value.values():
        if number is not None and not (_is_seconds(number) and number >= 0):
            return expected
    return None


def _headers(value: Any, serializer: str) -> str | None:
    if not isinstance(value, dict):
        return "a dict"
    try:
        json.dumps(value)
    except (TypeError, ValueError, OverflowError):
        return "a dict of JSON values"
    return None


def _signatures(value: Any, serializer: str) -> str | None:
    items = value if isinstance(value, list | tuple) else [value]
    if not all(isinstance(item, dict) and "task" in item for item in items):
        return "a signature or a list of signatures"
    try:
        dumps(items, serializer=serializer)
    except Exception:  # noqa: BLE001 - any encoder error means the same
        return f"signatures whose arguments {serializer} can encode"
    return None


def _serializer(value: Any, serializer: str) -> str | None:
    try:
        dumps(None, serializer=value)
    except (SerializerNotInstalled, TypeError, KeyError):
        return "the name of an installed serializer"
    return None


def _compression(value: Any, serializer: str) -> str | None:
    try:
        compression.get_encoder(value)
    except (KeyError, TypeError):
        return "a registered compression such as 'gzip'"
    return None


_CHECKS: dict[str, Check] = {
    "countdown": _seconds,
    "eta": _when,
    "expires": _expires,
    "time_limit": _seconds,
    "soft_time_limit": _seconds,
    "priority": _priority,
    "queue": _instance((str, Queue), "a queue name or a kombu Queue"),
    "exchange": _instance((str, Exchange), "an exchange name or Exchange"),
    "routing_key": _instance((str,), "a string"),
    "task_id": _instance((str,), "a string"),
    "shadow": _instance((str,), "a string"),
    "reply_to": _instance((str,), "a string"),
    "group_id": _instance((str,), "a string"),
    "group_index": _instance((int,), "an integer"),
    "parent_id": _instance((str,), "a string"),
    "root_id": _instance((str,), "a string"),
    "headers": _headers,
    "retry_policy": _retry_policy,
    "link": _signatures,
    "link_error": _signatures,
    "chain": _signatures,
    "chord": _signatures,
    "retry": _instance((bool,), "True or False"),
    "ignore_result": _instance((bool,), "True or False"),
    "add_to_parent": _instance((bool,), "True or False"),
    "serializer": _serializer,
    "compression": _compression,
}
