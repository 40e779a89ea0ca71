"""The Celery application that belongs to a Pyramid registry."""

from __future__ import annotations

import functools
from typing import Any
import warnings

from celery import Celery
from kombu.utils.objects import cached_property
from pyramid.config import PHASE2_CONFIG
from pyramid.exceptions import ConfigurationError
from pyramid.settings import asbool, falsey, truthy

from .settings import extract_celery_settings

__all__ = ["PyramidCelery", "get_celery_app", "make_celery_app"]

#: Setting that turns commit-aware deferral off for the whole app.
AFTER_COMMIT_SETTING = "pyramid_tasks.after_commit"


class PyramidCelery(Celery):
    """A Celery app bound to one Pyramid registry.

    It is never made the process-wide default app, so two Pyramid
    applications in one process keep two independent Celery apps.
    """

    #: The Pyramid registry this app serves.
    registry: Any = None
    #: Whether tasks deferred in an active transaction wait for its commit
    #: (the ``pyramid_tasks.after_commit`` setting).
    after_commit: bool = True
    #: ``None`` publishes with ``apply_async``; a test swaps in an object
    #: with ``send(task, args, kwargs, options)`` and ``hold(task, args,
    #: kwargs, options, result)`` (see :mod:`pyramid_tasks.testing`).
    task_publisher: Any = None

    def __init__(self, registry, **kwargs: Any) -> None:
        kwargs.setdefault("set_as_current", False)
        super().__init__(**kwargs)
        self.registry = registry
        #: Registered task functions to task names.
        self.task_names: dict[Any, str] = {}

    @functools.cached_property
    def task_request_factory(self):
        """Makes the request each task gets; built on the first task."""
        from .taskrequest import TaskRequestFactory

        return TaskRequestFactory(self.registry)

    @cached_property
    def AsyncResult(self):  # noqa: N802 (Celery's own attribute name)
        """Results are :class:`~pyramid_tasks.result.TaskResult` handles."""
        return self.subclass_with_self("pyramid_tasks.result:TaskResult")


def get_celery_app(registry) -> PyramidCelery:
    """Return the Celery app of ``registry``, creating it on first use."""
    app = registry.__dict__.get("celery_app")
    if app is None:
        main = getattr(registry, "package_name", None) or "pyramid_tasks"
        app = registry.celery_app = PyramidCelery(registry, main=main)
    return app


def configure_celery_app(config) -> None:
    """Register the action that applies ``celery.*`` settings to the app."""
    app = get_celery_app(config.registry)

    def register() -> None:
        settings = config.registry.settings or {}
        app.conf.update(extract_celery_settings(settings))
        app.after_commit = _setting_as_bool(
            settings, AFTER_COMMIT_SETTING, True
        )
        _check_serializers(app)

    # Celery must be configured before tasks are created in the default
    # phase: task classes read options such as serializers when bound.
    config.action(
        ("pyramid_tasks", "celery settings"), register, order=PHASE2_CONFIG
    )


def _setting_as_bool(settings, key: str, default: bool) -> bool:
    # asbool() reads any unknown word as False, which would silently turn
    # the feature off on a typo.
    value = settings.get(key, default)
    if isinstance(value, str) and value.strip().lower() not in (
        truthy | falsey
    ):
        raise ConfigurationError(
            f"Setting {key!r} = {value!r} is not a valid bool: use true "
            "or false"
        )
    return asbool(value)


def _check_serializers(app: Celery) -> None:
    accepted = set(app.conf.accept_content or ()) | {
        app.conf.task_serializer,
        app.conf.result_serializer,
    }
    unsafe = sorted(accepted & _UNSAFE_SERIALIZERS)
    if unsafe:
        warnings.warn(
            f"Celery accepts the unsafe serializers {unsafe}: anyone who "
            "can write to the broker can run code in the worker. Keep "
            "JSON unless every producer of messages is trusted.",
            UnsafeSerializerWarning,
            stacklevel=2,
        )


_UNSAFE_SERIALIZERS = {"pickle", "yaml", "application/x-python-serialize"}


class UnsafeSerializerWarning(UserWarning):
    """Celery is configured to accept an unsafe serializer such as pickle."""


def make_celery_app(config) -> PyramidCelery:
    """Commit the configuration and return the application's Celery app.

    The counterpart of ``config.make_wsgi_app()``::

        app = config.make_celery_app()
    """
    config.commit()
    return get_celery_app(config.registry)
