"""What travels in the message headers, and what the worker restores."""

from __future__ import annotations

import pytest

from pyramid_tasks.context import (
    CONTEXT_HEADER,
    TaskContextRejected,
)

from services import (
    SIGNED,
    defer_headers,
    make_request,
    open_task_request,
    setup_routes,
    setup_secure,
)


def test_with_nothing_to_carry_the_options_are_left_alone(make_app):
    _, celery_app = make_app(setup_routes)
    script = make_request(celery_app.registry)

    headers, options = defer_headers(celery_app, script, countdown=1)

    assert options == {"countdown": 1}


# -- Built-in values ---------------------------------------------------------


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
