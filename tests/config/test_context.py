"""Configuring the request context: settings and add_task_context."""

from __future__ import annotations

from pyramid.exceptions import ConfigurationConflictError, ConfigurationError
import pytest

from pyramid_tasks.interfaces import ITaskContext

from services import (
    defer_headers,
    make_request,
    noop,
    setup_routes,
    task_request_for,
)

# -- Built-in values ---------------------------------------------------------


def test_an_unknown_propagated_name_fails_at_startup(make_app):
    with pytest.raises(ConfigurationError, match="'cookies'"):
        make_app(**{"pyramid_tasks.propagate": "locale cookies"})


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


def restore_locale(request, value):
    request._LOCALE_ = f"{value}-restored"


def test_add_task_context_replaces_and_enables_a_builtin(make_app):
    def setup(config):
        setup_routes(config)
        config.add_task_context(
            "locale",
            lambda request: "pt",
            f"{__name__}.restore_locale",
        )

    _, celery_app = make_app(setup)

    request = task_request_for(celery_app, make_request(celery_app.registry))

    assert request.locale_name == "pt-restored"


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
    config.include(f"{__name__}.included")
    config.add_task_context("tenant", lambda request: "app")
    config.commit()

    context = config.registry.getUtility(ITaskContext)
    (entry,) = [e for e in context.entries if e.name == "tenant"]

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
