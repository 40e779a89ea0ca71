"""Proof 5: a prefork worker's children do not share the parent's sockets.

The proof app connects to PostgreSQL while it loads, in the worker's
parent process, so its pool holds a connection when the children fork.
A ``CeleryWorkerProcessInit`` subscriber calling
``engine.dispose(close=False)`` makes each child open its own.
"""

from __future__ import annotations

import os
import sys

from pyramid.request import Request, apply_request_extensions
import pytest
import sqlalchemy as sa

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import proof_app  # noqa: E402
from proof_support import (  # noqa: E402
    private_database,
    redis_keys,
    wait_until,
    worker,
    write_ini,
)

from services import broker_settings  # noqa: E402

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

TASKS = 20


def test_prefork_children_each_open_their_own_connection(tmp_path):
    runs, parent, parent_backend, _ = _run_prefork_worker(
        tmp_path, dispose=True, done=lambda runs, output: len(runs) == TASKS
    )
    children: dict[int, set[int]] = {}
    for os_pid, backend_pid in runs:
        children.setdefault(os_pid, set()).add(backend_pid)
    # Both children ran tasks, each over connections of its own.
    assert len(children) == 2
    assert parent not in children
    first, second = children.values()
    assert not first & second
    assert parent_backend not in first | second


def test_without_the_subscriber_children_reuse_the_parent_connection(
    tmp_path,
):
    # The control: the check above would catch a missing dispose. A child
    # then takes the connection the parent left in the pool: it either
    # runs on the parent's backend or breaks the protocol stream.
    def reused(runs, output):
        return parent_seen(runs) or "DatabaseError" in output

    parent_backends = []

    def parent_seen(runs):
        return any(b in parent_backends for _, b in runs)

    runs, _, _, output = _run_prefork_worker(
        tmp_path, dispose=False, done=reused, parents=parent_backends
    )
    assert parent_seen(runs) or "DatabaseError" in output


def _run_prefork_worker(tmp_path, dispose: bool, done, parents=None):
    """Run TASKS tasks on a 2-child prefork worker until ``done``."""
    settings = broker_settings("redis")
    prefix = settings["celery.broker_transport_options.global_keyprefix"]
    settings.pop("celery.result_backend")
    with private_database() as db_url, redis_keys(prefix):
        settings.update(
            {
                "celery.task_ignore_result": "true",
                "celery.worker_enable_remote_control": "false",
                "celery.worker_prefetch_multiplier": "1",
                "proof.db_url": db_url,
                "proof.dispose_after_fork": str(dispose).lower(),
                "proof.task_sleep": "0.05",
            }
        )
        ini = write_ini(str(tmp_path), settings)
        registry = proof_app.main({}, **settings).registry
        engine = registry.proof_engine
        try:
            request = Request.blank("/")
            request.registry = registry
            apply_request_extensions(request)
            for n in range(TASKS):
                request.defer_task("proof.note_connection", n)
            with worker(ini, "-P", "prefork", "-c", "2") as proc:
                parent = proc.process.pid

                def finished():
                    if parents is not None and not parents:
                        parents.extend(_parent_backends(engine, parent))
                    return done(_runs(engine), proc.output())

                wait_until(finished, 60, "tasks")
                output = proc.output()
            return (
                _runs(engine),
                parent,
                _parent_backends(engine, parent)[0],
                output,
            )
        finally:
            engine.dispose()


def _runs(engine) -> list[tuple[int, int]]:
    with engine.connect() as conn:
        query = sa.select(
            proof_app.runs.c.os_pid, proof_app.runs.c.backend_pid
        )
        return [tuple(row) for row in conn.execute(query)]


def _parent_backends(engine, parent: int) -> list[int]:
    with engine.connect() as conn:
        query = sa.select(proof_app.parents.c.backend_pid).where(
            proof_app.parents.c.os_pid == parent
        )
        return list(conn.execute(query).scalars())
