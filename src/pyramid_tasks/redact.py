"""Keep passwords in broker and backend URLs out of messages and logs."""

from __future__ import annotations

import re

from kombu.utils.url import maybe_sanitize_url

__all__ = ["redact_urls"]

#: A URL with credentials: ``scheme://user:password@...``.
_URL_WITH_PASSWORD = re.compile(
    r"[A-Za-z][A-Za-z0-9+.-]*://[^\s/'\"<>@]*:[^\s/'\"<>@]*@[^\s'\"<>]*"
)


def redact_urls(text: object) -> str:
    """``str(text)`` with the password of every URL in it masked.

    Error messages from drivers and transports may quote the URL they
    were given; ours pass through this before being shown or logged::

        >>> redact_urls("cannot reach redis://:s3cret@db:6379/0")
        'cannot reach redis://:**@db:6379/0'
    """
    return _URL_WITH_PASSWORD.sub(_mask, str(text))


def _mask(match: re.Match) -> str:
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
    return masked
