"""Keep secrets out of messages, logs and tool output.

:func:`redact_urls` masks the password of every URL in a text, for error
messages; :func:`mask_setting` masks a Celery setting by its name, with
the pattern Celery's own ``celery report`` censors with.
"""

from __future__ import annotations

import re
from typing import Any

from celery.app.utils import HIDDEN_SETTINGS
from kombu.utils.url import maybe_sanitize_url

__all__ = ["mask_setting", "redact_urls"]

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
    if _SECRET.search(name) and not _NOT_SECRET.search(name):
        return _MASK if value not in (None, "", False) else value
    if isinstance(value, str) and "://" in value:
        return ";".join(maybe_sanitize_url(url) for url in value.split(";"))
    return value
