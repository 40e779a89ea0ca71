"""The relay: sends the outbox's rows to the broker, then removes them.

Each round claims a batch of rows in a short transaction (``SELECT ...
FOR UPDATE SKIP LOCKED`` where the database has it), commits, publishes
them over one producer with no database lock held, then deletes the
rows that were sent. A relay killed between the publish and the delete
leaves its rows claimed for ``lease`` seconds; another relay (or the same
one restarted) sends them again then: delivery is at least once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
import logging
import os
import socket
import threading
from typing import Any

from celery.utils.time import get_exponential_backoff_interval
from kombu.exceptions import OperationalError
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from ..events import DeferredTaskPublishFailed
from ..redact import redact_urls
from ..web.publisher import BrokerPublisher, PublishScope
from ..web.states import FAILED, SENT, WAITING
from .payload import decode
from .waiting import waiter_for

__all__ = ["Relay", "RelaySettings"]

log = logging.getLogger(__name__)

#: The longest wait after the broker was found down, in seconds.
MAX_BACKOFF = 30


@dataclass(slots=True)
class RelaySettings:
    """How a relay works (the ``pyramid_tasks.outbox.*`` settings).

    :ivar batch_size: rows claimed and sent at once.
    :ivar poll_interval: seconds between two looks at the table when
        nothing wakes the relay (PostgreSQL's NOTIFY does).
    :ivar lease: seconds a claimed row stays the relay's own.
    :ivar max_attempts: failed sends before a row is dead.
    :ivar in_worker: run the relay in the Celery worker's main process.
    """

    batch_size: int = 100
    poll_interval: float = 1.0
    lease: float = 60.0
    max_attempts: int = 10
    in_worker: bool = False


@dataclass(slots=True)
class _Row:
    """A claimed row on its way to the broker (the publisher's message)."""

    id: int
    task_id: str
    name: str
    attempts: int
    signature: Any
    options: dict[str, Any]
    delivery: str = WAITING
    error: BaseException | None = None

    def waiting(self) -> bool:
        return self.delivery == WAITING

    def apply(self) -> Any:
        return self.signature.apply_async(**self.options)


class Relay:
    """Sends the rows of one application's outbox.

    :param outbox: the :class:`~.store.Outbox`.
    :param settings: the :class:`RelaySettings`.
    """

    def __init__(self, outbox: Any, settings: RelaySettings) -> None:
        self.outbox = outbox
        self.settings = settings
        self.app = outbox.app
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.publisher = BrokerPublisher(
            self.app, on_sent=_sent, on_failed=_failed
        )
        #: How many rounds in a row found the broker down.
        self.broker_down = 0

    def run(self, stop: threading.Event) -> None:
        """Relay until ``stop`` is set; the batch in progress is finished."""
        waiter = waiter_for(self.outbox)
        try:
            while not stop.is_set():
                claimed = self.relay_once()
                if self.broker_down:
                    wait = get_exponential_backoff_interval(
                        0.5, self.broker_down, MAX_BACKOFF
                    )
                    stop.wait(wait)
                elif claimed < self.settings.batch_size:
                    waiter.wait(self.settings.poll_interval, stop)
        finally:
            waiter.close()

    def drain(self) -> int:
        """Relay until no row is ready; return how many were sent."""
        sent = 0
        while True:
            before = self.broker_down
            claimed = self.relay_once()
            sent += claimed
            if not claimed or self.broker_down > before:
                return sent

    def relay_once(self) -> int:
        """Claim, send and remove one batch; return how many were claimed."""
        rows = self.claim()
        if rows:
            self.publisher.publish_batch(rows)
            self.finish(rows)
        return len(rows)

    def claim(self) -> list[_Row]:
        """Make a batch of ready rows this relay's own, for a lease."""
        table = self.outbox.table
        now = _now()
        token = f"{self.name}:{now.timestamp()}"
        ready = sa.and_(
            table.c.dead.is_(False),
            table.c.available_at <= now,
            sa.or_(
                table.c.claimed_until.is_(None), table.c.claimed_until < now
            ),
        )
        claim = {
            "claimed_until": now + timedelta(seconds=self.settings.lease),
            "claimed_by": token,
        }
        with self.outbox.engine.begin() as connection:
            if connection.dialect.name == "sqlite":
                # SQLite locks the whole database for a write: claiming by
                # an UPDATE is exclusive; it has no FOR UPDATE.
                ids = sa.select(table.c.id).where(ready)
                ids = ids.order_by(table.c.id).limit(self.settings.batch_size)
                connection.execute(
                    table.update().where(table.c.id.in_(ids)).values(**claim)
                )
                query = sa.select(table).where(table.c.claimed_by == token)
            else:
                query = (
                    sa.select(table)
                    .where(ready)
                    .order_by(table.c.id)
                    .limit(self.settings.batch_size)
                    .with_for_update(skip_locked=True)
                )
            found = connection.execute(query).all()
            if found and connection.dialect.name != "sqlite":
                connection.execute(
                    table.update()
                    .where(table.c.id.in_([row.id for row in found]))
                    .values(**claim)
                )
        return [self._row(row) for row in sorted(found, key=lambda r: r.id)]

    def _row(self, row: Any) -> _Row:
        signature, options = decode(self.app, row.payload)
        return _Row(
            row.id,
            row.task_id,
            row.task_name,
            row.attempts,
            signature,
            options,
        )

    def finish(self, rows: list[_Row]) -> None:
        """Delete the rows sent; count the failures of the others."""
        table = self.outbox.table
        sent = [row.id for row in rows if row.delivery == SENT]
        down = [row for row in rows if isinstance(row.error, OperationalError)]
        failed = [row for row in rows if row.delivery == FAILED]
        self.broker_down = self.broker_down + 1 if down else 0
        with self.outbox.engine.begin() as connection:
            if sent:
                connection.execute(table.delete().where(table.c.id.in_(sent)))
            for row in failed:
                connection.execute(
                    table.update()
                    .where(table.c.id == row.id)
                    .values(**self._failure(row, row in down))
                )

    def _failure(self, row: _Row, broker_down: bool) -> dict[str, Any]:
        """What a failed send changes in its row: released, and counted
        (dead after ``max_attempts``) unless the broker was down."""
        error = redact_urls(f"{type(row.error).__name__}: {row.error}")
        values: dict[str, Any] = {
            "claimed_until": None,
            "claimed_by": None,
            "last_error": error[:2000],
        }
        if broker_down:
            return values
        attempts = row.attempts + 1
        dead = attempts >= self.settings.max_attempts
        values.update(
            attempts=attempts,
            dead=dead,
            available_at=_now()
            + timedelta(
                seconds=get_exponential_backoff_interval(1, attempts, 600)
            ),
        )
        log.error(
            "Task %s[%s] could not be sent (attempt %d%s): %s",
            row.name,
            row.task_id,
            attempts,
            ", the row is dead" if dead else "",
            error,
        )
        if dead:
            _report_dead(self.app, row)
        return values


def _sent(app: Any, row: _Row) -> None:
    row.delivery = SENT


def _failed(
    app: Any, row: _Row, exc: BaseException, scope: PublishScope | None
) -> None:
    row.delivery = FAILED
    row.error = exc


def _report_dead(app: Any, row: _Row) -> None:
    assert row.error is not None  # a row dies of a failed send
    registry = app.registry
    registry.notify(
        DeferredTaskPublishFailed(
            registry,
            row.name,
            row.task_id,
            tuple(row.signature.args),
            dict(row.signature.kwargs),
            row.options,
            row.error,
        )
    )


def _now() -> datetime:
    return datetime.now(timezone.utc)


def first_line(error: object) -> str:
    """The first line of a driver's error, passwords masked."""
    return redact_urls(str(error).strip().splitlines()[0])


def check_database(outbox: Any) -> None:
    """Fail early and clearly: the database answers, the table is there.

    :raises RuntimeError: a one-line message naming what is wrong.
    """
    try:
        with outbox.engine.connect() as connection:
            present = sa.inspect(connection).has_table(outbox.table.name)
    except DBAPIError as exc:
        raise RuntimeError(
            f"Cannot reach the outbox database: {first_line(exc.orig)}"
        ) from None
    if not present:
        raise RuntimeError(
            f"The outbox table {outbox.table.name!r} does not exist: create "
            "it with 'ptasks config.ini outbox create' or your migrations"
        )
