"""The request context a task takes from the request that deferred it.

A task request is built in the worker, far from the browser. What it
needs of the deferring request travels in the task message headers,
captured by ``request.defer_task`` and restored by
:meth:`pyramid_tasks.PyramidTask.run`, and only what the application
allowed:

- the URL context (scheme, host, port, script name), so ``route_url``
  gives the links the user saw; without an originating request, the
  ``pyramid_tasks.public_url`` setting gives them;
- the built-in values named by ``pyramid_tasks.propagate``: the request
  id, the locale and the authenticated user id;
- the values of ``config.add_task_context`` entries.

Nothing else travels: no cookie, no ``Authorization`` header, no session,
no other environ key. With ``pyramid_tasks.context_secret`` the carried
context is signed with HMAC-SHA256 and checked in the worker.
"""

from __future__ import annotations

from collections.abc import Callable
import hashlib
import hmac
import json
import logging
from typing import Any
from urllib.parse import urlsplit

from celery import signals
from pyramid.config import PHASE2_CONFIG
from pyramid.exceptions import ConfigurationError
from pyramid.request import Request
from pyramid.settings import asbool, aslist
from pyramid.threadlocal import get_current_request

__all__ = [
    "CONTEXT_HEADER",
    "SIGNATURE_HEADER",
    "TaskContextFilter",
    "TaskContextRejected",
    "add_task_context",
    "install_log_filter",
    "propagated_userid",
    "public_environ",
]

#: Message header carrying the captured context.
CONTEXT_HEADER = "pyramid_tasks_context"
#: Message header carrying the HMAC of the context and explicit environ.
SIGNATURE_HEADER = "pyramid_tasks_signature"

#: Settings (all under the ``pyramid_tasks.`` prefix).
PROPAGATE_SETTING = "pyramid_tasks.propagate"
PROPAGATE_URL_SETTING = "pyramid_tasks.propagate_url"
REQUEST_ID_HEADER_SETTING = "pyramid_tasks.request_id_header"
SECRET_SETTING = "pyramid_tasks.context_secret"

#: Environ keys set on the task request.
REQUEST_ID_ENVIRON = "pyramid_tasks.request_id"
USER_ID_ENVIRON = "pyramid_tasks.userid"
URL_ENVIRON = "pyramid_tasks.url"

#: Names of the built-in values ``pyramid_tasks.propagate`` may list.
BUILTINS = ("request_id", "locale", "user_id")

#: Longest request id carried, so a client cannot fill messages with it.
_MAX_REQUEST_ID = 200
#: The host of ``Request.blank``, as made by pshell and scripts.
_PLACEHOLDER_HOSTS = ("localhost:80", "localhost")


class TaskContextRejected(Exception):
    """A task message's context is unsigned, forged or malformed.

    The task does not run. Raised in the worker when
    ``pyramid_tasks.context_secret`` is set and the signature of the
    carried context (or of the explicit ``environ`` header) is missing
    or does not match.
    """


class _Entry:
    __slots__ = ("name", "capture", "restore_environ", "restore")

    def __init__(self, name, capture, restore_environ=None, restore=None):
        self.name = name
        self.capture = capture
        self.restore_environ = restore_environ
        self.restore = restore


