"""The request context tasks take from the request that deferred them."""

from __future__ import annotations

import logging

from pyramid.config import Configurator
from pyramid.exceptions import ConfigurationConflictError, ConfigurationError
import pytest

from pyramid_tasks.application import UnsafeSerializerWarning
from pyramid_tasks.context import (
    CONTEXT_HEADER,
    SIGNATURE_HEADER,
    TaskContextFilter,
    TaskContextRejected,
    _on_worker_setup,
    get_task_context,
    install_log_filter,
    propagated_userid,
    public_environ,
)
from pyramid_tasks.taskrequest import TaskRequestFactory

from services import make_request


def noop(request):
    return None


def setup_routes(config):
    config.add_route("home", "/home")
    config.register_task(noop, name="noop")


class DummyTaskRequest:
    """What ``Task.request`` carries: the id and the message headers."""

    def __init__(self, task_id, headers):
        self.id = task_id
        self.__dict__.update(headers)


def defer_headers(celery_app, request, **options):
    """The headers and options ``request.defer_task`` would send."""
    context = celery_app.task_context
    task = celery_app.tasks["noop"]
    if context.capturing:
        context.capture(request, task, options)
    return options.get("headers", {}), options


def task_request_for(celery_app, request=None, task_id="tid", **options):
    """Capture from ``request`` and build the task request the worker would."""
    task = celery_app.tasks["noop"]
    headers, options = (
        defer_headers(celery_app, request, **options)
        if request is not None
        else (options.get("headers", {}), options)
    )
    task_id = options.get("task_id", task_id)
    return open_task_request(celery_app, task_id, headers, task)


def open_task_request(celery_app, task_id, headers, task=None):
    task = task or celery_app.tasks["noop"]
    context = celery_app.task_context
    carried = headers.get(CONTEXT_HEADER)
    environ = context.open(
        task,
        DummyTaskRequest(task_id, headers),
        carried,
        headers.get("environ"),
    )
    request = TaskRequestFactory(celery_app.registry)(environ)
    if carried:
        context.restore(request, carried)
    return request


# -- Public URL --------------------------------------------------------------


@pytest.mark.parametrize(
    ("public_url", "expected"),
    [
        (None, "http://localhost/home"),
        ("https://example.com:8443/app", "https://example.com:8443/app/home"),
        ("https://example.com/app/", "https://example.com/app/home"),
        ("http://example.com:80", "http://example.com/home"),
        ("http://[::1]:8080/x", "http://[::1]:8080/x/home"),
    ],
)
def test_public_url_gives_the_urls_of_requests_without_origin(
    make_app, public_url, expected
):
    settings = {"pyramid_tasks.public_url": public_url} if public_url else {}
    _, celery_app = make_app(setup_routes, **settings)

    request = task_request_for(celery_app)

    assert request.route_url("home") == expected


@pytest.mark.parametrize(
    "public_url",
    [
        "example.com",
        "ftp://example.com",
        "https://example.com/?q=1",
        "https://user:pw@example.com",
        "https://example.com:notaport",
    ],
)
def test_a_bad_public_url_fails_at_startup_naming_it(make_app, public_url):
    with pytest.raises(ConfigurationError, match="public_url"):
        make_app(**{"pyramid_tasks.public_url": public_url})


def test_public_environ_has_no_input_stream():
    assert "wsgi.input" not in public_environ("https://example.com")


# -- URL context -------------------------------------------------------------


def test_task_takes_the_url_context_of_the_deferring_request(make_app):
    _, celery_app = make_app(
        setup_routes, **{"pyramid_tasks.public_url": "https://public.example"}
    )
    view = make_request(
        celery_app.registry,
        "/somewhere",
        HTTP_HOST="shop.example:8080",
        SCRIPT_NAME="/store",
        **{"wsgi.url_scheme": "https"},
    )

    request = task_request_for(celery_app, view)

    assert request.route_url("home") == "https://shop.example:8080/store/home"
    assert request.host == "shop.example:8080"


