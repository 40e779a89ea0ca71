"""Shared fixtures: a configurator, Celery apps on real brokers, workers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
import contextlib
import os
import sys

from celery.contrib.testing.worker import start_worker
from celery.worker import state
from pyramid import testing
from pyramid.config import Configurator
from pyramid.request import Request, apply_request_extensions
import pytest

sys.path.insert(0, os.path.dirname(__file__))

from services import broker_settings  # noqa: E402

BROKERS = ["memory", "redis", "amqp"]


@pytest.fixture
def config() -> Iterator[Configurator]:
    """A non-autocommitting configurator with pyramid_tasks included."""
    config = testing.setUp(
        autocommit=False, settings=broker_settings("memory")
    )
    config.include("pyramid_tasks")
    yield config
    testing.tearDown()


def make_request(registry, path: str = "/", **environ) -> Request:
    """A request as the router would make it, extensions applied."""
    request = Request.blank(path, environ)
    request.registry = registry
    apply_request_extensions(request)
    return request


@pytest.fixture(params=BROKERS)
def broker(request) -> str:
    """Each broker kind in turn: in-memory, Redis and RabbitMQ."""
    return request.param


@pytest.fixture
def make_app() -> Callable:
    """Build a configured app: ``make_app(setup, broker=..., **settings)``."""

    def make(
        setup: Callable | None = None, broker: str = "memory", **settings
    ):
        all_settings = broker_settings(broker)
        all_settings.update(settings)
        config = Configurator(settings=all_settings)
        config.include("pyramid_tasks")
        if setup is not None:
            setup(config)
        celery_app = config.make_celery_app()
        return config, celery_app

    return make


@contextlib.contextmanager
def running_worker(celery_app, **kwargs):
    """Celery's embedded test worker, in a thread, stopped on exit."""
    kwargs.setdefault("pool", "solo")
    kwargs.setdefault("perform_ping_check", False)
    kwargs.setdefault("shutdown_timeout", 20)
    if _WAKE not in celery_app.tasks:
        celery_app.task(name=_WAKE, shared=False, lazy=False)(_wake)
    with start_worker(celery_app, **kwargs) as worker:
        try:
            yield worker
        finally:
            # The worker checks for shutdown between messages; a ping wakes
            # it at once instead of after its poll timeout.
            state.should_terminate = 0
            celery_app.send_task(_WAKE, ignore_result=True)


_WAKE = "tests.wake_worker"


def _wake():
    """A no-op message that makes the worker notice it should stop."""
