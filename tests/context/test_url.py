"""The URL context: links built in tasks are the links the user saw."""

from __future__ import annotations

from pyramid.exceptions import ConfigurationError
import pytest

from pyramid_tasks.context import (
    CONTEXT_HEADER,
    public_environ,
)

from services import (
    defer_headers,
    make_request,
    setup_routes,
    task_request_for,
)

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


# -- Built-in values ---------------------------------------------------------