def test_a_task_deferring_again_passes_its_url_context_on(make_app):
    _, celery_app = make_app(setup_routes)
    view = make_request(celery_app.registry, HTTP_HOST="a.example")
    first = task_request_for(celery_app, view)

    second = task_request_for(celery_app, first)

    assert second.route_url("home") == "http://a.example/home"


def test_script_requests_carry_no_url_context(make_app):
    _, celery_app = make_app(
        setup_routes, **{"pyramid_tasks.public_url": "https://public.example"}
    )
    script = make_request(celery_app.registry)  # Request.blank: localhost:80

    headers, _ = defer_headers(celery_app, script)

    assert CONTEXT_HEADER not in headers
    request = task_request_for(celery_app, script)
    assert request.route_url("home") == "https://public.example/home"


def test_a_real_client_on_localhost_carries_its_url_context(make_app):
    _, celery_app = make_app(setup_routes)
    view = make_request(celery_app.registry, REMOTE_ADDR="127.0.0.1")

    headers, _ = defer_headers(celery_app, view)

    assert headers[CONTEXT_HEADER]["url"] == ["http", "localhost:80", ""]


def test_url_context_without_host_header_uses_server_name(make_app):
    _, celery_app = make_app(setup_routes)
    view = make_request(celery_app.registry, SERVER_NAME="srv.example")
    del view.environ["HTTP_HOST"]

    request = task_request_for(celery_app, view)

    assert request.route_url("home") == "http://srv.example/home"


def test_url_propagation_can_be_turned_off(make_app):
    _, celery_app = make_app(
        setup_routes,
        **{
            "pyramid_tasks.propagate_url": "false",
            "pyramid_tasks.public_url": "https://public.example",
        },
    )
    view = make_request(celery_app.registry, HTTP_HOST="evil.example")

    headers, options = defer_headers(celery_app, view, queue="q")

    assert celery_app.task_context.capturing is False
    assert options == {"queue": "q"}
    assert headers == {}


def test_with_nothing_to_carry_the_options_are_left_alone(make_app):
    _, celery_app = make_app(setup_routes)
    script = make_request(celery_app.registry)

    headers, options = defer_headers(celery_app, script, countdown=1)

    assert options == {"countdown": 1}


# -- Built-in values ---------------------------------------------------------


class HeaderPolicy:
    def identity(self, request):
        return self.authenticated_userid(request)

    def authenticated_userid(self, request):
        userid = propagated_userid(request)
        if userid is None:
            userid = request.headers.get("X-Test-User")
        return userid

    def permits(self, request, context, permission):  # pragma: no cover
        return True


def setup_secure(config):
    setup_routes(config)
    config.set_security_policy(HeaderPolicy())


def test_allow_listed_builtins_reach_the_task_and_nothing_else(make_app):
    _, celery_app = make_app(
        setup_secure,
        **{"pyramid_tasks.propagate": "request_id locale user_id"},
    )
    view = make_request(
        celery_app.registry,
        "/?_LOCALE_=de",
        HTTP_HOST="a.example",
        HTTP_X_REQUEST_ID="rid-1",
        HTTP_X_TEST_USER="bob",
        HTTP_COOKIE="session=secret-cookie",
        HTTP_AUTHORIZATION="Basic c2VjcmV0",
        HTTP_PROXY_AUTHORIZATION="Basic cHJveHk=",
        **{"beaker.session": {"x": 1}, "app.secret": "internal"},
    )

    headers, _ = defer_headers(celery_app, view)
    request = task_request_for(celery_app, view)

    assert headers[CONTEXT_HEADER] == {
        "url": ["http", "a.example", ""],
        "request_id": "rid-1",
        "locale": "de",
        "user_id": "bob",
    }
    assert request.locale_name == "de"
    assert request.localizer.locale_name == "de"
    assert request.authenticated_userid == "bob"
    assert request.environ["HTTP_X_REQUEST_ID"] == "rid-1"
    assert request.environ["pyramid_tasks.request_id"] == "rid-1"
    for key in (
        "HTTP_COOKIE",
        "HTTP_AUTHORIZATION",
        "HTTP_PROXY_AUTHORIZATION",
        "HTTP_X_TEST_USER",
        "beaker.session",
        "app.secret",
    ):
        assert key not in request.environ


