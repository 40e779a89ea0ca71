"""The outbox tables, on a SQLAlchemy ``MetaData`` of their own.

An application's Alembic migrations can include them::

    from pyramid_tasks.outbox.table import outbox_metadata
    target_metadata = [Base.metadata, outbox_metadata()]

``ptasks config.ini outbox create`` creates them where they are missing.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["DEFAULT_TABLE", "OutboxTables", "outbox_metadata"]

#: The table name unless ``pyramid_tasks.outbox.table`` says otherwise.
DEFAULT_TABLE = "pyramid_tasks_outbox"


class OutboxTables:
    """The outbox table and the table of done task ids, by name.

    :ivar metadata: their own ``MetaData``.
    :ivar messages: one row per message waiting for the relay.
    :ivar done: the ids of tasks that ran with ``idempotent=True``.
    """

    def __init__(self, name: str = DEFAULT_TABLE) -> None:
        self.metadata = sa.MetaData()
        self.messages = sa.Table(
            name,
            self.metadata,
            sa.Column(
                "id",
                sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                primary_key=True,
                autoincrement=True,
            ),
            sa.Column("task_id", sa.String(155), nullable=False, index=True),
            sa.Column("task_name", sa.String(255), nullable=False),
            sa.Column("payload", sa.Text, nullable=False),
            sa.Column(
                "created_at", sa.DateTime(timezone=True), nullable=False
            ),
            sa.Column(
                "available_at", sa.DateTime(timezone=True), nullable=False
            ),
            sa.Column("claimed_until", sa.DateTime(timezone=True)),
            sa.Column("claimed_by", sa.String(255)),
            sa.Column("attempts", sa.Integer, nullable=False, default=0),
            sa.Column("last_error", sa.Text),
            sa.Column("dead", sa.Boolean, nullable=False, default=False),
            sa.Index(f"{name}_ready", "dead", "available_at"),
        )
        self.done = sa.Table(
            f"{name}_done",
            self.metadata,
            sa.Column("task_id", sa.String(155), primary_key=True),
            sa.Column("done_at", sa.DateTime(timezone=True), nullable=False),
        )


def outbox_metadata(name: str = DEFAULT_TABLE) -> sa.MetaData:
    """The ``MetaData`` of the outbox tables named after ``name``."""
    return OutboxTables(name).metadata
