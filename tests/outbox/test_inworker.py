"""The relay in the worker's main process."""

from pyramid_tasks import CeleryWorkerReady, CeleryWorkerShutdown
from pyramid_tasks.testing import worker_thread

from outbox_app import rows


def test_a_worker_can_run_the_relay_itself(outbox_app):
    app = outbox_app(
        broker="redis",
        **{
            "pyramid_tasks.outbox.in_worker": "true",
            "pyramid_tasks.outbox.poll_interval": "0.05",
        },
    )
    body = app.testapp.get("/items?value=inside").json
    app.registry.notify(CeleryWorkerReady(app.registry))
    try:
        with worker_thread(app.celery_app):
            result = app.celery_app.AsyncResult(body["task_id"])
            assert result.get(timeout=10) == "inside"
    finally:
        app.registry.notify(CeleryWorkerShutdown(app.registry))
    thread, _ = app.outbox.relay_thread
    assert not thread.is_alive()
    assert rows(app) == []


def test_without_the_setting_the_worker_runs_no_relay(outbox_app):
    app = outbox_app()
    app.registry.notify(CeleryWorkerReady(app.registry))
    app.registry.notify(CeleryWorkerShutdown(app.registry))
    assert not hasattr(app.outbox, "relay_thread")