def test_builtins_not_allow_listed_do_not_travel_or_apply(make_app):
    _, sender = make_app(
        setup_secure, **{"pyramid_tasks.propagate": "user_id locale"}
    )
    _, worker = make_app(setup_secure)
    view = make_request(
        sender.registry, "/?_LOCALE_=de", HTTP_X_TEST_USER="bob"
    )

    headers, _ = defer_headers(sender, view)
    request = open_task_request(worker, "tid", headers)

    assert headers[CONTEXT_HEADER] == {"locale": "de", "user_id": "bob"}
    assert request.authenticated_userid is None
    assert request.locale_name == "en"


def test_the_request_id_header_is_configurable_and_bounded(make_app):
    _, celery_app = make_app(
        setup_routes,
        **{
            "pyramid_tasks.propagate": "request_id",
            "pyramid_tasks.request_id_header": "X-Correlation-Id",
        },
    )
    view = make_request(
        celery_app.registry,
        HTTP_X_CORRELATION_ID="c" * 500,
        HTTP_X_REQUEST_ID="ignored",
    )

    request = task_request_for(celery_app, view)

    assert request.environ["HTTP_X_CORRELATION_ID"] == "c" * 200
    assert "HTTP_X_REQUEST_ID" not in request.environ


def test_an_unknown_propagated_name_fails_at_startup(make_app):
    with pytest.raises(ConfigurationError, match="'cookies'"):
        make_app(**{"pyramid_tasks.propagate": "locale cookies"})


def test_propagated_userid_is_none_outside_tasks(config):
    assert propagated_userid(make_request(config.registry)) is None


# -- add_task_context --------------------------------------------------------


def test_add_task_context_carries_a_custom_value(make_app):
    def setup(config):
        setup_routes(config)
        config.add_task_context(
            "tenant", lambda request: request.headers.get("X-Tenant")
        )
        config.add_task_context(
            "plan",
            lambda request: {"name": "gold"},
            lambda request, value: setattr(
                request, "plan_name", value["name"]
            ),
        )

    _, celery_app = make_app(setup)
    view = make_request(celery_app.registry, HTTP_X_TENANT="acme")

    request = task_request_for(celery_app, view)

    assert request.tenant == "acme"
    assert request.plan_name == "gold"


def test_a_custom_capture_returning_none_carries_nothing(make_app):
    def setup(config):
        setup_routes(config)
        config.add_task_context("tenant", lambda request: None)

    _, celery_app = make_app(setup, **{"pyramid_tasks.propagate_url": "no"})

    headers, _ = defer_headers(celery_app, make_request(celery_app.registry))

    assert headers == {}


def test_add_task_context_replaces_and_enables_a_builtin(make_app):
    def setup(config):
        setup_routes(config)
        config.add_task_context(
            "locale",
            lambda request: "pt",
            "tests.test_context.restore_locale",
        )

    _, celery_app = make_app(setup)

    request = task_request_for(celery_app, make_request(celery_app.registry))

    assert request.locale_name == "pt-restored"


def restore_locale(request, value):
    request._LOCALE_ = value + "-restored"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("", noop), "non-empty"),
        (("url", noop), "other than 'url'"),
        (("x", 42), "capture 42"),
        (("x", noop, 42), "restore 42"),
    ],
)
def test_add_task_context_rejects_bad_arguments(config, args, message):
    with pytest.raises(ConfigurationError, match=message):
        config.add_task_context(*args)


def test_add_task_context_twice_conflicts(config):
    config.add_task_context("tenant", noop)
    config.add_task_context("tenant", noop)
    with pytest.raises(ConfigurationConflictError):
        config.commit()


def included(config):
    config.add_task_context("tenant", lambda request: "included")


def test_the_app_overrides_a_task_context_of_an_include(config):
    config.include("tests.test_context.included")
    config.add_task_context("tenant", lambda request: "app")
    config.commit()

    entry = get_task_context(config.registry).by_name["tenant"]

    assert entry.capture(None) == "app"


