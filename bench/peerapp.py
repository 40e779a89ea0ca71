"""The benchmark application for the peer, pyramid-tasks 0.4.

The same routes, views, request methods and no-op tasks as
``benchapp``, written against the peer's API (``config.include`` then
``register_task``). It runs only in the peer's own virtualenv
(``bench/.peer-venv``); its worker is ``celery -A peer_worker worker``.
"""

from __future__ import annotations

from benchapp import (
    DONE,
    NOOP,
    NOOP_STORE,
    _home,
    _now,
    _user,
    noop,
    ready_file_on_worker_ready,
)


def make_config(settings: dict):
    """The peer's benchmark configuration (not committed yet)."""
    from pyramid.config import Configurator

    config = Configurator(settings=settings)
    config.add_route("home", "/")
    config.add_route("item", "/items/{id}")
    config.add_view(_home, route_name="home", renderer="json")
    config.add_view(_home, route_name="item", renderer="json")
    config.add_request_method(_user, "user", reify=True)
    config.add_request_method(_now, "now")
    config.include("pyramid_tasks")
    config.register_task(noop, name=NOOP, ignore_result=True)
    config.register_task(noop, name=NOOP_STORE, ignore_result=False)
    config.register_task(noop, name=DONE, ignore_result=False)
    return config


def main(global_config, **settings):
    """Paste entry point: ``use = call:peerapp:main``."""
    ready_file_on_worker_ready()
    config = make_config(settings)
    return config.make_wsgi_app()
