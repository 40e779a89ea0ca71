"""Deferred tasks written to the outbox, in the request's transaction.

With an outbox, a task deferred while a transaction is active becomes a
row of the outbox table, written through the application's own
SQLAlchemy session: the row commits with the application's data, or
neither does. The relay (:mod:`.relay`) sends the rows later.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
import zope.sqlalchemy

from ..exceptions import OutboxError
from ..web.delivery import drop_messages
from ..web.states import STORED
from .payload import encode
from .relay import RelaySettings
from .table import OutboxTables

__all__ = ["Outbox"]


class Outbox:
    """The outbox of one application.

    :param app: the :class:`~pyramid_tasks.PyramidCelery`.
    :param session: ``session(request)`` gives the application's
        SQLAlchemy session joined to the request's transaction.
    :param tables: the :class:`~.table.OutboxTables`.
    :param relay_settings: how its relays work.
    """

    def __init__(
        self,
        app: Any,
        session: Callable[[Any], Any],
        tables: OutboxTables,
        relay_settings: RelaySettings | None = None,
    ) -> None:
        self.app = app
        self.session = session
        self.tables = tables
        self.relay_settings = relay_settings or RelaySettings()

    @property
    def table(self) -> sa.Table:
        return self.tables.messages

    @cached_property
    def engine(self) -> sa.engine.Engine:
        """The database of the outbox: the bind of the app's session."""
        request = self.app.task_request_factory()
        session = self.session(request)
        try:
            return session.get_bind()  # type: ignore[no-any-return]
        finally:
            session.close()

    def store(self, request: Any, transaction: Any, message: Any) -> None:
        """Write ``message`` as a row, in ``request``'s transaction.

        :raises pyramid_tasks.OutboxError: the session is not joined to
            the transaction, or the table is missing; nothing is written.
        """
        session = self.session(request)
        task_id, task_name, payload = encode(message)
        # Beginning the session joins it to the transaction, if it is
        # registered with zope.sqlalchemy; nothing is written yet.
        session.connection()
        if not _joined(session, transaction):
            session.rollback()
            raise OutboxError(
                f"Task {task_name!r} cannot be stored: the outbox session "
                "is not joined to the request's transaction; register it "
                "with zope.sqlalchemy.register(session, "
                "transaction_manager=request.tm)"
            )
        now = datetime.now(timezone.utc)
        try:
            session.execute(
                self.table.insert().values(
                    task_id=task_id,
                    task_name=task_name,
                    payload=payload,
                    created_at=now,
                    available_at=now,
                    attempts=0,
                    dead=False,
                )
            )
        except DBAPIError as exc:
            raise self._store_error(task_name, exc) from exc
        zope.sqlalchemy.mark_changed(session)
        batch = _batch(self, transaction)
        if not batch.messages and session.get_bind().dialect.name == (
            "postgresql"
        ):
            # Wakes the relays when the transaction commits, not before.
            session.execute(
                sa.text("SELECT pg_notify(:channel, '')"),
                {"channel": self.table.name},
            )
        batch.messages.append(message)
        for entry in message.entries():
            entry.result.delivery = STORED

    def _store_error(self, task_name: str, exc: DBAPIError) -> OutboxError:
        name = self.table.name
        try:
            with self.engine.connect() as connection:
                missing = not sa.inspect(connection).has_table(name)
        except DBAPIError:
            missing = False
        if missing:
            return OutboxError(
                f"Task {task_name!r} cannot be stored: the outbox table "
                f"{name!r} does not exist (create it with 'ptasks "
                "config.ini outbox create' or your migrations)"
            )
        return OutboxError(
            f"Task {task_name!r} cannot be stored in the outbox table "
            f"{name!r}: {exc.orig}"
        )

    def cancel(self, task_id: str) -> bool:
        """Delete the row of a task the relay has not claimed; return
        whether there was one."""
        table = self.table
        with self.engine.begin() as connection:
            deleted = connection.execute(
                table.delete().where(
                    table.c.task_id == task_id,
                    table.c.claimed_until.is_(None),
                )
            )
        return bool(deleted.rowcount)

    def state_of(self, task_id: str) -> str | None:
        """``"stored"`` (or ``"dead"``) while the task is in the outbox."""
        table = self.table
        with self.engine.connect() as connection:
            dead = connection.execute(
                sa.select(table.c.dead).where(table.c.task_id == task_id)
            ).scalar()
        if dead is None:
            return None
        return "dead" if dead else STORED

    def stored(self, task_ids: list[str]) -> set[str]:
        """Those of ``task_ids`` that have a row."""
        table = self.table
        with self.engine.connect() as connection:
            found = connection.execute(
                sa.select(table.c.task_id).where(table.c.task_id.in_(task_ids))
            ).scalars()
            return set(found)


class _Stored:
    """The messages one transaction stored; dropped if it aborts."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self.messages: list[Any] = []

    def after_commit(self, committed: bool) -> None:
        if not committed:
            self.drop()

    def drop(self) -> None:
        """The transaction failed: its rows are gone, unless the database
        committed before a later resource vetoed; the rows say which."""
        messages, self.messages = self.messages, []
        if not messages:
            return
        kept = self.outbox.stored([m.result.id for m in messages])
        gone = [m for m in messages if m.result.id not in kept]
        drop_messages(self.outbox.app, gone, STORED)


def _batch(outbox: Outbox, transaction: Any) -> _Stored:
    try:
        return transaction.data(outbox)  # type: ignore[no-any-return]
    except KeyError:
        batch = _Stored(outbox)
        transaction.set_data(outbox, batch)
        transaction.addAfterCommitHook(batch.after_commit)
        transaction.addAfterAbortHook(batch.drop)
        return batch


def _joined(session: Any, transaction: Any) -> bool:
    # zope.sqlalchemy joins a session to the current transaction when the
    # session begins; its data manager holds the session.
    return any(
        getattr(resource, "session", None) is session
        for resource in transaction._resources
    )
