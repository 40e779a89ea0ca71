"""Check well-known ``apply_async`` options when a task is deferred.

Celery reads most options only while it builds the message, or the worker
reads them when the message arrives; a wrong type then fails far from the
view (after the commit, or in the worker), with an error that does not
name the option. Checking at defer time lets the request fail while its
transaction can still roll back.

Options not listed here pass through unchecked: ``apply_async`` hands
unknown keywords on to the broker as message properties.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
import numbers
from typing import Any

from kombu import Exchange, Queue, compression
from kombu.exceptions import SerializerNotInstalled
from kombu.serialization import dumps

from .exceptions import TaskOptionsError

__all__ = ["check_options"]


def check_options(task, options: Mapping[str, Any]) -> None:
    """Raise when a well-known ``apply_async`` option has a bad value.

    :raises pyramid_tasks.exceptions.TaskOptionsError: the message names
        the task, the option, its value and what was expected.
    """
    for name, value in options.items():
        check = _CHECKS.get(name)
        if check is None or value is None:
            continue
        expected = check(value)
        if expected:
            raise TaskOptionsError(
                f"Task {task.name!r} option {name}={value!r} is invalid: "
                f"expected {expected}"
            )


def _seconds(value: Any) -> str | None:
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return None
    return "a number of seconds"


def _when(value: Any) -> str | None:
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


def _expires(value: Any) -> str | None:
    if _seconds(value) is None or _when(value) is None:
        return None
    return "a number of seconds, a datetime or an ISO 8601 string"


def _priority(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value <= 255:
            return None
    return "an integer from 0 to 255"


def _instance(kinds: tuple[type, ...], text: str) -> Callable[[Any], Any]:
    def check(value: Any) -> str | None:
        if isinstance(value, kinds) and not (
            isinstance(value, bool) and bool not in kinds
        ):
            return None
        return text

    return check


def _serializer(value: Any) -> str | None:
    try:
        dumps(None, serializer=value)
    except (SerializerNotInstalled, TypeError, KeyError):
        return "the name of an installed serializer"
    return None


def _compression(value: Any) -> str | None:
    try:
        compression.get_encoder(value)
    except (KeyError, TypeError):
        return "a registered compression such as 'gzip'"
    return None


_CHECKS: dict[str, Callable[[Any], str | None]] = {
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
    "headers": _instance((dict,), "a dict"),
    "retry_policy": _instance((dict,), "a dict"),
    "retry": _instance((bool,), "True or False"),
    "ignore_result": _instance((bool,), "True or False"),
    "serializer": _serializer,
    "compression": _compression,
}
