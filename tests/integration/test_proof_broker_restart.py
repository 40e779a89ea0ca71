"""Proof 3: a broker restart loses no task silently.

Requests keep deferring tasks (after commit, with pyramid_tm) while a
private Redis broker is stopped and started again. Every task either
reaches the broker, and then a worker runs it, or its publish failure is
reported by a ``DeferredTaskPublishFailed`` event; nothing vanishes.
"""

from __future__ import annotations

import os
import sys
import threading
import time

from celery.contrib.testing.worker import start_worker
import pytest
from webtest import TestApp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import proof_app  # noqa: E402
from proof_support import redis_keys, redis_server, wait_until  # noqa: E402

from services import REDIS_URL, unique  # noqa: E402

pytestmark = pytest.mark.redis

REQUESTS = 40
#: Pause between requests, and how long the broker stays down.
PACE = 0.05
OUTAGE = 1.0


def test_requests_during_a_broker_restart_lose_no_task_silently(capsys):
    queue = unique("q")
    key = f"{queue}:proof"
    with redis_server() as broker, redis_keys(key) as records:
        settings = {
            "celery.broker_url": broker.url,
            "celery.task_default_queue": queue,
            "celery.task_ignore_result": "true",
            "celery.broker_connection_timeout": "0.3",
            "celery.broker_transport_options.socket_timeout": "0.5",
            "celery.task_publish_retry_policy": (
                '{"max_retries": 2, "interval_start": 0,'
                ' "interval_step": 0.1, "interval_max": 0.1}'
            ),
            "proof.tm": "true",
            "proof.redis_url": REDIS_URL,
            "proof.key": key,
        }
        wsgi = proof_app.main({}, **settings)
        registry = wsgi.registry
        app = TestApp(wsgi)
        answered, view_errors = [], []

        def make_requests():
            for n in range(REQUESTS):
                try:
                    answered.append(app.post("/defer", {"n": n}).json)
                except Exception as exc:  # noqa: BLE001 - counted below
                    view_errors.append(exc)
                time.sleep(PACE)

        client = threading.Thread(target=make_requests)
        client.start()
        try:
            wait_until(lambda: len(answered) >= REQUESTS // 4, 20, "requests")
            broker.stop()
            time.sleep(OUTAGE)
            broker.start()
        finally:
            client.join(60)

        handles = registry.proof_handles
        sent = {h.id for h in handles if h.delivery == "sent"}
        failed = {h.id for h in handles if h.delivery == "failed"}
        reported = {event.task_id for event in registry.proof_failures}

        with start_worker(
            registry.celery_app,
            pool="solo",
            perform_ping_check=False,
            shutdown_timeout=20,
        ):
            wait_until(
                lambda: records.scard(f"{key}:arrived") >= len(sent),
                30,
                "the sent tasks to run",
            )
            time.sleep(0.3)  # a task that should not arrive would, now
        arrived = {a.decode() for a in records.smembers(f"{key}:arrived")}

    figures = {
        "requests": REQUESTS,
        "ok": len(sent),
        "errors_reported": len(reported) + len(view_errors),
        "arrived": len(arrived),
        "reported_yet_arrived": len(arrived & failed),
        "vanished": REQUESTS - len(sent) - len(reported) - len(view_errors),
    }
    with capsys.disabled():
        print(f"\nbroker restart: {figures}")
    assert len(handles) + len(view_errors) == REQUESTS
    # The restart was felt: some publishes failed, later ones went through.
    assert failed
    assert sent
    # Every failure was reported, and only failures were.
    assert reported == failed
    assert len(sent) + len(reported) + len(view_errors) == REQUESTS
    # Every task that was sent arrived. A publish cut off by the outage can
    # reach Redis although its reply was lost: such a task is reported
    # failed and still arrives (re-sending it would run it twice), but
    # nothing arrives that was neither sent nor reported.
    assert sent <= arrived
    assert arrived <= sent | failed
