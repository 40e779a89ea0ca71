"""The relay: claims rows, sends them over one producer, removes them."""

from datetime import datetime, timedelta, timezone
import threading

from kombu.exceptions import OperationalError
import pytest
import sqlalchemy as sa

from pyramid_tasks import DeferredTaskPublishFailed
from pyramid_tasks.outbox import relay as relay_module
from pyramid_tasks.outbox.payload import decode
from pyramid_tasks.outbox.relay import Relay, RelaySettings, check_database
from pyramid_tasks.testing import worker_thread

from outbox_app import rows
from services import queued


def relay_of(app, **settings):
    return Relay(app.outbox, RelaySettings(**settings))


def test_the_relay_sends_every_row_once_then_removes_it(outbox_app):
    app = outbox_app(broker="redis")
    bodies = [app.testapp.get(f"/items?value=v{n}").json for n in range(5)]
    assert queued(app.celery_app) == 0
    assert relay_of(app, batch_size=2).drain() == 5
    assert rows(app) == [] and queued(app.celery_app) == 5
    with worker_thread(app.celery_app):
        seen = [
            app.celery_app.AsyncResult(body["task_id"]).get(timeout=10)
            for body in bodies
        ]
    assert seen == [f"v{n}" for n in range(5)]


def test_a_workflow_row_is_sent_as_the_workflow(outbox_app):
    app = outbox_app(broker="redis")
    body = app.testapp.get("/items?value=flow&flow=1").json
    relay_of(app).drain()
    with worker_thread(app.celery_app):
        last = app.celery_app.AsyncResult(body["task_id"])
        assert last.get(timeout=10) == "flow"


def test_two_relays_never_claim_the_same_row(outbox_app):
    app = outbox_app()
    for n in range(6):
        app.testapp.get(f"/items?value=v{n}")
    one, two = relay_of(app, batch_size=4), relay_of(app, batch_size=4)
    first, second = one.claim(), two.claim()
    assert len(first) == 4 and len(second) == 2
    assert not {r.id for r in first} & {r.id for r in second}
    assert two.claim() == []


def test_a_claim_lapses_after_its_lease(outbox_app):
    app = outbox_app()
    app.testapp.get("/items?value=leased")
    killed = relay_of(app, lease=0)
    (row,) = killed.claim()
    # The relay died before sending: another one takes the row.
    (again,) = relay_of(app).claim()
    assert again.id == row.id


def test_a_row_that_fails_is_retried_later_and_dies_after_its_attempts(
    outbox_app, monkeypatch
):
    failures = []
    app = outbox_app(
        setup=lambda config: config.add_subscriber(
            failures.append, DeferredTaskPublishFailed
        )
    )
    body = app.testapp.get("/items?value=bad").json
    task = app.celery_app.tasks["record"]

    def refuse(*args, **kwargs):
        raise ValueError("the broker refused it")

    monkeypatch.setattr(task, "apply_async", refuse)
    relay = relay_of(app, max_attempts=2)
    assert relay.relay_once() == 1
    (row,) = rows(app)
    assert (row.attempts, row.dead, row.claimed_until) == (1, False, None)
    assert row.last_error == "ValueError: the broker refused it"
    assert _aware(row.available_at) > datetime.now(timezone.utc)
    assert relay.relay_once() == 0  # not again before its time
    _make_ready(app)
    relay.relay_once()
    (row,) = rows(app)
    assert (row.attempts, row.dead) == (2, True)
    assert [(f.task_id, str(f.exception)) for f in failures] == [
        (body["task_id"], "the broker refused it")
    ]


def test_a_broker_that_is_down_releases_the_rows_uncounted(outbox_app):
    app = outbox_app(
        broker="redis",
        **{
            "celery.broker_url": "redis://127.0.0.1:1/0",
            "celery.broker_connection_timeout": "0.1",
            "celery.task_publish_retry_policy": '{"max_retries": 0}',
        },
    )
    app.testapp.get("/items?value=waiting")
    relay = relay_of(app)
    assert relay.drain() == 1
    assert relay.broker_down == 1
    (row,) = rows(app)
    assert (row.attempts, row.claimed_until) == (0, None)
    assert "OperationalError" in row.last_error
    stop = threading.Event()
    waited = []
    stop.wait = lambda seconds: waited.append(seconds) or stop.set()
    relay.run(stop)
    # Two rounds found it down: 0.5 s, doubled twice.
    assert waited == [2.0]


