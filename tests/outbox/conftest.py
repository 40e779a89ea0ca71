"""Fixtures: an application with an outbox on each database."""

from types import SimpleNamespace

import pytest
from webtest import TestApp

from outbox_app import configure, metadata
from services import DATABASES, private_database


@pytest.fixture(params=DATABASES)
def database(request, tmp_path):
    """The URL of a private database of each kind."""
    with private_database(request.param, str(tmp_path)) as url:
        yield url


@pytest.fixture
def outbox_app(database):
    """``outbox_app(broker="memory", setup=None, create=True, **settings)``:
    the app, its WebTest client, its outbox, its engine."""
    engines = []

    def build(broker="memory", setup=None, create=True, **settings):
        config, engine = configure(database, broker, setup, **settings)
        engines.append(engine)
        wsgi = config.make_wsgi_app()
        celery_app = config.registry.celery_app
        outbox = celery_app.outbox
        metadata.create_all(engine)
        if create:
            outbox.tables.metadata.create_all(engine)
        return SimpleNamespace(
            config=config,
            registry=config.registry,
            celery_app=celery_app,
            outbox=outbox,
            engine=engine,
            testapp=TestApp(wsgi),
            url=database,
        )

    yield build
    for engine in engines:
        engine.dispose()
