"""Local servers the tests talk to, and private names for each test run.

A server that does not answer makes its tests skip with the reason, or
fail when ``CI=true``: CI must never pass by skipping.
"""

from __future__ import annotations

import os
import socket
import uuid

from pyramid.request import Request, apply_request_extensions
import pytest

from pyramid_tasks.testing import worker_thread

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
AMQP_URL = os.environ.get(
    "TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//"
)
POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)

BROKERS = ["memory", "redis", "amqp"]

_PORTS = {"redis": 6379, "rabbitmq": 5672, "postgres": 5432}


def answers(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require(service: str) -> None:
    """Skip (or fail under CI) when ``service`` does not answer."""
    port = _PORTS[service]
    if answers("127.0.0.1", port):
        return
    message = f"{service} is not answering on 127.0.0.1:{port}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}, and CI needs it")
    pytest.skip(message)


def unique(prefix: str = "pt") -> str:
    """A name no other test or test run uses (queues, key prefixes, DBs)."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def broker_settings(kind: str) -> dict[str, str]:
    """``celery.*`` settings for a broker kind, private to this test."""
    queue = unique("q")
    settings = {"celery.task_default_queue": queue}
    if kind == "memory":
        settings["celery.broker_url"] = "memory://"
        settings["celery.result_backend"] = "cache+memory://"
        settings["celery.broker_transport_options.polling_interval"] = "0.05"
    elif kind == "redis":
        require("redis")
        settings["celery.broker_url"] = REDIS_URL
        settings["celery.result_backend"] = REDIS_URL
        settings["celery.broker_transport_options.global_keyprefix"] = (
            queue + ":"
        )
    elif kind == "amqp":
        require("rabbitmq")
        settings["celery.broker_url"] = AMQP_URL
        settings["celery.result_backend"] = "rpc://"
    else:  # pragma: no cover - a typo in a test
        raise ValueError(kind)
    return settings


def ini_logging(tag: str) -> str:
    """Ini logging sections whose lines start with ``tag``."""
    return f"""
[loggers]
keys = root

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = INFO
handlers = console

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = {tag} %(levelname)s %(message)s
"""


def make_request(registry, path: str = "/", **environ) -> Request:
    """A request as the router would make it, extensions applied."""
    request = Request.blank(path, environ)
    request.registry = registry
    apply_request_extensions(request)
    return request


def running_worker(celery_app, **kwargs):
    """A real embedded worker in a thread: the testing kit's own fixture."""
    return worker_thread(celery_app, **kwargs)