class TaskContext:
    """What travels from a deferring request to its tasks, for one app.

    Built once per application from the settings and the
    ``add_task_context`` directives; ``capture`` runs on every defer and
    ``open``/``restore`` on every task that carries a context.
    """

    def __init__(self) -> None:
        self.url = True
        self.builtins: tuple[str, ...] = ()
        self.custom: dict[str, _Entry] = {}
        self.request_id_key = "HTTP_X_REQUEST_ID"
        self.secrets: tuple[bytes, ...] = ()
        self._update()

    def configure(self, settings) -> None:
        """Read the ``pyramid_tasks.*`` context settings."""
        names = aslist(settings.get(PROPAGATE_SETTING) or "")
        unknown = [name for name in names if name not in BUILTINS]
        if unknown:
            raise ConfigurationError(
                f"Setting {PROPAGATE_SETTING!r} names unknown values "
                f"{unknown}: choose among {list(BUILTINS)}, or register "
                "your own with config.add_task_context"
            )
        self.builtins = tuple(dict.fromkeys(names))
        self.url = asbool(settings.get(PROPAGATE_URL_SETTING, True))
        header = settings.get(REQUEST_ID_HEADER_SETTING) or "X-Request-ID"
        self.request_id_key = _environ_key(header.strip())
        self.secrets = tuple(
            secret.encode()
            for secret in aslist(settings.get(SECRET_SETTING) or "")
        )
        self._update()

    def add(self, entry: _Entry) -> None:
        self.custom[entry.name] = entry
        self._update()

    def _update(self) -> None:
        entries = {name: self._builtin(name) for name in self.builtins}
        entries.update(self.custom)
        self.entries = tuple(entries.values())
        self.by_name = entries
        self.capturing = bool(self.url or self.entries or self.secrets)
        self.signer = self.secrets[0] if self.secrets else None

    def _builtin(self, name: str) -> _Entry:
        key = self.request_id_key
        if name == "request_id":
            return _Entry(
                name,
                lambda request: _request_id(request.environ, key),
                lambda environ, value: _restore_request_id(
                    environ, key, value
                ),
            )
        if name == "locale":
            return _Entry(
                name, _capture_locale, _restore_accept, _restore_locale
            )
        return _Entry(name, _capture_userid, _restore_userid)

    def capture(self, request, task, options: dict[str, Any]) -> None:
        """Add the context of ``request`` to the ``options`` of a defer."""
        carried = {}
        if self.url:
            url = _capture_url(request.environ)
            if url is not None:
                carried["url"] = url
        for entry in self.entries:
            value = entry.capture(request)
            if value is not None:
                carried[entry.name] = value
        headers = options.get("headers")
        environ = headers.get("environ") if headers else None
        if not carried and environ is None:
            return
        headers = dict(headers) if headers else {}
        if carried:
            headers[CONTEXT_HEADER] = carried
        if self.signer is not None:
            task_id = options.get("task_id")
            if task_id is None:
                task_id = options["task_id"] = _uuid()
            headers[SIGNATURE_HEADER] = _sign(
                self.signer, task.name, task_id, carried or None, environ
            )
        options["headers"] = headers

    def open(self, task, task_request, carried, environ):
        """Check a task message's context; return the task request environ.

        :raises TaskContextRejected: signing is on and the signature is
            missing or wrong, or the context is malformed.
        """
        if self.secrets:
            self._verify(task, task_request, carried, environ)
        if not carried:
            return environ
        if not isinstance(carried, dict):
            raise _malformed(task, task_request, "not a mapping")
        restored: dict[str, Any] = {}
        try:
            url = carried.get("url") if self.url else None
            if url is not None:
                _restore_url(restored, url)
            for entry in self.entries:
                value = carried.get(entry.name)
                if value is not None and entry.restore_environ is not None:
                    entry.restore_environ(restored, value)
        except (TypeError, ValueError, AttributeError) as exc:
            raise _malformed(task, task_request, exc) from None
        if environ:
            # The caller chose these keys explicitly: they win.
            restored.update(environ)
        return restored

    def restore(self, request, carried) -> None:
        """Restore request-level values (locale, custom entries)."""
        for entry in self.entries:
            if entry.restore is not None:
                value = carried.get(entry.name)
                if value is not None:
                    entry.restore(request, value)

    def _verify(self, task, task_request, carried, environ) -> None:
        signature = getattr(task_request, SIGNATURE_HEADER, None)
        if isinstance(signature, str):
            for secret in self.secrets:
                expected = _sign(
                    secret,
                    task.name,
                    task_request.id,
                    carried or None,
                    environ,
                )
                if hmac.compare_digest(expected, signature):
                    return
            reason = "its signature does not match (tampered message?)"
        else:
            reason = "it is not signed"
        raise TaskContextRejected(
            f"Task {task.name}[{task_request.id}] rejected: {reason}; "
            f"{SECRET_SETTING} requires a signed request context"
        )


def _malformed(task, task_request, why) -> TaskContextRejected:
    return TaskContextRejected(
        f"Task {task.name}[{task_request.id}] rejected: malformed "
        f"{CONTEXT_HEADER} header ({why})"
    )


