"""A plain Celery worker whose module builds the same Pyramid app itself.

This is what an application does without pyramid_tasks: load the ini
with ``pyramid.paster`` and keep the app around for its tasks, so
Pyramid's own import and configuration cost is in the worker as well.
"""

import os

from benchapp import (
    DONE,
    NOOP,
    NOOP_STORE,
    make_config,
    ready_file_on_worker_ready,
)
from celery import Celery


def plain_celery(settings: dict) -> Celery:
    """A plain Celery app with the benchmark's tasks."""
    app = Celery("plain_pyramid", set_as_current=False)
    app.conf.update(
        broker_url=settings.get("celery.broker_url"),
        result_backend=settings.get("celery.result_backend"),
        task_default_queue=settings.get("celery.task_default_queue", "celery"),
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
    )

    @app.task(name=NOOP, ignore_result=True, shared=False)
    def noop():
        """Do nothing."""

    @app.task(name=NOOP_STORE, ignore_result=False, shared=False)
    def noop_store():
        """Do nothing, store the result."""

    @app.task(name=DONE, ignore_result=False, shared=False)
    def done():
        """Mark the end of a drained batch."""

    return app


if "BENCH_INI" in os.environ:
    from pyramid.paster import get_appsettings

    settings = get_appsettings(os.environ["BENCH_INI"])
    wsgi_app = make_config(dict(settings), pyramid_tasks=False).make_wsgi_app()
    app = plain_celery(
        {
            "celery.broker_url": os.environ["BENCH_BROKER_URL"],
            "celery.result_backend": os.environ["BENCH_RESULT_URL"],
        }
    )
    ready_file_on_worker_ready()
