"""Shared fixtures: a configurator, Celery apps on real brokers, workers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
import os
import signal
import sys

from pyramid import testing
from pyramid.config import Configurator
import pytest

sys.path.insert(0, os.path.dirname(__file__))

from services import BROKERS, broker_settings  # noqa: E402


@pytest.fixture
def config() -> Iterator[Configurator]:
    """A non-autocommitting configurator with pyramid_tasks included."""
    config = testing.setUp(
        autocommit=False, settings=broker_settings("memory")
    )
    config.include("pyramid_tasks")
    yield config
    testing.tearDown()


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


@pytest.fixture
def sigterm_ignored():
    """SIGTERM does nothing to this process outside the code under test.

    Tests send SIGTERM to their own process to stop a supervisor or a
    relay running in it; one arriving late must not end the test run.
    """

    def ignore(signum, frame):
        pass

    previous = signal.signal(signal.SIGTERM, ignore)
    try:
        yield ignore
    finally:
        signal.signal(signal.SIGTERM, previous)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the long real-process proofs (``test_proof_*`` modules) as
    ``proof``, which ``make matrix-ci`` leaves to ``make test``."""
    for item in items:
        if item.path.name.startswith("test_proof_"):
            item.add_marker(pytest.mark.proof)