def test_add_task_context_is_introspectable(config):
    config.add_task_context("tenant", noop)
    config.commit()

    intr = config.registry.introspector.get("task contexts", "tenant")

    assert intr.discriminator == "tenant"
    assert intr.title == "tenant"
    assert intr.type_name == "task context"
    assert intr["capture"] is noop
    assert callable(intr["restore"])


# -- Signing -----------------------------------------------------------------

SIGNED = {
    "pyramid_tasks.context_secret": "new-secret old-secret",
    "pyramid_tasks.propagate": "user_id",
}


def test_a_signed_context_opens_and_binds_a_task_id(make_app):
    _, celery_app = make_app(setup_secure, **SIGNED)
    view = make_request(celery_app.registry, HTTP_X_TEST_USER="bob")

    headers, options = defer_headers(celery_app, view)
    request = open_task_request(celery_app, options["task_id"], headers)

    assert headers[SIGNATURE_HEADER]
    assert request.authenticated_userid == "bob"
    with pytest.raises(TaskContextRejected, match="does not match"):
        open_task_request(celery_app, "another-task-id", headers)


def test_a_tampered_context_is_rejected(make_app):
    _, celery_app = make_app(setup_secure, **SIGNED)
    view = make_request(celery_app.registry, HTTP_X_TEST_USER="bob")
    headers, options = defer_headers(celery_app, view)

    headers[CONTEXT_HEADER]["user_id"] = "admin"

    with pytest.raises(TaskContextRejected, match="tampered"):
        open_task_request(celery_app, options["task_id"], headers)


def test_an_unsigned_context_or_environ_is_rejected(make_app):
    _, celery_app = make_app(setup_secure, **SIGNED)

    with pytest.raises(TaskContextRejected, match="not signed"):
        open_task_request(
            celery_app, "tid", {CONTEXT_HEADER: {"user_id": "admin"}}
        )
    with pytest.raises(TaskContextRejected, match="not signed"):
        open_task_request(
            celery_app, "tid", {"environ": {"pyramid_tasks.userid": "x"}}
        )


def test_an_older_secret_still_verifies(make_app):
    _, old = make_app(
        setup_secure,
        **{**SIGNED, "pyramid_tasks.context_secret": "old-secret"},
    )
    _, new = make_app(setup_secure, **SIGNED)
    view = make_request(old.registry, HTTP_X_TEST_USER="bob")

    headers, options = defer_headers(old, view)
    request = open_task_request(new, options["task_id"], headers)

    assert request.authenticated_userid == "bob"


def test_the_explicit_environ_is_signed_and_wins(make_app):
    _, celery_app = make_app(setup_secure, **SIGNED)
    view = make_request(celery_app.registry, HTTP_HOST="a.example")
    explicit = {"HTTP_HOST": "chosen.example", "app.flag": "1"}

    headers, options = defer_headers(
        celery_app, view, headers={"environ": explicit}, task_id="given"
    )
    request = open_task_request(celery_app, "given", headers)

    assert options["task_id"] == "given"
    assert request.route_url("home") == "http://chosen.example/home"
    assert request.environ["app.flag"] == "1"
    headers["environ"]["app.flag"] = "2"
    with pytest.raises(TaskContextRejected):
        open_task_request(celery_app, "given", headers)


def test_without_a_secret_the_explicit_environ_still_applies(make_app):
    _, celery_app = make_app(setup_routes)
    script = make_request(celery_app.registry)
    given = {"environ": {"app.flag": "1"}, "other": 2}

    headers, _ = defer_headers(celery_app, script, headers=given)
    request = open_task_request(celery_app, "tid", headers)

    assert headers == given and headers is not given
    assert request.environ["app.flag"] == "1"


@pytest.mark.parametrize(
    "carried",
    [
        ["not", "a", "dict"],
        {"url": ["ftp", "a.example", ""]},
        {"url": ["http", 42, ""]},
        {"url": "http://a.example"},
    ],
)
def test_a_malformed_context_is_rejected(make_app, carried):
    _, celery_app = make_app(setup_routes)

    with pytest.raises(TaskContextRejected, match="malformed"):
        open_task_request(celery_app, "tid", {CONTEXT_HEADER: carried})


