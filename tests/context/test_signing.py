"""Signed contexts: bound to the task, checked in the worker."""

from __future__ import annotations

import pytest

from pyramid_tasks.context import (
    CONTEXT_HEADER,
    SIGNATURE_HEADER,
    TaskContextRejected,
)

from services import (
    SIGNED,
    defer_headers,
    make_request,
    open_task_request,
    setup_secure,
)

# -- Built-in values ---------------------------------------------------------


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
