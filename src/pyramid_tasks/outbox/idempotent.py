"""Tasks that run once per task id, however often they are delivered.

Delivery is at least once: a relay killed after publishing and before
deleting its rows sends them again, and a worker killed while a task runs
runs it again. ``config.register_task(func, idempotent=True)`` makes a
repeated delivery of the same task id do nothing, for tasks whose effects
live in the outbox's database: the deriver records the task id in the
``<outbox table>_done`` table inside the task's own transaction (so it
needs ``pyramid_tasks.transaction``). If the task fails, the record rolls
back with its work; if it committed, a second delivery finds the record
and is ignored (Celery's ``Ignore``: its stored result is left alone).

The cost: one ``INSERT`` per run (``ON CONFLICT DO NOTHING`` on
PostgreSQL and SQLite, ``INSERT IGNORE`` on MariaDB and MySQL), and one
row per task in the done table, which an application prunes as it likes.
A repeated delivery running while the first one has not committed waits
for it on the table's key.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from celery.exceptions import Ignore
from pyramid.exceptions import ConfigurationError
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
import zope.sqlalchemy

from ..config.derivers import TaskDeriverInfo, get_derivers
from ..exceptions import OutboxError
from ..interfaces import IOutbox

__all__ = ["idempotent_task_deriver"]


def idempotent_task_deriver(
    task: Callable[..., Any], info: TaskDeriverInfo
) -> Callable[..., Any]:
    """Wrap a task registered with ``idempotent=True``."""
    if not info.options.get("idempotent", False):
        return task
    names = [name for name, _ in get_derivers(info.registry).sorted()]
    if "transaction" not in names:
        raise ConfigurationError(
            f"Task {info.name!r}: idempotent=True records the task id in the "
            "task's transaction: include pyramid_tasks.transaction"
        )
    registry = info.registry

    def idempotent_task(request: Any, *args: Any, **kwargs: Any) -> Any:
        outbox = registry.getUtility(IOutbox)
        session = outbox.session(request)
        record = {
            "task_id": request.current_task.request.id,
            "done_at": datetime.now(timezone.utc),
        }
        if not _insert_once(session, outbox.tables.done, record):
            # Done before: this delivery is a repeat.
            raise Ignore()
        zope.sqlalchemy.mark_changed(session)
        return task(request, *args, **kwargs)

    return idempotent_task


def _insert_once(
    session: Any, table: sa.Table, values: dict[str, Any]
) -> bool:
    """Insert the row unless its key is there; return whether it was not."""
    dialect = session.get_bind().dialect.name
    statement: sa.Insert
    if dialect == "postgresql":
        statement = postgresql.insert(table).on_conflict_do_nothing()
    elif dialect == "sqlite":
        statement = sqlite.insert(table).on_conflict_do_nothing()
    elif dialect in ("mysql", "mariadb"):
        statement = table.insert().prefix_with("IGNORE")
    else:  # pragma: no cover - no other database runs here
        raise OutboxError(
            "idempotent=True works on PostgreSQL, MariaDB, MySQL and "
            f"SQLite, not {dialect}"
        )
    return bool(session.execute(statement.values(**values)).rowcount)