# -- Logging -----------------------------------------------------------------


def test_log_records_carry_the_request_id_of_the_task(make_app):
    _, celery_app = make_app(
        setup_routes, **{"pyramid_tasks.propagate": "request_id"}
    )
    view = make_request(celery_app.registry, HTTP_X_REQUEST_ID="rid-3")
    request = task_request_for(celery_app, view)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None)
    from pyramid.threadlocal import manager

    manager.push({"registry": celery_app.registry, "request": request})
    try:
        assert TaskContextFilter().filter(record) is True
    finally:
        manager.pop()

    assert record.request_id == "rid-3"
    assert record.task_name == "-"
    formatter = logging.Formatter("%(request_id)s %(message)s")
    assert formatter.format(record) == "rid-3 m"


def test_log_records_of_web_requests_carry_their_request_id(make_app):
    _, celery_app = make_app(
        setup_routes, **{"pyramid_tasks.request_id_header": "X-Trace"}
    )
    view = make_request(celery_app.registry, HTTP_X_TRACE="t-1")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None)
    from pyramid.threadlocal import manager

    manager.push({"registry": celery_app.registry, "request": view})
    try:
        TaskContextFilter().filter(record)
    finally:
        manager.pop()

    assert record.request_id == "t-1"


def test_the_log_filter_keeps_values_given_as_extra():
    record = logging.makeLogRecord(
        {"request_id": "mine", "task_id": "t", "msg": "m"}
    )
    TaskContextFilter().filter(record)
    assert record.request_id == "mine"
    outside = logging.makeLogRecord({"msg": "m"})
    TaskContextFilter().filter(outside)
    assert (outside.request_id, outside.task_name, outside.task_id) == (
        "-",
        "-",
        "-",
    )


def test_the_worker_installs_the_log_filter_once_on_every_handler():
    handler = logging.NullHandler()
    logger = logging.getLogger("tests.context.installed")
    logger.addHandler(handler)
    try:
        _on_worker_setup(sender="worker@host")
        install_log_filter()
        assert [type(f) for f in handler.filters] == [TaskContextFilter]
    finally:
        logger.removeHandler(handler)
        for f in list(logging.getLogger().handlers):
            for flt in [
                x for x in f.filters if isinstance(x, TaskContextFilter)
            ]:
                f.removeFilter(flt)


# -- Secure defaults ---------------------------------------------------------


def test_json_is_the_only_serializer_by_default(make_app):
    _, celery_app = make_app()

    assert celery_app.conf.task_serializer == "json"
    assert celery_app.conf.result_serializer == "json"
    assert list(celery_app.conf.accept_content) == ["json"]


def test_accepting_pickle_warns_why_it_is_dangerous():
    config = Configurator(
        settings={
            "celery.broker_url": "memory://",
            "celery.accept_content": "json, pickle",
        }
    )
    config.include("pyramid_tasks")
    with pytest.warns(UnsafeSerializerWarning, match="run code in the worker"):
        config.make_celery_app()


def test_a_request_factory_function_gets_the_extensions_per_request():
    from pyramid.request import Request

    made = []

    def factory(environ):
        made.append(environ["PATH_INFO"])
        return Request(environ)

    config = Configurator(settings={"celery.broker_url": "memory://"})
    config.include("pyramid_tasks")
    config.set_request_factory(factory)
    config.add_request_method(lambda r: "db", "db", reify=True)
    config.commit()
    make = TaskRequestFactory(config.registry)
    request = make()
    assert request.db == "db"
    assert request.registry is config.registry
    assert made == ["/"]


def test_an_app_without_request_extensions_uses_its_factory_as_is():
    from pyramid.request import Request

    config = Configurator(settings={"celery.broker_url": "memory://"})
    config.commit()
    assert TaskRequestFactory(config.registry).request_class is Request
