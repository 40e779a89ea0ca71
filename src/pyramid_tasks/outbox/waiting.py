"""How a relay waits for new rows: PostgreSQL's NOTIFY, or a timer.

On PostgreSQL (with psycopg2) the relay ``LISTEN``\\ s on the outbox
table's channel: each transaction that stored rows sends a ``NOTIFY`` when
it commits, which wakes the relay at once; no busy polling. Elsewhere it
looks at the table every ``poll_interval`` seconds.
"""

from __future__ import annotations

import select
import threading
from typing import Any

__all__ = ["waiter_for"]

#: A stop request is seen within this many seconds of any wait.
_SLICE = 0.25


class Timer:
    """Waits ``timeout`` seconds, or less when stopped."""

    def wait(self, timeout: float, stop: threading.Event) -> None:
        stop.wait(timeout)

    def close(self) -> None:
        """Nothing to release."""


class Notifications:
    """Waits for a ``NOTIFY`` on ``channel``, at most ``timeout`` seconds.

    :param engine: a SQLAlchemy engine of PostgreSQL with psycopg2.
    :param channel: the channel, the outbox table's name.
    """

    def __init__(self, engine: Any, channel: str) -> None:
        self.connection = engine.raw_connection()
        self.driver = self.connection.driver_connection
        self.driver.autocommit = True
        with self.driver.cursor() as cursor:
            cursor.execute(f'LISTEN "{channel}"')

    def wait(self, timeout: float, stop: threading.Event) -> None:
        left = timeout
        while left > 0 and not stop.is_set():
            ready, _, _ = select.select([self.driver], [], [], _SLICE)
            if ready:
                # A notification (or any other message): look at the table.
                self.driver.poll()
                self.driver.notifies.clear()
                return
            left -= _SLICE

    def close(self) -> None:
        self.connection.invalidate()


def waiter_for(outbox: Any) -> Timer | Notifications:
    """The way a relay of ``outbox`` waits on its database."""
    engine = outbox.engine
    if engine.dialect.name == "postgresql" and engine.dialect.driver == (
        "psycopg2"
    ):
        return Notifications(engine, outbox.table.name)
    return Timer()
