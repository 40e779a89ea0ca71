"""A transactional outbox: a committed task is never lost.

``config.include("pyramid_tasks.outbox")`` and a session::

    config.set_task_outbox("myapp.models:request_session")

or, in the ini::

    pyramid_tasks.outbox.session = myapp.models:request_session

where ``request_session(request)`` returns the application's SQLAlchemy
session joined to ``request.tm`` (zope.sqlalchemy). A task or workflow
deferred in an active transaction is then a row of the outbox table,
written through that session: it commits with the application's data or
not at all, and the request never waits for the broker. The relay,
``ptasks config.ini relay``, sends the rows (:mod:`.relay`).

Tasks registered with ``idempotent=True`` run once per task id, however
often the relay delivers them (:mod:`.idempotent`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyramid.config import PHASE2_CONFIG
from pyramid.exceptions import ConfigurationError

from ..application import get_celery_app
from ..config.derivers import INGRESS
from ..config.settings import read_setting
from ..events import CeleryWorkerReady, CeleryWorkerShutdown
from ..interfaces import IOutbox, ITaskDeliveryState
from .idempotent import idempotent_task_deriver
from .inworker import start_relay_thread, stop_relay_thread
from .relay import RelaySettings
from .store import Outbox
from .table import DEFAULT_TABLE, OutboxTables

__all__ = ["Outbox", "includeme", "set_task_outbox"]

SESSION_SETTING = "pyramid_tasks.outbox.session"
TABLE_SETTING = "pyramid_tasks.outbox.table"
_PREFIX = "pyramid_tasks.outbox."


def set_task_outbox(
    config: Any,
    session: Callable[[Any], Any] | str,
    table: str | None = None,
) -> None:
    """Store the tasks deferred in a transaction in an outbox table.

    :param session: ``session(request)`` returns the application's
        SQLAlchemy session joined to the request's transaction, or the
        dotted name of such a callable.
    :param table: the table name (default: ``pyramid_tasks.outbox.table``,
        else ``pyramid_tasks_outbox``).

    .. versionadded:: 1.0
    """
    session = config.maybe_dotted(session)
    if not callable(session):
        raise ConfigurationError(
            f"set_task_outbox: session {session!r} is not callable: give "
            "session(request), or its dotted name"
        )
    registry = config.registry

    def register() -> None:
        _install(registry, session, table)

    intr = config.introspectable(
        "task outbox", "task outbox", "outbox", "outbox"
    )
    intr.update(session=session, table=table)
    config.action(
        IOutbox, register, order=PHASE2_CONFIG, introspectables=(intr,)
    )


def _install(registry: Any, session: Any, table: str | None) -> Outbox:
    settings = registry.settings or {}
    name = table or read_setting(settings, TABLE_SETTING, str, "")
    app = get_celery_app(registry)
    outbox = Outbox(
        app,
        session,
        OutboxTables(name or DEFAULT_TABLE),
        relay_settings(settings),
    )
    registry.registerUtility(outbox, IOutbox)
    # The status view asks it where a task the backend does not know is.
    registry.registerUtility(outbox, ITaskDeliveryState, name="outbox")
    app.outbox = outbox
    return outbox


def relay_settings(settings: Any) -> RelaySettings:
    """Read the relay's ``pyramid_tasks.outbox.*`` settings."""
    defaults = RelaySettings()
    return RelaySettings(
        batch_size=read_setting(
            settings,
            _PREFIX + "batch_size",
            int,
            defaults.batch_size,
            minimum=1,
        ),
        poll_interval=read_setting(
            settings,
            _PREFIX + "poll_interval",
            float,
            defaults.poll_interval,
            minimum=0,
        ),
        lease=read_setting(
            settings, _PREFIX + "lease", float, defaults.lease, minimum=0
        ),
        max_attempts=read_setting(
            settings,
            _PREFIX + "max_attempts",
            int,
            defaults.max_attempts,
            minimum=1,
        ),
        in_worker=read_setting(
            settings, _PREFIX + "in_worker", bool, defaults.in_worker
        ),
    )


def includeme(config: Any) -> None:
    """Add ``set_task_outbox``, the ``idempotent`` deriver, and the outbox
    the ``pyramid_tasks.outbox.session`` setting names."""
    config.add_directive("set_task_outbox", set_task_outbox)
    config.add_task_deriver(
        idempotent_task_deriver,
        name="idempotent",
        # Inside the task's transaction, where it records the task id.
        under=[INGRESS, "transaction"],
    )
    config.add_subscriber(start_relay_thread, CeleryWorkerReady)
    config.add_subscriber(stop_relay_thread, CeleryWorkerShutdown)
    registry = config.registry

    def from_settings() -> None:
        if registry.queryUtility(IOutbox) is not None:
            return  # config.set_task_outbox was called
        session = read_setting(
            registry.settings or {}, SESSION_SETTING, str, ""
        )
        if not session:
            raise ConfigurationError(
                "pyramid_tasks.outbox needs a session: set "
                f"{SESSION_SETTING} = myapp.models:request_session, or "
                "call config.set_task_outbox(session)"
            )
        factory = config.maybe_dotted(session)
        if not callable(factory):
            raise ConfigurationError(
                f"Setting {SESSION_SETTING!r} = {session!r} is not a "
                "callable: name session(request) as package.module:name"
            )
        _install(registry, factory, None)

    # After the directive's own action, so the application's call wins.
    config.action(("pyramid_tasks", "outbox settings"), from_settings)
