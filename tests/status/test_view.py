"""The status view, through WebTest, with a real worker where one runs."""

import logging
import time

import pytest

from pyramid_tasks.exceptions import UnsafeSerializerWarning
from pyramid_tasks.interfaces import ITaskDeliveryState
from pyramid_tasks.status import read_status

from .conftest import GATE, HANDLES, make_status_app

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _get(app, path, status=200):
    response = app.web.get(path, status=status)
    assert response.content_type == "application/json"
    for key, value in NO_STORE.items():
        assert response.headers[key] == value
    return response.json


def _until(app, path, state, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        body = _get(app, path)
        if body["state"] == state:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.02)


def test_a_sent_task_that_no_worker_took_yet_is_queued(status_app):
    task_id, path = status_app.defer(task="gated")
    assert _get(status_app, path) == {
        "id": task_id,
        "state": "queued",
        "progress": None,
    }


def test_progress_then_the_result_of_a_task_that_shows_it(worked_app):
    task_id, path = worked_app.defer(task="gated")
    assert _until(worked_app, path, "progress") == {
        "id": task_id,
        "state": "progress",
        "progress": {"done": 3, "total": 10, "message": "three of ten"},
    }
    GATE.set()
    assert _until(worked_app, path, "success") == {
        "id": task_id,
        "state": "success",
        "progress": None,
        "result": {"total": 42},
    }


def test_the_result_is_hidden_unless_the_task_allows_it(worked_app):
    GATE.set()
    task_id, path = worked_app.defer(task="gated_private")
    body = _until(worked_app, path, "success")
    assert "result" not in body


def test_a_failure_gives_a_short_message_with_passwords_masked(worked_app):
    long = "cannot reach redis://:s3cret@db:6379/0 " + "x" * 300
    task_id, path = worked_app.defer(task="fail", arg=long)
    body = _until(worked_app, path, "failure")
    assert body["error"].startswith(
        "ValueError: cannot reach redis://:**@db:6379/0 xxx"
    )
    assert "s3cret" not in body["error"]
    assert len(body["error"]) == 200
    assert body["error"].endswith("\N{HORIZONTAL ELLIPSIS}")
    assert "Traceback" not in str(body)


def test_a_revoked_task_says_so(status_app):
    task_id, path = status_app.defer(task="gated")
    status_app.tasks.celery_app.backend.mark_as_revoked(task_id, "revoked")
    body = _get(status_app, path)
    assert body["state"] == "revoked"
    assert body["error"].startswith("TaskRevokedError")


def test_an_exception_with_no_message_is_named_alone(status_app):
    backend = status_app.tasks.celery_app.backend
    task_id, path = status_app.defer(task="fail", arg="x")
    backend.mark_as_failure(task_id, KeyError())
    assert _get(status_app, path)["error"] == "KeyError"


def test_a_token_never_issued_or_tampered_with_answers_404(status_app):
    task_id, path = status_app.defer(task="gated")
    prefix, token = path.rsplit("/", 1)
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    for bad in (
        f"{prefix}/{tampered}",
        f"/_tasks/status/other-task/{token}",
    ):
        assert _get(status_app, bad, status=404) == {
            "error": "No such task status."
        }
    # Not even a token's shape: no route matches.
    status_app.web.get(f"{prefix}/short", status=404)


def test_the_request_method_is_get(status_app):
    task_id, path = status_app.defer(task="gated")
    status_app.web.post(path, status=404)
    assert status_app.web.head(path).status_int == 200


class Outbox:
    """A tiny delivery state provider, as an outbox would register."""

    def __init__(self):
        self.stored = set()

    def state_of(self, task_id):
        return "stored" if task_id in self.stored else None


class Silent:
    def state_of(self, task_id):
        return None


def test_delivery_state_providers_answer_for_tasks_the_backend_lacks():
    outbox = Outbox()

    def register(config):
        registry = config.registry
        registry.registerUtility(Silent(), ITaskDeliveryState, name="a")
        registry.registerUtility(outbox, ITaskDeliveryState, name="outbox")

    app = make_status_app(register)
    task_id, path = app.defer(task="gated")
    outbox.stored.add(task_id)
    assert _get(app, path)["state"] == "stored"
    outbox.stored.clear()
    assert _get(app, path)["state"] == "queued"


def test_a_task_dropped_with_its_transaction_is_dropped_not_queued(
    status_app,
):
    with pytest.raises(RuntimeError):
        status_app.defer(task="gated", fail="1")
    (handle,) = HANDLES
    assert handle.delivery == "dropped"
    path = status_app.tasks.make_request().task_status_url(handle.id)
    body = _get(status_app, path.removeprefix("http://localhost"))
    assert body["state"] == "dropped"
    assert body["error"].startswith("The task was never sent")


def test_a_cancelled_handle_is_dropped(status_app):
    task_id, path = status_app.defer(task="gated", cancel="1", twice="1")
    assert _get(status_app, path)["state"] == "dropped"


def test_a_task_whose_publish_failed_after_commit_is_not_sent(free_broker):
    app = make_status_app(**free_broker)
    task_id, path = app.defer(task="gated")
    body = _get(app, path)
    assert body["state"] == "not_sent"
    assert body["error"].startswith("The task was not sent")


@pytest.fixture
def free_broker():
    """A Redis broker where nothing listens, tried once."""
    from services import free_port

    return {
        "celery.broker_url": f"redis://127.0.0.1:{free_port()}/0",
        "celery.task_publish_retry_policy": '{"max_retries": 0}',
        "celery.broker_connection_timeout": "0.5",
    }


def test_a_failing_result_backend_answers_503(caplog):
    from services import free_port

    app = make_status_app(
        **{
            "celery.result_backend": f"redis://127.0.0.1:{free_port()}/0",
            "celery.result_backend_transport_options": (
                '{"retry_policy": {"max_retries": 0}}'
            ),
        }
    )
    request = app.tasks.make_request()
    path = request.task_status_url("some-id").removeprefix("http://localhost")
    with caplog.at_level(logging.WARNING, "pyramid_tasks.status.view"):
        assert _get(app, path, status=503) == {
            "error": "The task's state cannot be read now."
        }
    assert "The status of task some-id could not be read" in caplog.text


def test_read_status_passes_other_states_through(status_app):
    registry = status_app.tasks.registry
    backend = status_app.tasks.celery_app.backend
    backend.store_result("t1", {"pid": 1}, "STARTED")
    assert read_status(registry, "t1") == {
        "id": "t1",
        "state": "started",
        "progress": None,
    }
    backend.store_result("t2", {"percent": 5}, "PROGRESS")
    assert read_status(registry, "t2")["progress"] is None
    backend.store_result("t3", {"stage": "upload"}, "UPLOADING")
    assert read_status(registry, "t3")["state"] == "uploading"
    backend.store_result("t4", [1, 2], "SUCCESS")
    assert read_status(registry, "t4")["state"] == "success"
    assert read_status(registry, "t4", show_result=True)["result"] == [1, 2]


def test_a_result_json_cannot_encode_is_answered_as_text():
    with pytest.warns(UnsafeSerializerWarning):
        app = make_status_app(
            **{
                "celery.result_serializer": "pickle",
                "celery.result_accept_content": "json, pickle",
            }
        )
    backend = app.tasks.celery_app.backend
    request = app.tasks.make_request()
    handle = request.get_task_result("t5")
    handle.task_name = "gated"
    backend.store_result("t5", {1, 2}, "SUCCESS")
    path = request.task_status_url(handle).removeprefix("http://localhost")
    assert _get(app, path)["result"] == "{1, 2}"
