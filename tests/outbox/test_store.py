"""Deferred tasks become outbox rows in the request's own transaction."""

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
import transaction

from pyramid_tasks import DeferredTaskDropped, OutboxError
from pyramid_tasks.outbox.payload import decode
from pyramid_tasks.outbox.relay import Relay, RelaySettings
from pyramid_tasks.outbox.table import outbox_metadata
from pyramid_tasks.testing import capture_tasks
from pyramid_tasks.web.states import DROPPED, SENT, STORED

from outbox_app import Veto, items, rows
from services import make_request, queued


def test_a_task_deferred_in_a_view_is_a_row_committed_with_the_data(
    outbox_app,
):
    app = outbox_app()
    body = app.testapp.get("/items?value=first").json
    assert body["delivery"] == STORED
    (row,) = rows(app)
    assert (row.task_id, row.task_name) == (body["task_id"], "record")
    assert (row.attempts, row.dead, row.claimed_until) == (0, False, None)
    signature, options = decode(app.celery_app, row.payload)
    assert signature.task == "record"
    assert tuple(signature.args) == (body["item_id"],)
    assert signature.options["task_id"] == body["task_id"]
    assert options == {}
    # Nothing went to the broker: the request did not wait for it.
    assert queued(app.celery_app) == 0


@pytest.mark.parametrize("end", ["fail", "doom", "veto"])
def test_an_aborted_transaction_leaves_no_row_and_no_message(outbox_app, end):
    dropped = []
    app = outbox_app(
        setup=lambda config: config.add_subscriber(
            dropped.append, DeferredTaskDropped
        )
    )
    if end == "doom":
        app.testapp.get("/items?value=x&doom=1")
    else:
        with pytest.raises(RuntimeError):
            app.testapp.get(f"/items?value=x&{end}=1")
    assert rows(app) == []
    assert queued(app.celery_app) == 0
    (handle,) = app.registry.handles
    assert handle.delivery == DROPPED
    assert [event.task_id for event in dropped] == [handle.id]
    with app.engine.connect() as connection:
        assert connection.execute(items.select()).all() == []


def test_a_workflow_is_one_row_with_its_whole_canvas(outbox_app):
    app = outbox_app()
    body = app.testapp.get("/items?value=flow&flow=1").json
    (row,) = rows(app)
    signature, _ = decode(app.celery_app, row.payload)
    assert [task.task for task in signature.tasks] == ["record", "record"]
    assert signature.tasks[-1].options["task_id"] == body["task_id"]
    (handle,) = app.registry.handles
    assert {h.delivery for h in (handle, handle.parent)} == {STORED}


def test_outside_a_transaction_tasks_are_sent_at_once(outbox_app):
    app = outbox_app()
    request = make_request(app.registry)
    with capture_tasks(app.celery_app) as captured:
        handle = request.defer_task("record", 1)
    assert handle.delivery == SENT
    assert len(captured) == 1 and rows(app) == []


def test_cancelling_a_stored_task_deletes_its_row(outbox_app):
    app = outbox_app()
    app.testapp.get("/items?value=a")
    app.testapp.get("/items?value=b")
    first, second = app.registry.handles
    assert first.cancel() is True
    assert first.delivery == DROPPED and first.cancelled()
    assert [row.task_id for row in rows(app)] == [second.id]
    assert app.outbox.state_of(second.id) == STORED
    assert app.outbox.state_of(first.id) is None


def test_the_status_view_says_stored_until_the_relay_sent_it(outbox_app):
    def status(config):
        config.include("pyramid_tasks.status")
        config.add_route("watch", "/watch/{id}")
        config.add_view(
            lambda request: {
                "url": request.task_status_url(request.matchdict["id"])
            },
            route_name="watch",
            renderer="json",
        )

    app = outbox_app(setup=status, **{"pyramid_tasks.status.secret": "s" * 32})
    body = app.testapp.get("/items?value=a").json
    url = app.testapp.get(f"/watch/{body['task_id']}").json["url"]
    assert app.testapp.get(url).json["state"] == STORED
    Relay(app.outbox, RelaySettings()).drain()
    assert app.testapp.get(url).json["state"] == "queued"


def test_a_session_not_joined_to_the_transaction_is_refused(outbox_app):
    app = outbox_app(
        session=lambda request: Session(bind=request.registry.engine)
    )
    with pytest.raises(OutboxError, match="not joined to the request's"):
        app.testapp.get("/items?value=loose")
    assert rows(app) == []


def test_a_missing_table_is_an_error_naming_it(outbox_app):
    app = outbox_app(create=False)
    with pytest.raises(OutboxError) as info:
        app.testapp.get("/items?value=lost")
    message = str(info.value)
    assert "'pyramid_tasks_outbox'" in message
    assert "ptasks config.ini outbox create" in message
    with app.engine.connect() as connection:
        assert connection.execute(items.select()).all() == []


def test_a_task_deferred_in_a_task_is_stored_in_its_transaction(outbox_app):
    app = outbox_app()
    request = app.celery_app.task_request_factory()
    request.current_task = app.celery_app.tasks["record"]
    manager = transaction.TransactionManager(explicit=True)
    request.environ.update({"tm.active": True, "tm.manager": manager})
    request.tm = manager
    with manager:
        handle = request.defer_task("record", 5)
        assert handle.delivery == STORED
    assert [row.task_id for row in rows(app)] == [handle.id]


def test_a_veto_after_the_database_committed_leaves_the_task_stored(
    outbox_app, monkeypatch
):
    # A data manager voting after SQLAlchemy's: the database has
    # committed the item and the row already; the row is the truth.
    monkeypatch.setattr(Veto, "key", "~~veto")
    app = outbox_app()
    with pytest.raises(RuntimeError, match="vetoed"):
        app.testapp.get("/items?value=late&veto=1")
    (handle,) = app.registry.handles
    assert handle.delivery == STORED
    assert [row.task_id for row in rows(app)] == [handle.id]


def test_another_database_error_is_named_with_the_drivers_words(outbox_app):
    app = outbox_app(create=False)
    # The table is missing, and the outbox cannot even look for it.
    app.outbox.engine = sa.create_engine("sqlite:////nonexistent/dir/x.db")
    with pytest.raises(OutboxError) as info:
        app.testapp.get("/items?value=x")
    message = str(info.value)
    assert message.startswith(
        "Task 'record' cannot be stored in the outbox table "
        "'pyramid_tasks_outbox': "
    )
    assert "create it" not in message


def test_the_tables_have_a_metadata_of_their_own_for_migrations():
    metadata = outbox_metadata("app_outbox")
    assert sorted(metadata.tables) == ["app_outbox", "app_outbox_done"]
    assert metadata is not outbox_metadata("app_outbox")
