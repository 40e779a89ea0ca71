"""The application the benchmark runs, built the same way on both sides.

``make_config`` builds a small but real Pyramid application (routes,
views, a request method and a reified request property, as most apps
have). With ``pyramid_tasks`` it also includes pyramid_tasks and
registers the benchmark tasks; without it, the plain Celery modules
register the same tasks on a plain Celery app. Every worker touches the
file named by ``BENCH_READY_FILE`` when it is ready, so boot time is
measured the same way everywhere.
"""

from __future__ import annotations

import os
import signal

from celery import signals

NOOP = "bench.noop"
NOOP_STORE = "bench.noop_store"
DONE = "bench.done"


def ready_file_on_worker_ready() -> None:
    """Touch ``$BENCH_READY_FILE`` when the worker is ready."""
    path = os.environ.get("BENCH_READY_FILE")
    if not path:
        return

    def touch(**kwargs):
        with open(path + ".tmp", "w") as fh:
            fh.write(str(os.getpid()))
        os.replace(path + ".tmp", path)
        if os.environ.get("BENCH_EXIT_ON_READY"):
            # Profiling a boot: stop as soon as the worker is ready.
            os.kill(os.getpid(), signal.SIGTERM)

    signals.worker_ready.connect(touch, weak=False, dispatch_uid="bench")


def _home(request):
    return {"user": request.user, "now": request.now()}


def _user(request):
    return "anonymous"


def _now(request):
    return 0


def make_config(settings: dict, pyramid_tasks: bool):
    """The benchmark's Pyramid configuration (not committed yet)."""
    from pyramid.config import Configurator

    config = Configurator(settings=settings)
    config.add_route("home", "/")
    config.add_route("item", "/items/{id}")
    config.add_view(_home, route_name="home", renderer="json")
    config.add_view(_home, route_name="item", renderer="json")
    config.add_request_method(_user, "user", reify=True)
    config.add_request_method(_now, "now")
    if pyramid_tasks:
        config.include("pyramid_tasks")
        config.register_task(noop, name=NOOP, ignore_result=True)
        config.register_task(noop, name=NOOP_STORE, ignore_result=False)
        config.register_task(noop, name=DONE, ignore_result=False)
    return config


def noop(request):
    """A task that does nothing: what is measured is the machinery."""


def main(global_config, **settings):
    """Paste entry point: ``use = call:benchapp:main``."""
    ready_file_on_worker_ready()
    config = make_config(settings, pyramid_tasks=True)
    return config.make_wsgi_app()
