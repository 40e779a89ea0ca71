"""Request context in a real worker, on Redis: URLs, identity, signing.

One app and one embedded worker serve the whole module: views on two
hosts defer tasks that build URLs; scripts defer tasks with no web
request; the raw messages are read back from Redis with redis-py.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import sys

from pyramid.scripting import prepare
import pytest
import redis
from webtest import TestApp

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pyramid_tasks.context import (  # noqa: E402
    CONTEXT_HEADER,
    SIGNATURE_HEADER,
    TaskContextFilter,
    install_log_filter,
    propagated_userid,
)

from services import (  # noqa: E402
    REDIS_URL,
    broker_settings,
    require,
    running_worker,  # noqa: E402
    unique,
)

pytestmark = pytest.mark.redis

PUBLIC_URL = "https://www.example.com:8443/app"
SECRET = "s3cret-for-tests"


class BearerSecurityPolicy:
    """``Authorization: Bearer <user>`` in views, the carried id in tasks."""

    def identity(self, request):
        userid = propagated_userid(request)
        if userid is None:
            auth = request.headers.get("Authorization", "")
            if auth.startswith("Bearer "):
                userid = auth[len("Bearer ") :]
        return userid

    def authenticated_userid(self, request):
        return self.identity(request)

    def permits(self, request, context, permission):  # pragma: no cover
        return True


class Root:
    __name__ = ""
    __parent__ = None


def describe(request):
    """What a task sees of its request context."""
    return {
        "home": request.route_url("home", _query={"x": "1"}),
        "static": request.static_url("pyramid_tasks:py.typed"),
        "resource": request.resource_url(Root(), "item"),
        "locale": request.locale_name,
        "userid": request.authenticated_userid,
        "request_id": request.environ.get("pyramid_tasks.request_id"),
        "cookie": request.environ.get("HTTP_COOKIE"),
        "authorization": request.environ.get("HTTP_AUTHORIZATION"),
        "tenant": getattr(request, "tenant", None),
    }


def describe_after_a_retry(request):
    logging.getLogger("tests.context_worker").warning("inside")
    task = request.current_task
    if task.request.retries == 0:
        raise task.retry(countdown=0)
    return describe(request)


def defer_view(request):
    task = describe_after_a_retry if "retry" in request.params else describe
    result = request.defer_task(task)
    return {"id": result.id}


def defer_elsewhere_view(request):
    result = request.defer_task_with_options(
        describe, queue=request.params["queue"]
    )
    return {"id": result.id}


def setup(config):
    config.set_security_policy(BearerSecurityPolicy())
    config.add_route("home", "/home")
    config.add_static_view("static", "pyramid_tasks:")
    config.add_route("defer", "/defer")
    config.add_route("defer_elsewhere", "/defer-elsewhere")
    config.add_view(defer_view, route_name="defer", renderer="json")
    config.add_view(
        defer_elsewhere_view, route_name="defer_elsewhere", renderer="json"
    )
    config.add_task_context(
        "tenant", lambda request: request.headers.get("X-Tenant")
    )
    config.register_task(describe, name="describe")
    config.register_task(describe_after_a_retry, name="retrying")


@pytest.fixture(scope="module")
def site():
    """``(config, celery_app, testapp, redis_client, key_prefix)``."""
    require("redis")
    settings = broker_settings("redis")
    prefix = settings["celery.broker_transport_options.global_keyprefix"]
    settings.update(
        {
            "celery.result_backend_transport_options.global_keyprefix": (
                prefix
            ),
            "pyramid_tasks.public_url": PUBLIC_URL,
            "pyramid_tasks.propagate": "request_id locale user_id",
            "pyramid_tasks.context_secret": SECRET,
        }
    )
    from pyramid.config import Configurator

    config = Configurator(settings=settings)
    config.include("pyramid_tasks")
    setup(config)
    celery_app = config.make_celery_app()
    wsgi = config.make_wsgi_app()
    client = redis.Redis.from_url(REDIS_URL)
    try:
        with running_worker(celery_app):
            yield config, celery_app, TestApp(wsgi), client, prefix
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


def result_of(celery_app, response):
    return celery_app.AsyncResult(response.json["id"]).get(timeout=20)


def test_tasks_deferred_on_two_hosts_each_build_urls_for_their_host(site):
    _, celery_app, app, _, _ = site
    on_a = app.get("/defer", extra_environ={"HTTP_HOST": "a.example.org"})
    on_b = app.get(
        "/defer",
        extra_environ={
            "HTTP_HOST": "b.example.net:8080",
            "wsgi.url_scheme": "https",
            "SCRIPT_NAME": "/shop",
        },
    )

    seen_a = result_of(celery_app, on_a)
    seen_b = result_of(celery_app, on_b)

    assert seen_a["home"] == "http://a.example.org/home?x=1"
    assert seen_a["static"] == "http://a.example.org/static/py.typed"
    assert seen_a["resource"] == "http://a.example.org/item"
    assert seen_b["home"] == "https://b.example.net:8080/shop/home?x=1"
    assert (
        seen_b["static"] == "https://b.example.net:8080/shop/static/py.typed"
    )
    assert seen_b["resource"] == "https://b.example.net:8080/shop/item"


def test_tasks_deferred_without_a_web_request_use_the_public_url(site):
    config, celery_app, _, _, _ = site
    by_apply_async = celery_app.tasks["describe"].apply_async()
    env = prepare(registry=config.registry)
    try:
        by_script = env["request"].defer_task(describe)
    finally:
        env["closer"]()

    for result in (by_apply_async, by_script):
        seen = result.get(timeout=20)
        assert seen["home"] == f"{PUBLIC_URL}/home?x=1"
        assert seen["static"] == f"{PUBLIC_URL}/static/py.typed"
        assert seen["resource"] == f"{PUBLIC_URL}/item"
        assert seen["userid"] is None


def test_locale_user_id_request_id_and_custom_values_survive(site):
    _, celery_app, app, _, _ = site
    response = app.get(
        "/defer?_LOCALE_=fr",
        headers={
            "Authorization": "Bearer alice",
            "X-Request-ID": "req-42",
            "X-Tenant": "acme",
            "Cookie": "session=opaque-session-cookie",
        },
    )

    seen = result_of(celery_app, response)

    assert seen["locale"] == "fr"
    assert seen["userid"] == "alice"
    assert seen["request_id"] == "req-42"
    assert seen["tenant"] == "acme"
    assert seen["cookie"] is None
    assert seen["authorization"] is None


def test_cookies_and_credentials_never_reach_the_broker(site):
    _, _, app, client, prefix = site
    parked = unique("parked")
    app.get(
        f"/defer-elsewhere?queue={parked}",
        headers={
            "Authorization": "Bearer alice",
            "Proxy-Authorization": "Basic cHJveHktc2VjcmV0",
            "Cookie": "session=opaque-session-cookie",
            "X-Request-ID": "req-7",
        },
        extra_environ={"HTTP_HOST": "a.example.org"},
    )

    raw = client.lrange(prefix + parked, 0, -1)
    assert len(raw) == 1
    message = json.loads(raw[0])
    body = base64.b64decode(message["body"])
    everything = raw[0] + body
    for secret in (b"opaque-session-cookie", b"cHJveHktc2VjcmV0", b"Bearer"):
        assert secret not in everything
    # Only the allow-listed context travels.
    assert message["headers"][CONTEXT_HEADER] == {
        "url": ["http", "a.example.org", ""],
        "request_id": "req-7",
        "locale": "en",
        "user_id": "alice",
    }


def test_a_tampered_signed_message_is_rejected(site):
    _, celery_app, app, client, prefix = site
    queue = celery_app.conf.task_default_queue
    parked = unique("parked")
    app.get(
        f"/defer-elsewhere?queue={parked}",
        headers={"Authorization": "Bearer alice"},
    )
    app.get(
        f"/defer-elsewhere?queue={parked}",
        headers={"Authorization": "Bearer alice"},
    )
    genuine, forged = (
        json.loads(raw) for raw in client.lrange(prefix + parked, 0, -1)
    )
    forged["headers"][CONTEXT_HEADER]["user_id"] = "admin"
    assert forged["headers"][SIGNATURE_HEADER]
    for message in (genuine, forged):
        message["properties"]["delivery_info"]["routing_key"] = queue
        client.lpush(prefix + queue, json.dumps(message))

    seen = celery_app.AsyncResult(genuine["headers"]["id"]).get(timeout=20)
    assert seen["userid"] == "alice"
    with pytest.raises(Exception, match="signature does not match"):
        celery_app.AsyncResult(forged["headers"]["id"]).get(timeout=20)


class ListHandler(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append(record)


def test_context_and_log_fields_survive_a_retry(site):
    _, celery_app, app, _, _ = site
    handler = ListHandler()
    logger = logging.getLogger("tests.context_worker")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    install_log_filter(logger)
    try:
        response = app.get(
            "/defer?retry=1",
            headers={"Authorization": "Bearer bob", "X-Request-ID": "rid-9"},
            extra_environ={"HTTP_HOST": "a.example.org"},
        )
        seen = result_of(celery_app, response)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)

    assert seen["home"] == "http://a.example.org/home?x=1"
    assert seen["userid"] == "bob"
    assert len(handler.records) == 2
    for record in handler.records:
        assert isinstance(handler.filters[0], TaskContextFilter)
        assert record.task_name == "retrying"
        assert record.task_id == response.json["id"]
        assert record.request_id == "rid-9"
