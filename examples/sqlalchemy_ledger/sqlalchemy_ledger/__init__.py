"""A ledger in a SQL database, totalled by a Celery task.

Views and tasks share ``request.dbsession``; pyramid_tm commits the
request's work, ``pyramid_tasks.transaction`` commits each task's, and a
task deferred by a view is sent only once the view's transaction has
committed.

With no server at all the data, the broker (kombu's SQLAlchemy transport)
and the results (Celery's database backend) all live in one SQLite file.
"""

import os
import secrets

from pyramid.config import Configurator

DEFAULT_DATABASE_URL = "sqlite:///ledger.sqlite"


def configure(settings=None):
    """Create the Pyramid configuration of the ledger.

    Each setting not given here (or in an ini file) comes from the
    environment: ``sqlalchemy.url`` from ``DATABASE_URL`` (default: the
    SQLite file ``ledger.sqlite`` in the current directory),
    ``celery.broker_url`` from ``BROKER_URL`` (default: the database) and
    ``celery.result_backend`` from ``RESULT_BACKEND`` (default: the
    database). ``pyramid_tasks.status.secret`` comes from
    ``STATUS_SECRET``, else it is a random one for this process: only the
    web app signs status URLs.
    """
    settings = dict(settings or {})
    database_url = settings.setdefault(
        "sqlalchemy.url", os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    )
    settings.setdefault(
        "celery.broker_url",
        os.environ.get("BROKER_URL", f"sqla+{database_url}"),
    )
    settings.setdefault(
        "celery.result_backend",
        os.environ.get("RESULT_BACKEND", f"db+{database_url}"),
    )
    settings.setdefault(
        "pyramid_tasks.status.secret",
        os.environ.get("STATUS_SECRET") or secrets.token_urlsafe(32),
    )
    # The page shows the total's progress: store it five times a second.
    settings.setdefault("pyramid_tasks.progress.interval", "0.2")
    config = Configurator(settings=settings)
    config.include("pyramid_tm")
    config.include("pyramid_tasks")
    config.include("pyramid_tasks.transaction")
    config.include("pyramid_tasks.status")
    config.include(".broker")
    config.include(".models")
    config.include(".views")
    config.include(".page")
    config.include(".tasks")
    return config


def main(global_config, **settings):
    """Return the WSGI app, for ``pserve config.ini``."""
    return configure(settings).make_wsgi_app()


def application():
    """Return the WSGI app, configured from the environment."""
    return configure().make_wsgi_app()
