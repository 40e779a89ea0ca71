"""Celery's signals, turned into Pyramid events in the worker."""

import logging

from celery import Celery, current_app, signals
from celery._state import _set_current_app

from pyramid_tasks import (
    CeleryWorkerProcessInit,
    CeleryWorkerReady,
    CeleryWorkerShutdown,
)
from pyramid_tasks.context import TaskContextFilter
from pyramid_tasks.testing import make_tasks_app

from services import EventLog


def test_including_many_times_does_not_pile_up_signal_handlers():
    make_tasks_app()
    count = len(signals.worker_process_init.receivers)
    for _ in range(5):
        make_tasks_app()
    assert len(signals.worker_process_init.receivers) == count


class DummyConsumer:
    def __init__(self, app):
        self.app = app


def test_worker_ready_and_shutdown_events():
    log = EventLog()
    app = make_tasks_app(log.setup((CeleryWorkerReady, CeleryWorkerShutdown)))
    consumer = DummyConsumer(app.celery_app)
    signals.worker_ready.send(sender=consumer)
    signals.worker_ready.send(sender=DummyConsumer(None))
    (ready,) = log.events
    assert isinstance(ready, CeleryWorkerReady)
    assert ready.registry is app.registry and ready.consumer is consumer
    # Sent by a warm shutdown; the embedded test worker stops cold.
    signals.worker_shutdown.send(sender=consumer)
    signals.worker_shutdown.send(sender=DummyConsumer(None))
    assert len(log.events) == 2
    assert isinstance(log.events[-1], CeleryWorkerShutdown)
    assert log.events[-1].registry is app.registry


def test_failures_of_tasks_that_are_not_ours_are_ignored():
    log = EventLog()
    app = make_tasks_app(log.setup())

    def divide():
        return 1 / 0

    def again():
        raise plain_retry.retry(countdown=0, max_retries=1)

    plain = app.celery_app.task(name="plain", shared=False, lazy=False)
    plain(divide).apply()
    make = app.celery_app.task(name="again", shared=False, lazy=False)
    plain_retry = make(again)
    plain_retry.apply()
    assert log.events == []


def test_the_worker_installs_the_log_filter_on_every_handler():
    logger = logging.getLogger("pyramid_tasks.tests.signals")
    handler = logging.NullHandler()
    logger.addHandler(handler)
    try:
        make_tasks_app()
        for _ in range(2):
            signals.celeryd_after_setup.send(sender="worker@host")
        filters = [
            f for f in handler.filters if isinstance(f, TaskContextFilter)
        ]
        assert len(filters) == 1
    finally:
        logger.removeHandler(handler)


def test_process_init_reaches_the_app_the_worker_made_current():
    log = EventLog()
    app = make_tasks_app(log.setup((CeleryWorkerProcessInit,)))
    previous = current_app._get_current_object()
    try:
        # The worker of another Celery app: not ours to announce.
        Celery(set_as_current=False).set_current()
        signals.worker_process_init.send(sender=None)
        assert log.events == []
        app.celery_app.set_current()
        signals.worker_process_init.send(sender=None)
        (event,) = log.events
        assert event.registry is app.registry
    finally:
        _set_current_app(previous)
