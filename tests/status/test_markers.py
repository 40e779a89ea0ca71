"""Terminal markers for watched tasks that are never sent."""

import logging

from .conftest import make_status_app
from services import free_port, in_transaction


def test_a_waiting_handle_outside_its_transaction_gets_no_marker(
    status_app,
):
    deferring = status_app.tasks.make_request()
    manager = in_transaction(deferring)
    manager.begin()
    handle = deferring.defer_task("gated")
    # Another request, with no transaction of its own, makes the URL.
    other = status_app.tasks.make_request()
    other.task_status_url(handle)
    manager.abort()
    assert handle.delivery == "dropped"
    assert handle.state == "PENDING"


def test_a_marker_the_backend_refuses_is_logged(caplog):
    app = make_status_app(
        **{
            "celery.result_backend": f"redis://127.0.0.1:{free_port()}/0",
            "celery.result_backend_transport_options": (
                '{"retry_policy": {"max_retries": 0}}'
            ),
        }
    )
    request = app.tasks.make_request()
    manager = in_transaction(request)
    manager.begin()
    handle = request.defer_task("gated")
    request.task_status_url(handle)
    with caplog.at_level(logging.WARNING, "pyramid_tasks.status.markers"):
        manager.abort()
    assert f"Task {handle.id} was never sent, and storing its DROPPED" in (
        caplog.text
    )
