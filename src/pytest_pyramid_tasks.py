"""pytest plugin of pyramid_tasks, registered by the ``pytest11`` entry point.

It lives outside the package and imports :mod:`pyramid_tasks.testing`
only when a fixture is used: pytest loads plugins before coverage
starts, and an early import would hide pyramid_tasks from coverage.

Fixtures: ``tasks_settings`` and ``tasks_setup`` (override them in a
``conftest.py``), ``tasks_app``, ``captured_tasks``, ``inline_tasks`` and
``tasks_worker``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import importlib.util
from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Let Pyramid's static views serve pyramid_tasks' own files.

    pytest rewrites the modules of every distribution that brings a
    plugin, so this package's loader is pytest's rewriting hook, which
    pkg_resources (Pyramid's static views read package files with it)
    does not know; ``pyramid_tasks:static/progress.js`` would fail to
    serve in a WebTest test. The package's files are plain files, as
    for any source loader.
    """
    import pkg_resources

    spec = importlib.util.find_spec("pyramid_tasks")
    if spec is not None and spec.loader is not None:
        pkg_resources.register_loader_type(
            type(spec.loader), pkg_resources.DefaultProvider
        )


@pytest.fixture
def tasks_settings() -> dict[str, Any]:
    """Settings of ``tasks_app``: an in-memory broker and result store.

    Override it to add the application's own settings.
    """
    from pyramid_tasks.testing import memory_settings

    return memory_settings()


@pytest.fixture
def tasks_setup() -> Callable[[Any], Any] | None:
    """Called with the configurator of ``tasks_app``; override it, e.g.
    with ``lambda config: config.include("myapp")``."""
    return None


@pytest.fixture
def tasks_app(tasks_settings: Any, tasks_setup: Any) -> Any:
    """The application (:class:`pyramid_tasks.testing.TasksApp`)."""
    from pyramid.config import Configurator

    from pyramid_tasks.testing import TasksApp

    config = Configurator(settings=dict(tasks_settings))
    config.include("pyramid_tasks")
    if tasks_setup is not None:
        tasks_setup(config)
    return TasksApp(config)


@pytest.fixture
def captured_tasks(tasks_app: Any) -> Iterator[Any]:
    """Tasks deferred by ``tasks_app`` are recorded, not sent."""
    from pyramid_tasks.testing import capture_tasks

    with capture_tasks(tasks_app.celery_app) as captured:
        yield captured


@pytest.fixture
def inline_tasks(tasks_app: Any) -> Iterator[Any]:
    """Tasks deferred by ``tasks_app`` run once their request finished."""
    from pyramid_tasks.testing import capture_tasks

    with capture_tasks(tasks_app.celery_app, inline=True) as captured:
        yield captured


@pytest.fixture
def tasks_worker(tasks_app: Any) -> Iterator[Any]:
    """A real Celery worker for ``tasks_app``, consuming in a thread."""
    from pyramid_tasks.testing import worker_thread

    with worker_thread(tasks_app.celery_app) as worker:
        yield worker
