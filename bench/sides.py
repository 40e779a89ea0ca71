"""The plain Celery and pyramid_tasks sides, built in this process."""

from __future__ import annotations

import benchapp
from benchapp import NOOP, NOOP_STORE


def celery_conf(broker_url, result_url, queue):
    return {
        "broker_url": broker_url,
        "result_backend": result_url,
        "task_default_queue": queue,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
    }


def plain_app(broker_url, result_url, queue):
    from celery import Celery

    app = Celery("plain", set_as_current=False)
    app.conf.update(celery_conf(broker_url, result_url, queue))

    @app.task(name=NOOP, ignore_result=True, shared=False)
    def noop():
        """Do nothing."""

    @app.task(name=NOOP_STORE, ignore_result=False, shared=False)
    def noop_store():
        """Do nothing."""

    return app


def ours_app(broker_url, result_url, queue):
    settings = {
        f"celery.{key}": value
        for key, value in celery_conf(broker_url, result_url, queue).items()
        if key != "accept_content"
    }
    config = benchapp.make_config(settings, pyramid_tasks=True)
    return config.make_celery_app()


def make_request(registry, **environ):
    from pyramid.request import Request, apply_request_extensions

    request = Request.blank("/", environ)
    request.registry = registry
    apply_request_extensions(request)
    return request


def task_messages(app, count, queue="trace"):
    """Task messages for the no-op task, as a worker receives them."""
    from celery.utils import uuid as task_id
    from kombu import Message
    from kombu.serialization import dumps

    out = []
    for _ in range(count):
        tm = app.amqp.as_task_v2(
            task_id(), NOOP, args=(), kwargs={}, ignore_result=True
        )
        ctype, encoding, body = dumps(tm.body, serializer="json")
        out.append(
            Message(
                body=body,
                content_type=ctype,
                content_encoding=encoding,
                headers=tm.headers,
                properties=dict(tm.properties),
                delivery_info={
                    "exchange": "",
                    "routing_key": queue,
                    "priority": 0,
                    "redelivered": False,
                },
            )
        )
    return out


def interleaved_points(rounds, xs, sides, measure):
    """Call ``measure(side, x)`` for every point and side in each round,
    the points and the sides in alternating order, so that a slow
    stretch of the machine falls on every point of a curve."""
    for number in range(rounds):
        points = xs if number % 2 == 0 else list(reversed(xs))
        for index, x in enumerate(points):
            order = sides if (number + index) % 2 == 0 else sides[::-1]
            for side in order:
                measure(side, x)


def interleaved(rounds, sides, measure):
    """Call ``measure(side, round)`` for each side, order flipped per round."""
    for number in range(rounds):
        order = sides if number % 2 == 0 else list(reversed(sides))
        for side in order:
            measure(side, number)


ECHO = "bench.echo"


def echo(request, data):
    """Take one argument and do nothing with it."""


def _nothing():
    """Do nothing."""


def _take(data):
    """Take one argument and do nothing with it."""


def passing(task, info):
    """A deriver that wraps every task in one more call."""

    def wrapper(request, *args, **kwargs):
        return task(request, *args, **kwargs)

    return wrapper


def curve_app(side, broker_url, result_url, queue, tasks=1, derivers=0):
    """An app with ``NOOP``, ``ECHO`` and ``tasks - 1`` more tasks (for
    ours, and ``derivers`` wrapping derivers)."""
    conf = celery_conf(broker_url, result_url, queue)
    if side == "plain":
        from celery import Celery

        app = Celery("plain", set_as_current=False)
        app.conf.update(conf)
        app.task(name=NOOP, ignore_result=True, shared=False)(_nothing)
        app.task(name=ECHO, ignore_result=True, shared=False)(_take)
        for number in range(tasks - 1):
            app.task(name=f"bench.extra{number}", shared=False)(_nothing)
        return app
    from pyramid.config import Configurator

    settings = {
        f"celery.{key}": value
        for key, value in conf.items()
        if key != "accept_content"
    }
    config = Configurator(settings=settings)
    config.include("pyramid_tasks")
    for number in range(derivers):
        config.add_task_deriver(passing, name=f"passing{number}")
    config.register_task(benchapp.noop, name=NOOP, ignore_result=True)
    config.register_task(echo, name=ECHO, ignore_result=True)
    for number in range(tasks - 1):
        config.register_task(benchapp.noop, name=f"bench.extra{number}")
    return config.make_celery_app()
