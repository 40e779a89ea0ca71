"""The one-line message of an ini file that cannot be loaded.

``ptasks`` and ``celery -A pyramid_tasks ... --ini`` both load the
application from its ini file, and both say why it failed in the same
words.
"""

from __future__ import annotations

from pyramid.exceptions import ConfigurationError, ConfigurationExecutionError

from ..redact import redact_urls

__all__ = ["load_error_message"]


def load_error_message(config_uri: str, exc: BaseException) -> str:
    """Say in one line why ``config_uri`` could not be loaded.

    Pyramid wraps an error raised in a configuration action, such as a
    bad setting, in :exc:`~pyramid.exceptions.ConfigurationExecutionError`,
    whose text adds the exception class and the lines of an unknown
    action file; the message is the cause's own. A
    :exc:`~pyramid.exceptions.ConfigurationError` is worded for the
    user, so it is shown without its class name. Passwords in URLs are
    masked.

    :param config_uri: the ini file, as given.
    :param exc: what loading it raised.
    """
    if isinstance(exc, ConfigurationExecutionError):
        exc = exc.evalue
    text = redact_urls(exc)
    if not isinstance(exc, ConfigurationError):
        text = f"{type(exc).__name__}: {text}"
    return f"Cannot load {config_uri}: {text}"
