"""idempotent=True: a task id delivered twice runs once."""

from pyramid.config import Configurator
from pyramid.exceptions import ConfigurationError
import pytest
import sqlalchemy as sa
import zope.sqlalchemy

from pyramid_tasks.testing import worker_thread

from outbox_app import items
from services import broker_settings, unique


def add_item(request, value):
    """Effects in the outbox's database: an item."""
    request.dbsession.execute(items.insert().values(value=value))
    zope.sqlalchemy.mark_changed(request.dbsession)
    return value


def setup(config):
    config.register_task(add_item, name="add_item", idempotent=True)


def test_a_repeated_delivery_of_a_task_id_does_nothing(outbox_app):
    app = outbox_app(broker="redis", setup=setup)
    task = app.celery_app.tasks["add_item"]
    assert task.derivers == ["transaction", "idempotent"]
    # Ids of this run: results from other runs live in the same Redis.
    same, other_id = unique("same"), unique("other")
    with worker_thread(app.celery_app):
        first = task.apply_async(("once",), task_id=same)
        assert first.get(timeout=10) == "once"
        again = task.apply_async(("twice",), task_id=same)
        other = task.apply_async(("other",), task_id=other_id)
        assert other.get(timeout=10) == "other"
    with app.engine.connect() as connection:
        values = connection.execute(sa.select(items.c.value)).scalars()
        assert sorted(values) == ["once", "other"]
        done = app.outbox.tables.done
        ids = connection.execute(sa.select(done.c.task_id)).scalars()
        assert sorted(ids) == sorted([same, other_id])
    # The repeat left the first run's result alone.
    assert again.get(timeout=1) == "once"


def failing(request):
    request.dbsession.execute(items.insert().values(value="rolled back"))
    raise ValueError("failed")


def test_a_failed_run_leaves_no_record_and_runs_again(outbox_app):
    app = outbox_app(
        setup=lambda config: config.register_task(
            failing, name="failing", idempotent=True
        )
    )
    task = app.celery_app.tasks["failing"]
    task_id = unique("failing")
    for _ in range(2):
        assert task.apply(task_id=task_id).failed()
    with app.engine.connect() as connection:
        done = app.outbox.tables.done
        assert connection.execute(sa.select(done)).all() == []


def test_idempotent_tasks_need_the_transaction_deriver():
    config = Configurator(settings=broker_settings("memory"))
    config.include("pyramid_tasks")
    config.include("pyramid_tasks.outbox")
    config.set_task_outbox(lambda request: None)
    config.register_task(add_item, name="add_item", idempotent=True)
    with pytest.raises(ConfigurationError, match="pyramid_tasks.transaction"):
        config.commit()