def test_a_countdown_is_an_eta_fixed_when_deferred(outbox_app):
    app = outbox_app(
        setup=lambda config: (
            config.add_route("later", "/later")
            or config.add_view(_later, route_name="later", renderer="json")
        )
    )
    before = datetime.now(timezone.utc)
    app.testapp.get("/later")
    (row,) = rows(app)
    signature, _ = decode(app.celery_app, row.payload)
    eta = signature.options["eta"]
    assert "countdown" not in signature.options
    assert before + timedelta(seconds=30) <= eta
    assert eta <= datetime.now(timezone.utc) + timedelta(seconds=30)
    assert signature.options["expires"] > eta


def _later(request):
    request.defer_task_with_options("record", (1,), countdown=30, expires=60)
    return {}


def test_the_trace_of_the_request_travels_with_the_row(outbox_app):
    from opentelemetry.sdk.trace import TracerProvider

    app = outbox_app()
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("view") as span:
        app.testapp.get("/items?value=traced")
    (row,) = rows(app)
    signature, _ = decode(app.celery_app, row.payload)
    trace_id = format(span.get_span_context().trace_id, "032x")
    assert trace_id in signature.options["headers"]["traceparent"]


def test_the_relay_stops_when_asked_and_finishes_its_batch(outbox_app):
    app = outbox_app()
    app.testapp.get("/items?value=last")
    stop = threading.Event()
    relay = relay_of(app, poll_interval=0.05)
    thread = threading.Thread(target=relay.run, args=(stop,))
    thread.start()
    _wait_until(lambda: rows(app) == [])
    stop.set()
    thread.join(5)
    assert not thread.is_alive()


def test_the_relay_checks_its_database_and_table_first(outbox_app):
    app = outbox_app(create=False)
    with pytest.raises(RuntimeError, match="does not exist: create it"):
        check_database(app.outbox)
    app.outbox.engine = sa.create_engine(
        "postgresql+psycopg2://nobody:secret@127.0.0.1:1/none"
    )
    with pytest.raises(RuntimeError) as info:
        check_database(app.outbox)
    assert str(info.value).startswith("Cannot reach the outbox database:")
    assert "secret" not in str(info.value)


def _make_ready(app):
    table = app.outbox.table
    with app.engine.begin() as connection:
        connection.execute(
            table.update().values(available_at=datetime.now(timezone.utc))
        )


def _aware(moment):
    # SQLite and MariaDB give back naive UTC times.
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _wait_until(predicate, timeout=10):
    deadline = datetime.now() + timedelta(seconds=timeout)
    while not predicate():
        assert datetime.now() < deadline, "timed out"
        threading.Event().wait(0.05)


def test_publish_errors_of_the_broker_are_not_the_rows_fault(outbox_app):
    app = outbox_app()
    app.testapp.get("/items?value=x")
    relay = relay_of(app)
    (row,) = relay.claim()
    row.delivery, row.error = "failed", OperationalError("down")
    relay.finish([row])
    (stored,) = rows(app)
    assert stored.attempts == 0 and relay.broker_down == 1


def test_a_full_batch_is_followed_at_once_by_the_next(outbox_app, monkeypatch):
    app = outbox_app()
    for n in range(3):
        app.testapp.get(f"/items?value=v{n}")
    stop = threading.Event()
    relay = relay_of(app, batch_size=1, poll_interval=60)
    waits = []

    class Waiter:
        def wait(self, timeout, stop_event):
            waits.append(timeout)
            stop_event.set()

        def close(self):
            pass

    monkeypatch.setattr(relay_module, "waiter_for", lambda outbox: Waiter())
    relay.run(stop)
    # Three full batches in a row, then one empty round that waits.
    assert rows(app) == [] and waits == [60]


def test_a_relay_dying_between_send_and_delete_sends_again(outbox_app):
    app = outbox_app(broker="redis")
    ids = [
        app.testapp.get(f"/items?value=v{n}").json["task_id"] for n in range(3)
    ]
    dying = relay_of(app, lease=0)
    dying.publisher.publish_batch(dying.claim())
    # It dies here, its rows sent but not deleted. Once its lease is over
    # another relay sends them again: delivery is at least once.
    assert len(rows(app)) == 3
    assert relay_of(app).drain() == 3
    assert rows(app) == []
    with app.celery_app.connection() as connection:
        queue = connection.SimpleQueue(app.celery_app.conf.task_default_queue)
        sent = [queue.get(timeout=1).headers["id"] for _ in range(6)]
        queue.close()
    assert sorted(sent) == sorted(ids * 2)
