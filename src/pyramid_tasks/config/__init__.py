"""Configuration time: the directives and the actions they register.

Settings (:mod:`.settings`), the Celery app (:mod:`.celeryapp`), tasks
(:mod:`.tasks`) and their derivers (:mod:`.derivers`), periodic tasks
(:mod:`.periodic`) and those declared in the ini (:mod:`.schedules`), and
the request context (:mod:`.context`). Nothing here runs per request or
per task.
"""

from typing import Any

from ..web.request import (
    defer_task,
    defer_task_with_options,
    get_task_result,
    map_task,
    task_signature,
)
from ..worker.progress import report_progress
from ..worker.signals import connect_worker_signals
from .celeryapp import configure_celery_app, make_celery_app, set_celery_app
from .context import add_task_context, configure_task_context
from .derivers import add_task_deriver
from .periodic import add_periodic_task
from .schedules import configure_ini_schedules
from .tasks import register_task


def includeme(config: Any) -> None:
    """Add the directives, the request methods and the defaults.

    ``config.include("pyramid_tasks")`` includes this.
    """
    config.add_directive("set_celery_app", set_celery_app)
    config.add_directive("make_celery_app", make_celery_app)
    config.add_directive("register_task", register_task)
    config.add_directive("add_task_deriver", add_task_deriver)
    config.add_directive("add_periodic_task", add_periodic_task)
    config.add_directive("add_task_context", add_task_context)
    config.add_request_method(defer_task, "defer_task")
    config.add_request_method(defer_task, "delay_task")
    config.add_request_method(
        defer_task_with_options, "defer_task_with_options"
    )
    config.add_request_method(get_task_result, "get_task_result")
    config.add_request_method(map_task, "map_task")
    config.add_request_method(task_signature, "task_signature")
    config.add_request_method(report_progress, "report_progress")
    config.set_celery_app()
    configure_celery_app(config)
    configure_task_context(config)
    configure_ini_schedules(config)
    connect_worker_signals()
