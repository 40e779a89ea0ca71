"""The Pyramid application used by the delivery proofs.

It is loaded both in the test process (WebTest drives its views) and by
``celery -A pyramid_tasks worker --ini`` subprocesses, so everything it
needs comes from its settings:

``proof.redis_url`` and ``proof.key``
    where the ``proof.record`` task counts its runs.
``proof.db_url``
    a PostgreSQL database: adds pyramid_tm, zope.sqlalchemy, the
    ``pyramid_tasks.transaction`` deriver and the ``rows`` table.
``proof.dispose_after_fork``
    dispose the engine's pool in each prefork child
    (a :class:`~pyramid_tasks.CeleryWorkerProcessInit` subscriber).
``proof.view_delay``
    seconds a view waits after deferring, before its transaction
    commits: it widens the window in which a task sent too early would
    run before the commit.

With a database, ``/workflow?form=signature|chain|group|chord`` inserts a
row and defers a workflow of ``proof.seen`` tasks reading it
(``&end=abort|doom|veto`` ends its transaction otherwise, ``&bad=1`` adds
a task that does not exist), and ``/retried`` defers ``proof.retried``.
"""

from __future__ import annotations

import os
import time

from celery import chord, group, signature
from pyramid.config import Configurator
from pyramid.settings import asbool
import redis
import sqlalchemy as sa
from sqlalchemy.orm import Session
import zope.sqlalchemy

from pyramid_tasks import CeleryWorkerProcessInit, DeferredTaskPublishFailed

metadata = sa.MetaData()
rows = sa.Table(
    "rows",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
#: Which connection each task used: one line per run.
runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("n", sa.Integer, nullable=False),
    sa.Column("os_pid", sa.Integer, nullable=False),
    sa.Column("backend_pid", sa.Integer, nullable=False),
)
#: The PostgreSQL backend the worker's parent process was connected to.
parents = sa.Table(
    "parents",
    metadata,
    sa.Column("os_pid", sa.Integer, primary_key=True),
    sa.Column("backend_pid", sa.Integer, nullable=False),
)


# Tasks ---------------------------------------------------------------


def record(request, n: int) -> int:
    """Count one run of task ``n``; mark it done once its work is over."""
    settings = request.registry.settings
    client = _redis(request.registry)
    key = settings["proof.key"]
    client.incr(f"{key}:runs:{n}")
    client.sadd(f"{key}:arrived", request.current_task.request.id)
    time.sleep(float(settings.get("proof.task_sleep", 0)))
    client.sadd(f"{key}:done", n)
    return n


def read_row(request, row_id: int) -> str | None:
    """Return the value of row ``row_id``, or ``None`` when it is missing."""
    return request.dbsession.execute(
        sa.select(rows.c.value).where(rows.c.id == row_id)
    ).scalar()


def note_connection(request, n: int) -> int:
    """Record which process and which database backend ran task ``n``."""
    session = request.dbsession
    backend_pid = session.execute(sa.text("select pg_backend_pid()")).scalar()
    session.execute(
        runs.insert().values(n=n, os_pid=os.getpid(), backend_pid=backend_pid)
    )
    zope.sqlalchemy.mark_changed(session)
    time.sleep(float(request.registry.settings.get("proof.task_sleep", 0)))
    return backend_pid


def seen(request, *args) -> list:
    """A task of a workflow: the view's row, its link, its own id.

    The row id comes last: before it, Celery may give the result of the
    task before this one.
    """
    value = request.dbsession.execute(
        sa.select(rows.c.value).where(rows.c.id == args[-1])
    ).scalar()
    return [value, request.route_url("home"), request.current_task.request.id]


def retried(request, row_id: int) -> int:
    """Ask Celery to retry twice inside the transaction, then succeed."""
    key = request.registry.settings["proof.key"]
    attempt = _redis(request.registry).incr(f"{key}:retried:{row_id}")
    request.dbsession.execute(
        rows.insert().values(value=f"attempt {attempt} of {row_id}")
    )
    zope.sqlalchemy.mark_changed(request.dbsession)
    if attempt < 3:
        raise request.current_task.retry(countdown=0, max_retries=5)
    return request.current_task.request.retries


# Views ---------------------------------------------------------------

#: The four forms of a workflow, from a function making one signature.
WORKFLOWS = {
    "signature": lambda s: s(),
    "chain": lambda s: s() | s() | s(),
    "group": lambda s: group(s(), s(), s()),
    "chord": lambda s: chord([s(), s()], s()),
}


def defer_workflow(request):
    """Insert a row and defer a workflow whose every task reads it."""
    params = request.params
    row_id = request.dbsession.execute(
        rows.insert().values(value=params["value"]).returning(rows.c.id)
    ).scalar()
    zope.sqlalchemy.mark_changed(request.dbsession)

    def one():
        return request.task_signature("proof.seen", row_id)

    canvas = WORKFLOWS[params["form"]](one)
    if params.get("bad"):
        canvas = group(canvas, signature("proof.missing"))
    handle = request.defer_task(canvas)
    end = params.get("end")
    if end == "abort":
        raise RuntimeError("the view failed after deferring")
    if end == "doom":
        request.tm.doom()
    if end == "veto":
        request.tm.get().join(_Veto())
    return {"row_id": row_id, "ids": handle_ids(handle)}


