"""``ptasks config.ini relay`` and ``ptasks config.ini outbox ...``.

``relay`` runs until SIGTERM or Ctrl-C, finishing its batch; ``--once``
drains the ready rows and exits. ``outbox create`` creates the tables,
``outbox status`` prints the backlog, the age of its oldest row and the
dead rows, ``outbox retry`` puts dead rows back.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
import threading
from typing import Any

import sqlalchemy as sa

from ..interfaces import IOutbox
from ..stopping import stop_on_signals
from .relay import Relay, check_database, first_line

__all__ = ["CommandFailed", "outbox_command", "relay_command"]


class CommandFailed(Exception):
    """A one-line error for ``ptasks``, with its exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _outbox(registry: Any) -> Any:
    outbox = registry.queryUtility(IOutbox)
    if outbox is None:
        raise CommandFailed(
            "The application has no outbox: include pyramid_tasks.outbox"
        )
    return outbox


def relay_command(
    registry: Any, argv: list[str], out: Callable[..., None]
) -> int:
    """Run the relay of the application's outbox."""
    parser = argparse.ArgumentParser(
        prog="ptasks CONFIG relay",
        description="Send the outbox's rows to the broker, then remove them.",
    )
    parser.add_argument(
        "--batch", type=int, metavar="N", help="rows per batch"
    )
    parser.add_argument(
        "--interval", type=float, metavar="SECONDS", help="poll interval"
    )
    parser.add_argument(
        "--once", action="store_true", help="send what is ready and exit"
    )
    args = parser.parse_args(argv)
    outbox = _outbox(registry)
    settings = outbox.relay_settings
    if args.batch:
        settings = replace(settings, batch_size=args.batch)
    if args.interval is not None:
        settings = replace(settings, poll_interval=args.interval)
    try:
        check_database(outbox)
    except RuntimeError as exc:
        raise CommandFailed(str(exc)) from None
    relay = Relay(outbox, settings)
    if args.once:
        out(f"relayed {relay.drain()} tasks")
        return 0
    out(f"relay {relay.name} on {outbox.table.name}")
    stop = threading.Event()
    with stop_on_signals(stop):
        relay.run(stop)
    out("relay stopped")
    return 0


def outbox_command(
    registry: Any, argv: list[str], out: Callable[..., None]
) -> int:
    """``create``, ``status`` or ``retry`` the outbox."""
    parser = argparse.ArgumentParser(prog="ptasks CONFIG outbox")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("create", help="create the outbox tables")
    commands.add_parser("status", help="the backlog and the dead rows")
    retry = commands.add_parser("retry", help="put dead rows back")
    retry.add_argument("ids", nargs="*", type=int, metavar="ID")
    args = parser.parse_args(argv)
    outbox = _outbox(registry)
    try:
        if args.command == "create":
            outbox.tables.metadata.create_all(outbox.engine)
            out(f"created {', '.join(outbox.tables.metadata.tables)}")
            return 0
        check_database(outbox)
    except sa.exc.DBAPIError as exc:
        raise CommandFailed(
            f"Cannot reach the outbox database: {first_line(exc.orig)}"
        ) from None
    except RuntimeError as exc:
        raise CommandFailed(str(exc)) from None
    if args.command == "status":
        for line in _status(outbox):
            out(line)
        return 0
    out(f"{_retry(outbox, args.ids)} dead rows put back")
    return 0


def _status(outbox: Any) -> list[str]:
    table = outbox.table
    with outbox.engine.connect() as connection:
        waiting = connection.execute(
            sa.select(sa.func.count(), sa.func.min(table.c.created_at)).where(
                table.c.dead.is_(False)
            )
        ).one()
        dead = connection.execute(
            sa.select(table).where(table.c.dead.is_(True)).order_by(table.c.id)
        ).all()
    oldest = "-"
    if waiting[1] is not None:
        created = waiting[1]
        if created.tzinfo is None:  # SQLite and MySQL keep no timezone
            created = created.replace(tzinfo=timezone.utc)
        age = datetime.now(timezone.utc) - created
        oldest = f"{age.total_seconds():.1f} s"
    lines = [
        f"table:   {table.name}",
        f"backlog: {waiting[0]} rows, the oldest {oldest} old",
        f"dead:    {len(dead)} rows",
    ]
    lines += [
        f"  {row.id} {row.task_name}[{row.task_id}] after {row.attempts} "
        f"attempts: {row.last_error}"
        for row in dead
    ]
    return lines


def _retry(outbox: Any, ids: list[int]) -> int:
    table = outbox.table
    where = table.c.dead.is_(True)
    if ids:
        where = sa.and_(where, table.c.id.in_(ids))
    with outbox.engine.begin() as connection:
        done = connection.execute(
            table.update()
            .where(where)
            .values(
                dead=False,
                attempts=0,
                available_at=datetime.now(timezone.utc),
                claimed_until=None,
                claimed_by=None,
            )
        )
    return int(done.rowcount)
