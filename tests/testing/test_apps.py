"""In-memory apps and real worker threads for tests."""

from pyramid_tasks.testing import (
    make_tasks_app,
    memory_settings,
    worker_thread,
)

SENT = []


def send_email(request, user_id):
    SENT.append((request.registry.settings["app.name"], user_id))
    return f"mail to {user_id}"


def setup(config):
    config.register_task(send_email, name="send_email")


def test_worker_thread_runs_tasks_and_stops():
    SENT.clear()
    app = make_tasks_app(setup, **{"app.name": "kit"})
    with worker_thread(app.celery_app) as worker:
        handle = app.make_request().defer_task(send_email, 11)
        assert handle.get(timeout=10) == "mail to 11"
    assert SENT == [("kit", 11)]
    assert worker.blueprint.state == 3  # bootsteps.TERMINATE: stopped


def test_worker_thread_can_run_twice_for_one_app():
    app = make_tasks_app(setup, **{"app.name": "kit"})
    for n in (1, 2):
        with worker_thread(app.celery_app):
            handle = app.make_request().defer_task(send_email, n)
            assert handle.get(timeout=10, interval=0.02) == f"mail to {n}"


def test_memory_settings_are_private_and_extendable():
    one, two = memory_settings(), memory_settings(**{"a": "b"})
    assert one["celery.broker_url"] == "memory://"
    assert one["celery.task_default_queue"] != two["celery.task_default_queue"]
    assert two["a"] == "b"


def test_a_tasks_app_builds_requests_as_the_router_does():
    app = make_tasks_app(
        lambda config: config.add_request_method(
            lambda request: "db", "db", reify=True
        )
    )
    request = app.make_request("/x", HTTP_HOST="example.com:8080")
    assert request.db == "db" and request.registry is app.registry
    assert request.host == "example.com:8080"
    assert app.wsgi_app is app.wsgi_app
