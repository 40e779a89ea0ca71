"""Applications and workers for tests: in memory, private, real.

:func:`make_tasks_app` configures an application on an in-memory broker
and result store with a queue of its own; :func:`worker_thread` runs a
real Celery worker for it in a thread. The pytest plugin
:mod:`pytest_pyramid_tasks` (registered by the ``pytest11`` entry point)
turns these into fixtures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import contextlib
from functools import cached_property
from typing import Any
import uuid

from celery.contrib.testing.worker import start_worker
from celery.worker import state
from pyramid.config import Configurator
from pyramid.request import Request, apply_request_extensions

__all__ = ["TasksApp", "make_tasks_app", "memory_settings", "worker_thread"]


def memory_settings(**settings: Any) -> dict[str, Any]:
    """Settings for an in-memory broker and result store, with a queue
    name private to the caller, updated with ``settings``."""
    result = {
        "celery.broker_url": "memory://",
        "celery.result_backend": "cache+memory://",
        "celery.task_default_queue": f"pyramid_tasks_{uuid.uuid4().hex}",
        # A worker in a thread then notices messages and stops at once.
        "celery.broker_transport_options.polling_interval": "0.05",
    }
    result.update(settings)
    return result


class TasksApp:
    """A configured application for tests.

    :ivar config: the committed configurator.
    :ivar registry: the application registry.
    :ivar celery_app: the application's Celery app.
    """

    def __init__(self, config: Configurator) -> None:
        self.config = config
        self.celery_app = config.make_celery_app()
        self.registry = config.registry

    @cached_property
    def wsgi_app(self) -> Any:
        """The WSGI application, made on first use."""
        return self.config.make_wsgi_app()

    def make_request(self, path: str = "/", **environ: Any) -> Request:
        """A request as the router makes it, request methods included."""
        request = Request.blank(path, environ)
        request.registry = self.registry
        apply_request_extensions(request)
        return request


def make_tasks_app(
    setup: Callable[[Configurator], Any] | None = None, **settings: Any
) -> TasksApp:
    """Configure an application with pyramid_tasks on an in-memory broker.

    :param setup: called with the configurator to include the
        application's own configuration.
    :param settings: settings over :func:`memory_settings`.
    """
    config = Configurator(settings=memory_settings(**settings))
    config.include("pyramid_tasks")
    if setup is not None:
        setup(config)
    return TasksApp(config)


@contextlib.contextmanager
def worker_thread(celery_app: Any, **options: Any) -> Iterator[Any]:
    """A real Celery worker consuming in a thread, stopped on exit.

    Celery's :func:`~celery.contrib.testing.worker.start_worker` with the
    solo pool; ``options`` override its arguments.
    """
    options.setdefault("pool", "solo")
    options.setdefault("perform_ping_check", False)
    options.setdefault("shutdown_timeout", 20)
    if _WAKE not in celery_app.tasks:
        celery_app.task(name=_WAKE, shared=False, lazy=False)(_wake)
    with start_worker(celery_app, **options) as worker:
        try:
            yield worker
        finally:
            # The worker looks for the stop flag between messages, then
            # waits for one more: two messages make it stop now rather
            # than after two poll timeouts.
            state.should_terminate = 0
            for _ in range(2):
                celery_app.send_task(_WAKE, ignore_result=True)


_WAKE = "pyramid_tasks.testing.wake"


def _wake() -> None:
    """A message that only wakes the worker up."""
