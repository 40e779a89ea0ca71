"""A small Pyramid app loaded from an ini file by the CLI tests."""

import logging
import os

from pyramid.config import Configurator

log = logging.getLogger(__name__)


def greet(request, who):
    log.info("greeting %s", who)
    return f"{request.registry.settings['greeting']} {who} from {os.getpid()}"


def beat_tick(request, marker_path):
    with open(marker_path, "a") as marker:
        marker.write(f"{request.registry.settings['greeting']}\n")


def main(global_config, **settings):
    with Configurator(settings=settings) as config:
        config.register_task(greet, name="greet")
        config.register_task(beat_tick, name="beat_tick")
        marker = settings.get("beat_marker")
        if marker:
            config.add_periodic_task(0.5, "beat_tick", (marker,), name="tick")
    return config.make_wsgi_app()


def plain(global_config, **settings):
    """An app without pyramid_tasks."""
    with Configurator(settings=settings) as config:
        pass
    return config.make_wsgi_app()


def broken(global_config, **settings):
    raise RuntimeError("this app cannot start")
