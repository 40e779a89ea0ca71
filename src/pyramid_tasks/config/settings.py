"""Read settings from the ini file: ``celery.*`` and ``pyramid_tasks.*``.

:func:`extract_celery_settings` turns ``celery.*`` settings into a Celery
configuration, typed by Celery's own option table
(:mod:`celery.app.defaults`), so every setting Celery knows is coerced
the way Celery expects it. :func:`read_setting` is the one strict reader
of our own ``pyramid_tasks.*`` settings; both run inside configuration
actions, so later ``config.add_settings`` calls count.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
import difflib
import json
import math
from typing import Any
import warnings

from celery.app.defaults import NAMESPACES, flatten
from celery.utils.serialization import strtobool
from pyramid.exceptions import ConfigurationError
from pyramid.settings import aslist, falsey, truthy

from ..exceptions import UnknownCelerySetting

__all__ = [
    "PREFIX",
    "UnknownCelerySetting",
    "coerce_setting",
    "extract_celery_settings",
    "read_setting",
]

PREFIX = "celery."

#: Celery's table types these settings as ``any`` because they also accept
#: objects, yet a string from an ini file only makes sense as one type.
_STRING_TYPES = {"worker_concurrency": "int"}

_OPTIONS: dict[str, Any] = dict(flatten(NAMESPACES))


def extract_celery_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Return the Celery configuration held in Pyramid ``settings``.

    Every key starting with ``celery.`` is taken without its prefix. Dots
    after the prefix nest, so ``celery.broker_transport_options.x = 1``
    gives ``{"broker_transport_options": {"x": 1}}``. Strings are coerced
    to the type Celery expects; other values pass through unchanged.

    :raises pyramid.exceptions.ConfigurationError: a value that cannot be
        coerced, or a key set both as a value and as a nested dict.
    """
    config: dict[str, Any] = {}
    leaves: dict[tuple[str, ...], str] = {}
    for key in sorted(k for k in settings if k.startswith(PREFIX)):
        path = tuple(key[len(PREFIX) :].split("."))
        if not all(path):
            raise ConfigurationError(f"Setting {key!r} has an empty name part")
        for depth in range(1, len(path)):
            if path[:depth] in leaves:
                raise ConfigurationError(
                    f"Settings {leaves[path[:depth]]!r} and {key!r} "
                    f"conflict: {'.'.join(path[:depth])!r} cannot be both "
                    "a value and a dict"
                )
        leaves[path] = key
        name = path[0]
        _warn_if_unknown(key, name)
        if len(path) == 1:
            config[name] = _coerce(key, name, settings[key])
            continue
        target = config.setdefault(name, {})
        for part in path[1:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = _coerce_nested(key, name, path, settings[key])
    return config


def _warn_if_unknown(key: str, name: str) -> None:
    if name in _OPTIONS:
        return
    close = difflib.get_close_matches(name.lower(), _OPTIONS, n=1)
    hint = f"; did you mean {PREFIX + close[0]!r}?" if close else ""
    warnings.warn(
        f"Unknown Celery setting {key!r}{hint}",
        UnknownCelerySetting,
        stacklevel=3,
    )


def _coerce(key: str, name: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    option = _OPTIONS.get(name)
    kind = _STRING_TYPES.get(name) or (option.type if option else "any")
    if isinstance(kind, type):
        kind = kind.__name__
    try:
        return _CONVERTERS.get(kind, _as_is)(value.strip())
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(
            f"Setting {key!r} = {value!r} is not a valid {kind}: {exc}"
        ) from exc


def _coerce_nested(
    key: str, name: str, path: tuple[str, ...], value: Any
) -> Any:
    """Coerce one value inside a dict setting, typed by Celery's default."""
    if not isinstance(value, str):
        return value
    option = _OPTIONS.get(name)
    default = option.default if option else None
    known = default.get(path[1]) if isinstance(default, dict) else None
    if len(path) == 2 and isinstance(known, int | float):
        try:
            return type(known)(value.strip())
        except ValueError as exc:
            raise ConfigurationError(
                f"Setting {key!r} = {value!r} is not a valid "
                f"{type(known).__name__}"
            ) from exc
    return _literal(value.strip())


def _literal(text: str) -> Any:
    """Read a scalar: an int, a float, a boolean word, or the string."""
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def _as_bool(text: str) -> bool:
    return bool(strtobool(text.strip()))


def _as_list(text: str) -> list[str]:
    items = (
        item.strip() for line in text.splitlines() for item in line.split(",")
    )
    return [item for item in items if item]


def _as_dict(text: str) -> dict[str, Any]:
    value = json.loads(text) if text else {}
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    return value


def _as_is(text: str) -> str:
    return text


_CONVERTERS: dict[str, Callable[[str], Any]] = {
    "string": _as_is,
    "str": _as_is,
    "any": _as_is,
    "int": int,
    "float": float,
    "bool": _as_bool,
    "list": _as_list,
    "tuple": lambda text: tuple(_as_list(text)),
    "dict": _as_dict,
    "bytes": str.encode,
}


def read_setting(
    settings: Mapping[str, Any] | None,
    name: str,
    kind: type,
    default: Any,
    *,
    minimum: float | None = None,
) -> Any:
    """Read one ``pyramid_tasks.*`` setting as ``bool``, ``int``,
    ``float``, ``list`` or ``str``; a missing setting gives ``default``.

    :raises pyramid.exceptions.ConfigurationError: the value is not of
        that kind; the message names the setting and the value.
    """
    value = (settings or {}).get(name, default)
    return coerce_setting(value, kind, f"Setting {name!r}", minimum=minimum)


def coerce_setting(
    value: Any,
    kind: type,
    source: str,
    *,
    minimum: float | None = None,
    context: str = "",
) -> Any:
    """Convert ``value`` as :func:`read_setting` does.

    ``source`` names where it comes from (``"Setting 'x'"`` or ``"Task
    option y"``) and ``context`` adds to it, e.g. ``" (task 'add')"``.
    """
    problem = None
    if kind is bool:
        text = str(value).strip().lower()
        if isinstance(value, bool) or text in truthy | falsey:
            return value if isinstance(value, bool) else text in truthy
        problem = "use true or false"
    elif kind in (int, float):
        number = _number(value, kind)
        if number is not None and (minimum is None or number >= minimum):
            return number
        problem = "expected a number" + (
            f" >= {minimum:g}" if minimum is not None else ""
        )
    elif kind is list:
        if isinstance(value, list | tuple):
            return list(value)
        return aslist(value or "")
    else:
        return str(value).strip()
    raise ConfigurationError(
        f"{source} = {value!r}{context} is not a valid {kind.__name__}: "
        f"{problem}"
    )


def _number(value: Any, kind: type) -> Any:
    if isinstance(value, bool) or (
        kind is int and isinstance(value, float) and not value.is_integer()
    ):
        return None
    try:
        number = kind(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None
