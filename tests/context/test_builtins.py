"""The built-in values: request id, locale, user id."""

from __future__ import annotations

from pyramid_tasks.context import (
    CONTEXT_HEADER,
    propagated_userid,
)

from services import (
    defer_headers,
    make_request,
    open_task_request,
    setup_routes,
    setup_secure,
    task_request_for,
)

# -- Built-in values ---------------------------------------------------------


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


def test_propagated_userid_is_none_outside_tasks(config):
    assert propagated_userid(make_request(config.registry)) is None
