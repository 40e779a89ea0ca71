"""Periodic tasks: ``celery -A pyramid_tasks beat --ini config.ini``.

Beat sends ``record_tick`` every few seconds and on a crontab schedule; a
worker runs it with a Pyramid request, and the task appends one line per
run to a file, so you can watch it work with ``tail -f ticks.log``.
"""

from datetime import datetime, timezone
import os

from celery.schedules import crontab
from pyramid.config import Configurator

DEFAULT_BROKER_URL = "sqla+sqlite:///ticker.sqlite"


def configure(settings=None):
    """Create the Pyramid configuration with two periodic tasks.

    Settings: ``ticker.interval`` (seconds, default 5), ``ticker.crontab``
    (five crontab fields, default every minute), ``ticker.path`` (default
    ``ticks.log``). The broker is ``BROKER_URL`` when not set, else a
    SQLite file in the current directory.
    """
    settings = dict(settings or {})
    settings.setdefault(
        "celery.broker_url", os.environ.get("BROKER_URL", DEFAULT_BROKER_URL)
    )
    # Nobody reads the ticks' return values.
    settings.setdefault("celery.task_ignore_result", "true")
    interval = float(settings.setdefault("ticker.interval", "5"))
    fields = settings.setdefault("ticker.crontab", "* * * * *").split()
    settings.setdefault("ticker.path", "ticks.log")

    config = Configurator(settings=settings)
    config.include("pyramid_tasks")
    config.register_task(record_tick)
    config.add_periodic_task(
        interval, record_tick, args=("interval",), name="tick every interval"
    )
    minute, hour, day_of_month, month_of_year, day_of_week = fields
    config.add_periodic_task(
        crontab(minute, hour, day_of_week, day_of_month, month_of_year),
        record_tick,
        args=("crontab",),
        name="tick on crontab",
    )
    return config


def main(global_config, **settings):
    """Return the WSGI app (it has no views): what ``--ini`` loads."""
    return configure(settings).make_wsgi_app()


def record_tick(request, schedule):
    """Append ``<UTC time> <schedule>`` to the ticks file."""
    path = request.registry.settings["ticker.path"]
    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    with open(path, "a") as ticks:
        ticks.write(f"{now} {schedule}\n")