def _sign(secret: bytes, name: str, task_id: str, carried, environ) -> str:
    payload = json.dumps(
        [name, task_id, carried, environ],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hmac.new(secret, payload.encode(), hashlib.sha256).hexdigest()


def _uuid() -> str:
    from celery.utils import uuid

    return uuid()


def _environ_key(header: str) -> str:
    return "HTTP_" + header.upper().replace("-", "_")


# -- URL context -----------------------------------------------------------


def public_environ(public_url: str | None) -> dict[str, Any]:
    """The base WSGI environ of task requests with no originating request.

    ``public_url`` (the ``pyramid_tasks.public_url`` setting, by default
    ``http://localhost``) gives the scheme, host, port and script name,
    e.g. ``https://example.com:8443/app``; a trailing slash is ignored.

    :raises pyramid.exceptions.ConfigurationError: not an absolute
        ``http``/``https`` URL, or one with credentials, a query or a
        fragment.
    """
    url = (public_url or "http://localhost").strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - validates the port
    except ValueError as exc:
        raise _bad_public_url(url, exc) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _bad_public_url(url, "expected http(s)://host[:port][/path]")
    if parts.username is not None or parts.query or parts.fragment:
        raise _bad_public_url(url, "no credentials, query or fragment")
    base = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
    environ = Request.blank("/", base_url=base).environ
    environ.pop("wsgi.input", None)
    return environ


def _bad_public_url(url, why) -> ConfigurationError:
    return ConfigurationError(
        f"Setting 'pyramid_tasks.public_url' = {url!r} is not a public "
        f"URL: {why}"
    )


def _set_url(environ, scheme: str, host: str, port) -> None:
    environ["wsgi.url_scheme"] = scheme
    environ["HTTP_HOST"] = host
    name, sep, maybe_port = host.rpartition(":")
    if sep and maybe_port.isdigit() and not name.endswith(":"):
        environ["SERVER_NAME"] = name
        environ["SERVER_PORT"] = maybe_port
    else:
        environ["SERVER_NAME"] = host
        environ["SERVER_PORT"] = str(
            port or (443 if scheme == "https" else 80)
        )


def _capture_url(environ) -> list[str] | None:
    carried = environ.get(URL_ENVIRON)
    if carried is not None:
        # A task request deferring again passes its own context on.
        return carried
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


def _restore_url(environ, url) -> None:
    scheme, host, script_name = url
    if scheme not in ("http", "https"):
        raise ValueError(f"bad scheme {scheme!r}")
    if not isinstance(host, str) or not isinstance(script_name, str):
        raise TypeError("host and script name must be strings")
    _set_url(environ, scheme, host, None)
    environ["SCRIPT_NAME"] = script_name
    environ[URL_ENVIRON] = [scheme, host, script_name]


# -- Built-in values -------------------------------------------------------


def _request_id(environ, key: str) -> str | None:
    value = environ.get(key)
    return value[:_MAX_REQUEST_ID] if value else None


def _restore_request_id(environ, key: str, value) -> None:
    value = str(value)[:_MAX_REQUEST_ID]
    environ[key] = value
    environ[REQUEST_ID_ENVIRON] = value


def _capture_locale(request) -> str | None:
    return request.locale_name


def _restore_accept(environ, value) -> None:
    environ["HTTP_ACCEPT_LANGUAGE"] = str(value)


def _restore_locale(request, value) -> None:
    # The default locale negotiator reads this attribute first.
    request._LOCALE_ = str(value)


def _capture_userid(request):
    return request.authenticated_userid


def _restore_userid(environ, value) -> None:
    environ[USER_ID_ENVIRON] = value


def propagated_userid(request) -> Any:
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


# -- Directive and settings ------------------------------------------------


def get_task_context(registry) -> TaskContext:
    """The :class:`TaskContext` of ``registry``'s Celery app."""
    from .application import get_celery_app

    app = get_celery_app(registry)
    context = app.__dict__.get("task_context")
    if context is None:
        context = app.task_context = TaskContext()
    return context


def configure_task_context(config) -> None:
    """Read the context settings in an action (later settings count)."""
    context = get_task_context(config.registry)

    def register() -> None:
        from .taskrequest import PUBLIC_URL_SETTING

        settings = config.registry.settings or {}
        public_environ(settings.get(PUBLIC_URL_SETTING))
        context.configure(settings)

    # Same phase as the Celery settings: before tasks and directives use it.
    config.action(
        ("pyramid_tasks", "task context settings"),
        register,
        order=PHASE2_CONFIG,
    )
    signals.celeryd_after_setup.connect(
        _on_worker_setup, weak=False, dispatch_uid="pyramid_tasks.context"
    )


def add_task_context(
    config,
    name: str,
    capture: Callable[[Any], Any] | str,
    restore: Callable[[Any, Any], None] | str | None = None,
) -> None:
    """Carry a value of the deferring request to the task request.

    ``capture(request)`` runs in ``request.defer_task`` and returns a
    JSON-serializable value, or ``None`` to carry nothing. In the worker,
    ``restore(request, value)`` puts it on the task request; the default
    sets the request attribute ``name``. Registering a built-in name
    (``request_id``, ``locale``, ``user_id``) replaces and enables it::

        config.add_task_context(
            "tenant", lambda request: request.tenant.id,
            lambda request, tenant_id: setattr(
                request, "tenant", load_tenant(request, tenant_id)),
        )

    .. versionadded:: 1.0
    """
    capture = config.maybe_dotted(capture)
    restore = config.maybe_dotted(restore)
    if not isinstance(name, str) or not name or name == "url":
        raise ConfigurationError(
            f"Task context name {name!r} must be a non-empty string "
            "other than 'url'"
        )
    if not callable(capture):
        raise ConfigurationError(
            f"Task context {name!r}: capture {capture!r} is not callable"
        )
    if restore is not None and not callable(restore):
        raise ConfigurationError(
            f"Task context {name!r}: restore {restore!r} is not callable"
        )
    if restore is None:

        def restore(request, value, _name=name):
            setattr(request, _name, value)

    intr = config.introspectable("task contexts", name, name, "task context")
    intr.update(name=name, capture=capture, restore=restore)
    context = get_task_context(config.registry)

    def register() -> None:
        context.add(_Entry(name, capture, None, restore))

    config.action(("task context", name), register, introspectables=(intr,))


# -- Logging ---------------------------------------------------------------


class TaskContextFilter(logging.Filter):
    """Give log records ``task_name``, ``task_id`` and ``request_id``.

    Inside a task they name the task and the id of the request that
    deferred it; elsewhere they are ``-`` (and ``request_id`` is the
    current web request's). Values set by ``extra=`` are kept. Use
    ``%(request_id)s`` in a format; the worker adds the filter to its
    handlers when it starts (see :func:`install_log_filter`).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        attrs = record.__dict__
        if "request_id" in attrs and "task_id" in attrs:
            return True
        request = get_current_request()
        task_name = task_id = request_id = "-"
        if request is not None:
            environ = request.environ
            request_id = environ.get(REQUEST_ID_ENVIRON)
            if request_id is None:
                request_id = environ.get(_request_id_key(request), "-")
            task = getattr(request, "current_task", None)
            if task is not None:
                task_name = task.name
                task_id = task.request.id or "-"
        attrs.setdefault("task_name", task_name)
        attrs.setdefault("task_id", task_id)
        attrs.setdefault("request_id", request_id)
        return True


def _request_id_key(request) -> str:
    app = getattr(request.registry, "celery_app", None)
    context = getattr(app, "task_context", None)
    return context.request_id_key if context else "HTTP_X_REQUEST_ID"


def install_log_filter(*loggers: logging.Logger) -> None:
    """Add one :class:`TaskContextFilter` to the handlers of ``loggers``.

    Without arguments, to every handler of every configured logger. It is
    called when the worker has set up logging; call it again for handlers
    added later. Adding it twice to a handler does nothing.
    """
    if not loggers:
        manager = logging.root.manager
        loggers = (logging.root,) + tuple(
            logger
            for logger in manager.loggerDict.values()
            if isinstance(logger, logging.Logger)
        )
    for logger in loggers:
        for handler in logger.handlers:
            if not any(
                isinstance(f, TaskContextFilter) for f in handler.filters
            ):
                handler.addFilter(TaskContextFilter())


def _on_worker_setup(**kwargs) -> None:
    install_log_filter()
