"""Commit-aware delivery through a real WSGI app with pyramid_tm."""

import pytest

from pyramid_tasks import DeferredTaskDropped, TaskSerializationError
from pyramid_tasks.web.states import DROPPED, SENT, WAITING

from services import in_transaction, make_request, queued


def test_tasks_wait_for_commit_then_are_sent(web):
    testapp, app = web.build()
    response = testapp.get("/defer?count=3")
    assert response.text == ",".join([WAITING] * 3)
    assert [h.delivery for h in web.handles] == [SENT] * 3
    assert queued(app) == 3


def test_the_task_id_is_known_before_commit(web):
    testapp, app = web.build()
    testapp.get("/defer")
    (handle,) = web.handles
    assert handle.id
    with app.connection() as conn:
        message = conn.SimpleQueue(app.conf.task_default_queue).get(timeout=1)
        assert message.headers["id"] == handle.id


def test_tasks_are_dropped_when_the_view_raises(web):
    dropped = []
    testapp, app = web.build(
        lambda config: config.add_subscriber(
            dropped.append, DeferredTaskDropped
        )
    )
    with pytest.raises(RuntimeError):
        testapp.get("/defer?count=2&fail=1")
    assert [h.delivery for h in web.handles] == [DROPPED] * 2
    assert [event.task_id for event in dropped] == [h.id for h in web.handles]
    assert queued(app) == 0


def test_tasks_are_dropped_when_the_transaction_is_doomed(web):
    testapp, app = web.build()
    testapp.get("/defer?doom=1")
    assert [h.delivery for h in web.handles] == [DROPPED]
    assert queued(app) == 0


def test_after_commit_false_sends_at_once(web):
    testapp, app = web.build()
    response = testapp.get("/defer?immediate=1")
    assert response.text == SENT
    assert queued(app) == 1


def test_the_setting_turns_commit_awareness_off(web):
    testapp, app = web.build(**{"pyramid_tasks.after_commit": "false"})
    with pytest.raises(RuntimeError):
        testapp.get("/defer?fail=1")
    assert [h.delivery for h in web.handles] == [SENT]
    assert queued(app) == 1


def test_without_a_transaction_tasks_are_sent_at_once(web):
    testapp, app = web.build()
    request = make_request(app.registry)
    assert request.defer_task(web.noop, 1).delivery == SENT
    assert queued(app) == 1


def test_an_active_flag_without_a_manager_sends_at_once(web):
    testapp, app = web.build()
    request = make_request(app.registry)
    request.environ["tm.active"] = True
    assert request.defer_task(web.noop, 1).delivery == SENT


def test_serialization_is_checked_before_waiting_for_commit(web):
    testapp, app = web.build()
    request = make_request(app.registry)
    manager = in_transaction(request, explicit=True)
    with manager:
        with pytest.raises(TaskSerializationError, match="argument 'n'"):
            request.defer_task(web.noop, object())
        handle = request.defer_task(web.noop, 1)
        assert handle.delivery == WAITING
    assert handle.delivery == SENT
    assert queued(app) == 1


def test_a_vetoed_commit_drops_the_batch(web):
    testapp, app = web.build()
    request = make_request(app.registry)
    manager = in_transaction(request, explicit=True)

    class VetoingManager:
        def sortKey(self):  # noqa: N802 - the data manager API
            return "vetoing"

        def tpc_begin(self, txn):
            pass

        def commit(self, txn):
            raise RuntimeError("commit failed")

        def abort(self, txn):
            pass

        tpc_abort = abort

    manager.begin()
    handle = request.defer_task(web.noop, 1)
    manager.get().join(VetoingManager())
    with pytest.raises(RuntimeError, match="commit failed"):
        manager.commit()
    manager.abort()
    assert handle.delivery == DROPPED
    assert queued(app) == 0


def test_a_cancelled_handle_is_not_sent_with_its_batch(web):
    testapp, app = web.build()
    request = make_request(app.registry)
    manager = in_transaction(request, explicit=True)
    with manager:
        kept = request.defer_task(web.noop, 1)
        cancelled = request.defer_task(web.noop, 2)
        assert cancelled.cancel() is True
    assert (kept.delivery, cancelled.delivery) == (SENT, DROPPED)
    assert queued(app) == 1


def test_an_aborted_batch_drops_what_was_not_cancelled_already(web):
    dropped = []
    testapp, app = web.build(
        lambda config: config.add_subscriber(
            dropped.append, DeferredTaskDropped
        )
    )
    request = make_request(app.registry)
    manager = in_transaction(request, explicit=True)
    manager.begin()
    kept = request.defer_task(web.noop, 1)
    cancelled = request.defer_task(web.noop, 2)
    cancelled.cancel()
    manager.abort()
    assert (kept.delivery, cancelled.delivery) == (DROPPED, DROPPED)
    # A cancelled handle is dropped silently.
    assert [event.task_id for event in dropped] == [kept.id]
