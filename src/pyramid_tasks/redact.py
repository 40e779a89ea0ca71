"""Keep secrets out of messages, logs and tool output.

:func:`redact_urls` masks the password of every URL in a text, for error
messages; :func:`mask_setting` masks a Celery setting by its name, with
the pattern Celery's own ``celery report`` censors with.
"""

from __future__ import annotations

import re
import reprlib
from typing import Any

from celery.app.utils import HIDDEN_SETTINGS
from kombu.utils.url import maybe_sanitize_url

__all__ = ["mask_argument", "mask_setting", "redact_urls", "short_repr"]

#: A URL with credentials: ``scheme://user:password@...``.
_URL_WITH_PASSWORD = re.compile(
    r"[A-Za-z][A-Za-z0-9+.-]*://[^\s/'\"<>@]*:[^\s/'\"<>@]*@[^\s'\"<>]*"
)
#: Setting names holding secrets: Celery's list, and credentials.
_SECRET = re.compile(f"{HIDDEN_SETTINGS.pattern}|CREDENTIAL", re.I)
#: Setting names that match ``_SECRET`` but hold no secret.
_NOT_SECRET = re.compile(r"routing_key|keyprefix|key_prefix", re.I)
_MASK = "********"


def redact_urls(text: object) -> str:
    """``str(text)`` with the password of every URL in it masked.

    Error messages from drivers and transports may quote the URL they
    were given; ours pass through this before being shown or logged::

        >>> redact_urls("cannot reach redis://:s3cret@db:6379/0")
        'cannot reach redis://:**@db:6379/0'
    """
    return _URL_WITH_PASSWORD.sub(_mask_url, str(text))


def _mask_url(match: re.Match[str]) -> str:
    url = match.group(0)
    try:
        masked = maybe_sanitize_url(url)
    except ValueError:
        masked = url
    if masked == url:
        # kombu could not parse it: mask everything between : and @.
        head, _, rest = url.partition("://")
        userinfo, _, tail = rest.rpartition("@")
        user = userinfo.partition(":")[0]
        masked = f"{head}://{user}:**@{tail}"
    return masked  # type: ignore[no-any-return]


def mask_setting(key: str, value: Any) -> Any:
    """Return a Celery setting with its secrets masked.

    Passwords in URLs are replaced, and so is the whole value of a
    setting whose name suggests a secret (``password``, ``secret``,
    ``token``, ``key``...), at any depth of a dict setting; routing keys
    and key prefixes stay visible.
    """
    if isinstance(value, dict):
        return {k: mask_setting(f"{key}.{k}", v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(mask_setting(key, v) for v in value)
    name = key.rpartition(".")[2]
    if _is_secret(name):
        return _MASK if value not in (None, "", False) else value
    if isinstance(value, str) and "://" in value:
        return ";".join(maybe_sanitize_url(url) for url in value.split(";"))
    return value


def mask_argument(name: str, value: Any) -> Any:
    """Return a task argument with its secrets masked, for display.

    As :func:`mask_setting` does for settings: the whole value of an
    argument (or of a dict key, at any depth) whose name suggests a
    secret is masked, and so is the password of every URL in a string::

        >>> mask_argument("user", {"name": "ann", "password": "x"})
        {'name': 'ann', 'password': '********'}

    .. versionadded:: 1.0
    """
    if isinstance(value, dict):
        return {k: mask_argument(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        masked = [mask_argument(name, v) for v in value]
        return tuple(masked) if isinstance(value, tuple) else masked
    if _is_secret(name):
        return _MASK if value not in (None, "", False) else value
    if isinstance(value, str) and "://" in value:
        return redact_urls(value)
    return value


def short_repr(value: Any, limit: int = 200) -> str:
    """``repr(value)``, cut to ``limit`` characters with an ellipsis.

    Mask the value first (:func:`mask_argument`): cutting may leave too
    little of a URL to recognise its password.

    .. versionadded:: 1.0
    """
    text = _REPR.repr(value)
    if len(text) > limit:
        text = text[: limit - 1] + "\N{HORIZONTAL ELLIPSIS}"
    return text


def _is_secret(name: str) -> bool:
    return bool(_SECRET.search(name)) and not _NOT_SECRET.search(name)


def _short_reprs() -> reprlib.Repr:
    # Long strings and collections are cut before they are joined, so
    # a huge argument costs little to show.
    short = reprlib.Repr()
    short.maxstring = short.maxother = 160
    short.maxlist = short.maxtuple = short.maxdict = short.maxset = 20
    short.maxlevel = 4
    return short


_REPR = _short_reprs()
