"""Configuring what travels to tasks: settings and ``add_task_context``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyramid.config import PHASE2_CONFIG
from pyramid.exceptions import ConfigurationError

from ..context.builtins import BUILTINS, builtin_entry, header_environ_key
from ..context.carrier import SECRET_SETTING, ContextEntry, TaskContext
from ..interfaces import ITaskContext
from .settings import read_setting

__all__ = ["add_task_context", "configure_task_context"]

#: Settings (all under the ``pyramid_tasks.`` prefix).
PROPAGATE_SETTING = "pyramid_tasks.propagate"
PROPAGATE_URL_SETTING = "pyramid_tasks.propagate_url"
REQUEST_ID_HEADER_SETTING = "pyramid_tasks.request_id_header"


def configure_task_context(config: Any) -> None:
    """Register the action reading the context settings.

    It runs in the same phase as the Celery settings: before tasks and
    ``add_task_context`` entries use the context.
    """
    registry = config.registry

    def register() -> None:
        settings = registry.settings or {}
        names = read_setting(settings, PROPAGATE_SETTING, list, [])
        unknown = [name for name in names if name not in BUILTINS]
        if unknown:
            raise ConfigurationError(
                f"Setting {PROPAGATE_SETTING!r} names unknown values "
                f"{unknown}: choose among {list(BUILTINS)}, or register "
                "your own with config.add_task_context"
            )
        header = read_setting(
            settings, REQUEST_ID_HEADER_SETTING, str, "X-Request-ID"
        )
        request_id_key = header_environ_key(header or "X-Request-ID")
        secrets = read_setting(settings, SECRET_SETTING, list, [])
        context = TaskContext(
            url=read_setting(settings, PROPAGATE_URL_SETTING, bool, True),
            entries=[
                builtin_entry(name, request_id_key)
                for name in dict.fromkeys(names)
            ],
            secrets=[secret.encode() for secret in secrets],
            request_id_key=request_id_key,
        )
        registry.registerUtility(context, ITaskContext)

    config.action(
        ("pyramid_tasks", "task context settings"),
        register,
        order=PHASE2_CONFIG,
    )


def add_task_context(
    config: Any,
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
    entry = ContextEntry(name, capture, None, restore or _setter(name))
    intr = config.introspectable("task contexts", name, name, "task context")
    intr.update(name=name, capture=capture, restore=entry.restore)

    def register() -> None:
        config.registry.getUtility(ITaskContext).add(entry)

    config.action(("task context", name), register, introspectables=(intr,))


def _setter(name: str) -> Callable[[Any, Any], None]:
    def restore(request: Any, value: Any) -> None:
        setattr(request, name, value)

    return restore
