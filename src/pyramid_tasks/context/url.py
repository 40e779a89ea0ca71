"""The URL context: scheme, host, port and script name of a task request.

A task deferred from a web request builds the links the user saw; a task
with no originating request builds them from ``pyramid_tasks.public_url``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pyramid.request import Request

__all__ = ["URL_ENVIRON", "capture_url", "public_environ", "restore_url"]

#: Environ key of a task request holding the URL context it was given.
URL_ENVIRON = "pyramid_tasks.url"

#: The host of ``Request.blank``, as made by pshell and scripts.
_PLACEHOLDER_HOSTS = ("localhost:80", "localhost")


def public_environ(public_url: str | None) -> dict[str, Any]:
    """The base WSGI environ of task requests with no originating request.

    ``public_url`` (the ``pyramid_tasks.public_url`` setting, by default
    ``http://localhost``) gives the scheme, host, port and script name,
    e.g. ``https://example.com:8443/app``; a trailing slash is ignored.

    :raises ValueError: not an absolute ``http``/``https`` URL, or one
        with credentials, a query or a fragment.
    """
    url = (public_url or "http://localhost").strip()
    parts = urlsplit(url)
    parts.port  # noqa: B018 - raises ValueError for a bad port
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected http(s)://host[:port][/path]")
    if parts.username is not None or parts.query or parts.fragment:
        raise ValueError("no credentials, query or fragment")
    base = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
    environ = Request.blank("/", base_url=base).environ
    environ.pop("wsgi.input", None)
    return dict(environ)


def capture_url(environ: dict[str, Any]) -> list[str] | None:
    """The URL context of a deferring request, or ``None`` for none."""
    carried = environ.get(URL_ENVIRON)
    if carried is not None:
        # A task request deferring again passes its own context on.
        return carried  # type: ignore[no-any-return]
    host = environ.get("HTTP_HOST")
    if host is None:
        host = f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
    elif host in _PLACEHOLDER_HOSTS and "REMOTE_ADDR" not in environ:
        # Request.blank's placeholder (pshell, prepare(), scripts) is no
        # URL context: the task uses pyramid_tasks.public_url instead.
        return None
    return [
        environ["wsgi.url_scheme"],
        host,
        environ.get("SCRIPT_NAME", ""),
    ]


def restore_url(environ: dict[str, Any], url: Any) -> None:
    """Put a carried URL context into a task request's environ.

    :raises ValueError: a scheme other than http(s).
    :raises TypeError: a host or script name that is not a string.
    """
    scheme, host, script_name = url
    if scheme not in ("http", "https"):
        raise ValueError(f"bad scheme {scheme!r}")
    if not isinstance(host, str) or not isinstance(script_name, str):
        raise TypeError("host and script name must be strings")
    environ["wsgi.url_scheme"] = scheme
    environ["HTTP_HOST"] = host
    name, sep, maybe_port = host.rpartition(":")
    if sep and maybe_port.isdigit() and not name.endswith(":"):
        environ["SERVER_NAME"] = name
        environ["SERVER_PORT"] = maybe_port
    else:
        environ["SERVER_NAME"] = host
        environ["SERVER_PORT"] = "443" if scheme == "https" else "80"
    environ["SCRIPT_NAME"] = script_name
    environ[URL_ENVIRON] = [scheme, host, script_name]
