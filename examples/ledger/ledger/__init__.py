"""An append-only ledger on Redis, totalled by a Celery task.

The Pyramid app and the Celery worker are built by the same ``configure``:
views and tasks both use ``request.redis``.
"""

import os
from time import sleep

from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPBadRequest
import redis

DEFAULT_REDIS_URL = "redis://localhost:6379/0"


def configure(settings=None):
    """Create the Pyramid configuration of the ledger.

    ``REDIS_URL`` names the Redis server used for the ledger, the broker and
    the results; ``LEDGER_NAMESPACE`` prefixes every key, so several ledgers
    can share one Redis. Settings given here (or in an ini file) win.
    """
    settings = dict(settings or {})
    redis_url = settings.setdefault(
        "redis_url", os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)
    )
    namespace = settings.setdefault(
        "ledger.namespace", os.environ.get("LEDGER_NAMESPACE", "")
    )
    settings.setdefault("celery.broker_url", redis_url)
    settings.setdefault("celery.result_backend", redis_url)
    if namespace:
        for option in ("broker", "result_backend"):
            key = f"celery.{option}_transport_options.global_keyprefix"
            settings.setdefault(key, namespace)

    config = Configurator(settings=settings)
    config.include("pyramid_tasks")
    configure_redis(config)
    config.add_route("append", "/append")
    config.add_view(append, route_name="append", renderer="string")
    config.add_route("total", "/total")
    config.add_view(total, route_name="total", renderer="string")
    config.add_route("result", "/result")
    config.add_view(result, route_name="result", renderer="string")
    config.register_task(total_task)
    return config


def main(global_config, **settings):
    """Return the WSGI app, for ``pserve config.ini``."""
    return configure(settings).make_wsgi_app()


def application():
    """Return the WSGI app, configured from the environment."""
    return configure().make_wsgi_app()


def configure_redis(config):
    """Add ``request.redis``: a client sharing one connection pool."""
    client = redis.Redis.from_url(config.registry.settings["redis_url"])
    config.add_request_method(lambda request: client, "redis", reify=True)


def bad_request(message):
    """A 400 response with a plain-text message."""
    return HTTPBadRequest(text=f"{message}\n", content_type="text/plain")


def ledger_key(request):
    """The Redis list holding the ledger."""
    return request.registry.settings["ledger.namespace"] + "ledger"


def append(context, request):
    """Append a value to the ledger."""
    try:
        value = int(request.params["value"])
    except KeyError:
        raise bad_request("Must include `value`.") from None
    except ValueError:
        raise bad_request("`value` must be an integer.") from None
    request.redis.rpush(ledger_key(request), str(value))
    return "Done.\n"


def total(context, request):
    """Queue a task totalling the ledger; return its id."""
    try:
        delay = float(request.GET.get("delay", "0"))
    except ValueError:
        raise bad_request("`delay` must be a number.") from None
    if not 0 <= delay <= 60:
        raise bad_request("`delay` must be between 0 and 60.")
    handle = request.delay_task(total_task, delay)
    return f"{handle.id}\n"


def result(context, request):
    """Return the total computed by a task, or ``Pending...``."""
    try:
        task_id = request.GET["id"]
    except KeyError:
        raise bad_request("Must include `id`.") from None
    handle = request.get_task_result(task_id)
    if handle.ready():
        return f"{handle.result}\n"
    return "Pending...\n"


def total_task(request, delay=0.0):
    """Total the ledger, after waiting ``delay`` seconds."""
    sleep(delay)
    values = request.redis.lrange(ledger_key(request), 0, -1)
    return sum(int(value) for value in values)