def defer_retried(request):
    result = request.defer_task("proof.retried", int(request.params["n"]))
    return {"task_id": result.id}


def handle_ids(handle) -> list[str]:
    """The task ids of a workflow's handle, first task first."""
    ids: list[str] = []
    while handle is not None:
        results = getattr(handle, "results", None)
        ids[:0] = [r.id for r in results] if results else [handle.id]
        handle = handle.parent
    return ids


class _Veto:
    """A data manager that refuses to commit: the transaction is vetoed."""

    transaction_manager = None

    def sortKey(self):  # noqa: N802 - the data manager API
        return "~veto"

    def tpc_begin(self, transaction):
        pass

    def commit(self, transaction):
        pass

    def tpc_vote(self, transaction):
        raise RuntimeError("vetoed")

    def abort(self, transaction):
        pass

    tpc_abort = tpc_finish = abort


def insert_and_read(request):
    """Insert a row and defer a task that reads it."""
    value = request.params["value"]
    after_commit = request.params.get("after_commit", "true") == "true"
    row_id = request.dbsession.execute(
        rows.insert().values(value=value).returning(rows.c.id)
    ).scalar()
    zope.sqlalchemy.mark_changed(request.dbsession)
    result = request.defer_task_with_options(
        "proof.read_row", (row_id,), after_commit=after_commit
    )
    request.registry.proof_handles.append(result)
    time.sleep(float(request.registry.settings.get("proof.view_delay", 0)))
    if request.params.get("wait_for_task"):
        # Hold the transaction open until the task has run.
        result.get(timeout=20)
    if request.params.get("fail"):
        raise RuntimeError("the view failed after deferring")
    return {"row_id": row_id, "task_id": result.id}


def defer_record(request):
    """Defer ``proof.record`` for ``n`` (in a transaction with pyramid_tm)."""
    result = request.defer_task("proof.record", int(request.params["n"]))
    request.registry.proof_handles.append(result)
    return {"task_id": result.id, "delivery": result.delivery}


# Application ---------------------------------------------------------


def main(global_config, **settings):
    """Build the proof application from ini ``settings``."""
    config = Configurator(settings=settings)
    config.include("pyramid_tasks")
    config.registry.proof_handles = []
    config.registry.proof_failures = []
    config.add_subscriber(_note_failure, DeferredTaskPublishFailed)
    config.register_task(record, name="proof.record")
    config.add_route("defer", "/defer")
    config.add_view(defer_record, route_name="defer", renderer="json")
    db_url = settings.get("proof.db_url")
    if db_url or asbool(settings.get("proof.tm")):
        config.include("pyramid_tm")
    if db_url:
        _setup_database(config, db_url, settings)
    return config.make_wsgi_app()


def _setup_database(config, db_url: str, settings) -> None:
    config.include("pyramid_tasks.transaction")
    engine = sa.create_engine(db_url, pool_size=2)
    metadata.create_all(engine)
    # The parent keeps this connection in its pool: a forked child that
    # does not dispose the pool would share its socket.
    with engine.begin() as conn:
        backend_pid = conn.execute(sa.text("select pg_backend_pid()"))
        conn.execute(
            parents.insert().values(
                os_pid=os.getpid(), backend_pid=backend_pid.scalar()
            )
        )
    config.registry.proof_engine = engine
    config.add_request_method(_dbsession, "dbsession", reify=True)
    config.register_task(read_row, name="proof.read_row")
    config.register_task(note_connection, name="proof.note_connection")
    config.register_task(seen, name="proof.seen")
    config.register_task(retried, name="proof.retried")
    config.add_route("home", "/")
    config.add_route("rows", "/rows")
    config.add_view(insert_and_read, route_name="rows", renderer="json")
    config.add_route("workflow", "/workflow")
    config.add_view(defer_workflow, route_name="workflow", renderer="json")
    config.add_route("retried", "/retried")
    config.add_view(defer_retried, route_name="retried", renderer="json")
    if asbool(settings.get("proof.dispose_after_fork")):
        config.add_subscriber(dispose_engine, CeleryWorkerProcessInit)


def dispose_engine(event) -> None:
    """Forget the connections inherited from the parent process.

    ``close=False`` leaves the parent's sockets alone: closing them here
    would end the parent's sessions too.
    """
    event.registry.proof_engine.dispose(close=False)


def _note_failure(event) -> None:
    event.registry.proof_failures.append(event)


def _dbsession(request) -> Session:
    session = Session(bind=request.registry.proof_engine)
    zope.sqlalchemy.register(session, transaction_manager=request.tm)
    return session


def _redis(registry) -> redis.Redis:
    client = registry.__dict__.get("proof_redis")
    if client is None:
        client = registry.proof_redis = redis.Redis.from_url(
            registry.settings["proof.redis_url"]
        )
    return client
