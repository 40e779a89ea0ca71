"""Proof 1: tasks follow the request's transaction.

pyramid_tm + zope.sqlalchemy + PostgreSQL behind a real WSGI app
(WebTest), Redis as broker and a real Celery worker consuming from it.
"""

from __future__ import annotations

import contextlib
import os
import sys

from celery.contrib.testing.worker import start_worker
import pytest
import sqlalchemy as sa
from webtest import TestApp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import proof_app  # noqa: E402
from proof_support import private_database, redis_keys  # noqa: E402

from services import REDIS_URL, broker_settings  # noqa: E402

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

#: Requests made by the main proof.
REQUESTS = 50


@pytest.fixture
def db_url():
    with private_database() as url:
        yield url


@pytest.fixture
def proof(db_url):
    """Build the proof app on Redis and a private database.

    Returns ``(wsgi_app, TestApp, redis_client, key_prefix)``; the keys
    under the prefix and the engine go at teardown.
    """
    with contextlib.ExitStack() as stack:

        def build(**settings):
            all_settings = broker_settings("redis")
            prefix = all_settings[
                "celery.broker_transport_options.global_keyprefix"
            ]
            all_settings.update(
                {
                    "celery.result_backend_transport_options"
                    ".global_keyprefix": prefix,
                    "proof.db_url": db_url,
                    "proof.redis_url": REDIS_URL,
                    "proof.key": prefix + "proof",
                }
            )
            all_settings.update(settings)
            client = stack.enter_context(redis_keys(prefix))
            wsgi = proof_app.main({}, **all_settings)
            stack.callback(wsgi.registry.proof_engine.dispose)
            return wsgi, TestApp(wsgi), client, prefix

        yield build


def _worker(celery_app):
    return start_worker(
        celery_app,
        pool="threads",
        concurrency=2,
        perform_ping_check=False,
        shutdown_timeout=20,
    )


def test_task_deferred_after_an_insert_always_sees_the_row(proof):
    wsgi, app, _, _ = proof(**{"proof.view_delay": "0.01"})
    celery_app = wsgi.registry.celery_app
    with _worker(celery_app):
        bodies = [
            app.post("/rows", {"value": f"row {i}"}).json
            for i in range(REQUESTS)
        ]
        seen = [
            celery_app.AsyncResult(body["task_id"]).get(timeout=30)
            for body in bodies
        ]
    assert seen == [f"row {i}" for i in range(REQUESTS)]
    assert {h.delivery for h in wsgi.registry.proof_handles} == {"sent"}


def test_task_sent_at_once_runs_before_the_commit_and_misses_the_row(proof):
    # The control: the race the default prevents is real. The view waits
    # for the task before its transaction commits, as a slow view would.
    wsgi, app, _, _ = proof()
    celery_app = wsgi.registry.celery_app
    params = {"value": "early", "after_commit": "false", "wait_for_task": "1"}
    with _worker(celery_app):
        body = app.post("/rows", params).json
        seen = celery_app.AsyncResult(body["task_id"]).get(timeout=30)
    assert seen is None


def test_task_deferred_by_a_failing_view_is_never_published(proof):
    wsgi, app, redis_client, prefix = proof()
    queue_key = prefix + wsgi.registry.celery_app.conf.task_default_queue
    for _ in range(5):
        with pytest.raises(RuntimeError, match="failed after deferring"):
            app.post("/rows", {"value": "rolled back", "fail": "1"})
    assert redis_client.llen(queue_key) == 0
    handles = wsgi.registry.proof_handles
    assert [h.delivery for h in handles] == ["dropped"] * 5
    # The same key fills up when the view succeeds: the check above
    # looks where the message would be.
    app.post("/rows", {"value": "kept"})
    assert redis_client.llen(queue_key) == 1
    with wsgi.registry.proof_engine.connect() as conn:
        values = conn.execute(sa.select(proof_app.rows.c.value)).scalars()
        assert list(values) == ["kept"]
