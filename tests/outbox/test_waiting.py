"""How a relay waits: NOTIFY on PostgreSQL, a timer elsewhere."""

import threading
import time
from types import SimpleNamespace

import pytest
from webtest import TestApp

from pyramid_tasks.outbox.waiting import Notifications, Timer, waiter_for

from outbox_app import configure, metadata
from services import private_database


@pytest.fixture
def postgresql_app(tmp_path):
    with private_database("postgresql", str(tmp_path)) as url:
        config, engine = configure(url)
        config.commit()
        metadata.create_all(engine)
        outbox = config.registry.celery_app.outbox
        outbox.tables.metadata.create_all(engine)
        yield SimpleNamespace(
            outbox=outbox, testapp=TestApp(config.make_wsgi_app())
        )
        engine.dispose()


def test_on_postgresql_a_commit_wakes_the_relay_at_once(postgresql_app):
    app = postgresql_app
    waiter = waiter_for(app.outbox)
    assert isinstance(waiter, Notifications)
    try:
        stop = threading.Event()
        timer = threading.Timer(
            0.3, lambda: app.testapp.get("/items?value=wake")
        )
        started = time.monotonic()
        timer.start()
        waiter.wait(10, stop)
        woke_after = time.monotonic() - started
        timer.join()
        assert 0.3 <= woke_after < 5
        # Nothing more: the next wait lasts its timeout, or its stop.
        started = time.monotonic()
        waiter.wait(0.5, stop)
        assert time.monotonic() - started >= 0.5
        stop.set()
        started = time.monotonic()
        waiter.wait(10, stop)
        assert time.monotonic() - started < 1
    finally:
        waiter.close()


def test_elsewhere_the_relay_waits_its_interval_or_its_stop(tmp_path):
    with private_database("sqlite", str(tmp_path)) as url:
        config, engine = configure(url)
        config.commit()
        waiter = waiter_for(config.registry.celery_app.outbox)
        engine.dispose()
    assert isinstance(waiter, Timer)
    stop = threading.Event()
    started = time.monotonic()
    waiter.wait(0.2, stop)
    assert time.monotonic() - started >= 0.2
    stop.set()
    waiter.wait(10, stop)
    waiter.close()
