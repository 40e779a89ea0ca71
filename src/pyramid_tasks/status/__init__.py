"""Watch tasks over HTTP: a JSON status view and its capability URLs.

``config.include("pyramid_tasks.status")`` (after ``pyramid_tasks``)
adds:

- the request method ``request.task_status_url(handle_or_id)``;
- the status view (:mod:`.view`) at
  ``<pyramid_tasks.status.route>/<task id>/<token>``, route name
  ``pyramid_tasks.status``;
- the script ``pyramid_tasks:static/progress.js``, served at
  ``<pyramid_tasks.status.route>/static/progress.js``
  (``request.static_url("pyramid_tasks:static/progress.js")``), which
  binds ``role="progressbar"`` elements to status URLs.

Settings, read when the configuration commits:

- ``pyramid_tasks.status.secret`` (required): one or more secrets; the
  first signs the URLs, all verify them, so a secret can rotate.
- ``pyramid_tasks.status.route``: the path the view is served under,
  ``/_tasks/status`` by default.
- ``pyramid_tasks.status.permission``: a permission the view requires
  of the requester, on top of the token (by default none of its own;
  the application's default permission applies, as for any view).

.. versionadded:: 1.0
"""

from __future__ import annotations

from typing import Any

from pyramid.config import PHASE1_CONFIG
from pyramid.exceptions import ConfigurationError

from ..config.settings import read_setting
from ..interfaces import ITaskStatusTokens
from .tokens import TOKEN_PATTERN, StatusTokens
from .url import ROUTE_NAME, task_status_url
from .view import read_status, task_status_view

__all__ = [
    "ROUTE_NAME",
    "StatusTokens",
    "includeme",
    "read_status",
    "task_status_url",
    "task_status_view",
]

SECRET_SETTING = "pyramid_tasks.status.secret"
ROUTE_SETTING = "pyramid_tasks.status.route"
PERMISSION_SETTING = "pyramid_tasks.status.permission"
DEFAULT_ROUTE = "/_tasks/status"


def includeme(config: Any) -> None:
    """Add the status view, its script and ``request.task_status_url``."""
    config.add_request_method(task_status_url, "task_status_url")
    registry = config.registry

    def register() -> None:
        settings = registry.settings or {}
        secrets = read_setting(settings, SECRET_SETTING, list, [])
        if not secrets:
            raise ConfigurationError(
                f"Setting {SECRET_SETTING!r} is required by "
                "pyramid_tasks.status: one or more long random secrets "
                "(the first signs the status URLs, all verify them)"
            )
        registry.registerUtility(
            StatusTokens([secret.encode() for secret in secrets]),
            ITaskStatusTokens,
        )
        path = read_setting(settings, ROUTE_SETTING, str, DEFAULT_ROUTE)
        path = "/" + path.strip("/")
        permission = read_setting(settings, PERMISSION_SETTING, str, "")
        # Registered from this action so that the route and permission
        # settings are read like every other one, at commit. The static
        # route comes first; a file name never matches the token pattern.
        config.add_static_view(f"{path}/static", "pyramid_tasks:static")
        config.add_route(
            ROUTE_NAME, f"{path}/{{task_id}}/{{token:{TOKEN_PATTERN}}}"
        )
        config.add_view(
            task_status_view,
            route_name=ROUTE_NAME,
            request_method="GET",
            permission=permission or None,
        )

    # Before the default phase, so the route and view actions it adds run
    # later in this same commit (an action may only add later ones).
    config.action(
        ("pyramid_tasks", "task status"), register, order=PHASE1_CONFIG
    )
