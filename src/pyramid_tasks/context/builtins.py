"""The built-in values ``pyramid_tasks.propagate`` may carry to a task.

``request_id`` (a request header), ``locale`` (``request.locale_name``)
and ``user_id`` (``request.authenticated_userid``).
"""

from __future__ import annotations

from typing import Any

from .carrier import ContextEntry

__all__ = [
    "BUILTINS",
    "REQUEST_ID_ENVIRON",
    "USER_ID_ENVIRON",
    "builtin_entry",
    "header_environ_key",
    "propagated_userid",
]

#: Names of the built-in values ``pyramid_tasks.propagate`` may list.
BUILTINS = ("request_id", "locale", "user_id")

#: Environ keys set on the task request.
REQUEST_ID_ENVIRON = "pyramid_tasks.request_id"
USER_ID_ENVIRON = "pyramid_tasks.userid"

#: Longest request id carried, so a client cannot fill messages with it.
_MAX_REQUEST_ID = 200


def header_environ_key(header: str) -> str:
    """The WSGI environ key of a request header: ``X-Id`` -> ``HTTP_X_ID``."""
    return "HTTP_" + header.strip().upper().replace("-", "_")


def builtin_entry(name: str, request_id_key: str) -> ContextEntry:
    """The entry of a built-in value, one of :data:`BUILTINS`."""
    if name == "request_id":
        return ContextEntry(
            name,
            lambda request: _request_id(request.environ, request_id_key),
            lambda environ, value: _restore_request_id(
                environ, request_id_key, value
            ),
        )
    if name == "locale":
        return ContextEntry(
            name, _capture_locale, _restore_accept, _restore_locale
        )
    return ContextEntry(name, _capture_userid, _restore_userid)


def _request_id(environ: dict[str, Any], key: str) -> str | None:
    value = environ.get(key)
    return value[:_MAX_REQUEST_ID] if value else None


def _restore_request_id(environ: dict[str, Any], key: str, value: Any) -> None:
    value = str(value)[:_MAX_REQUEST_ID]
    environ[key] = value
    environ[REQUEST_ID_ENVIRON] = value


def _capture_locale(request: Any) -> str | None:
    return request.locale_name  # type: ignore[no-any-return]


def _restore_accept(environ: dict[str, Any], value: Any) -> None:
    environ["HTTP_ACCEPT_LANGUAGE"] = str(value)


def _restore_locale(request: Any, value: Any) -> None:
    # The default locale negotiator reads this attribute first.
    request._LOCALE_ = str(value)


def _capture_userid(request: Any) -> Any:
    return request.authenticated_userid


def _restore_userid(environ: dict[str, Any], value: Any) -> None:
    environ[USER_ID_ENVIRON] = value


def propagated_userid(request: Any) -> Any:
    """The user id carried from the request that deferred this task.

    ``None`` outside a task, or when ``user_id`` is not in
    ``pyramid_tasks.propagate``. A security policy opts in by trusting it
    before its usual source (which, in a worker, has no cookie to read)::

        class SecurityPolicy:
            def identity(self, request):
                userid = propagated_userid(request)
                if userid is None:
                    userid = self.helper.authenticated_userid(request)
                return load_user(request, userid)

    .. versionadded:: 1.0
    """
    return request.environ.get(USER_ID_ENVIRON)
