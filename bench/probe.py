"""Measures taken in a fresh process of one side, printed as JSON.

Run with the side's own interpreter, so the peer runs in its virtualenv::

    python probe.py import SIDE
    python probe.py publish SIDE BROKER_URL RESULT_URL QUEUE CALLS

``import``: the CPU time and the new modules of importing the
integration (``celery`` for plain Celery, ``pyramid_tasks`` for the
others), then of building the benchmark's application up to its WSGI
app with its Celery app finalized. ``publish``: microseconds per
immediate publish of the no-op task from a view's request.
"""

from __future__ import annotations

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def build(side: str, settings: dict):
    """The benchmark's app of ``side``: (WSGI app, registry, Celery app)."""
    if side == "plain":
        from benchapp import make_config
        from plain_pyramid import plain_celery

        wsgi = make_config(settings, pyramid_tasks=False).make_wsgi_app()
        app = plain_celery(settings)
        app.finalize()
        return wsgi, wsgi.registry, app
    if side == "peer":
        from peerapp import make_config

        wsgi = make_config(settings).make_wsgi_app()
        return wsgi, wsgi.registry, wsgi.registry["pyramid_tasks.app"]
    from benchapp import make_config

    wsgi = make_config(settings, pyramid_tasks=True).make_wsgi_app()
    app = wsgi.registry.celery_app
    app.finalize()
    return wsgi, wsgi.registry, app


def probe_import(side: str) -> dict:
    cpu = time.process_time
    before = len(sys.modules)
    c0 = cpu()
    if side == "plain":
        import celery  # noqa: F401
    else:
        import pyramid_tasks  # noqa: F401
    c1 = cpu()
    middle = len(sys.modules)
    build(side, {})
    c2 = cpu()
    return {
        "import_cpu": c1 - c0,
        "import_modules": middle - before,
        "app_cpu": c2 - c0,
        "app_modules": len(sys.modules) - before,
    }


def probe_publish(side, broker_url, result_url, queue, calls) -> dict:
    from pyramid.request import Request, apply_request_extensions

    settings = {
        "celery.broker_url": broker_url,
        "celery.result_backend": result_url,
        "celery.task_default_queue": queue,
        "celery.task_serializer": "json",
    }
    _, registry, _ = build(side, settings)
    request = Request.blank("/")
    request.registry = registry
    apply_request_extensions(request)
    defer = request.defer_task
    defer("bench.noop")  # connect and declare the queue first
    perf, cpu = time.perf_counter, time.process_time
    c0, t0 = cpu(), perf()
    for _ in range(calls):
        defer("bench.noop")
    elapsed, used = perf() - t0, cpu() - c0
    return {"us": elapsed * 1e6 / calls, "cpu_us": used * 1e6 / calls}


def main(argv: list[str]) -> None:
    if argv[0] == "import":
        out = probe_import(argv[1])
    else:
        side, broker, result, queue, calls = argv[1:6]
        out = probe_publish(side, broker, result, queue, int(calls))
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
