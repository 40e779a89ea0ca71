"""The application's Celery app: ``config.set_celery_app`` and its settings.

``config.include("pyramid_tasks")`` calls ``config.set_celery_app()``
with the default, a :class:`~pyramid_tasks.PyramidCelery` for the
registry; an application may call it again with its own app, which wins
over the default as any directive of the application wins over one made
by an include. The ``celery.*`` and ``pyramid_tasks.*`` settings are
applied in an action, so ``config.add_settings`` calls made later in
configuration still count.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
import warnings

from celery.result import AsyncResult, GroupResult
from pyramid.config import PHASE0_CONFIG, PHASE2_CONFIG
from pyramid.exceptions import ConfigurationError

from ..application import PyramidCelery, get_celery_app
from ..context.url import public_environ
from ..exceptions import UnsafeSerializerWarning
from ..interfaces import ICeleryApp, IFuturePoller, ITaskRequestFactory
from ..web.futures import FuturePoller
from ..web.publisher import BrokerPublisher
from ..web.result import TaskGroupResult, TaskResult
from ..worker.taskrequest import TaskRequestFactory
from .settings import extract_celery_settings, read_setting

__all__ = ["configure_celery_app", "make_celery_app", "set_celery_app"]

#: Tasks deferred in an active transaction wait for its commit.
AFTER_COMMIT_SETTING = "pyramid_tasks.after_commit"
#: Scheme, host, port and path of task requests with no originating one.
PUBLIC_URL_SETTING = "pyramid_tasks.public_url"
#: Seconds between two checks of the pending futures.
POLL_SETTING = "pyramid_tasks.futures.poll_interval"
#: Seconds between two progress writes of one task run.
PROGRESS_INTERVAL_SETTING = "pyramid_tasks.progress.interval"

_UNSAFE_SERIALIZERS = {"pickle", "yaml", "application/x-python-serialize"}


def set_celery_app(
    config: Any,
    app: PyramidCelery | Callable[[Any], PyramidCelery] | str | None = None,
) -> PyramidCelery:
    """Set the Celery app of the application; return it.

    ``app`` is a :class:`~pyramid_tasks.PyramidCelery` made for
    ``config.registry``, or a factory (or its dotted name) called with
    the registry, such as a subclass; by default a ``PyramidCelery``.
    The app is ``registry.celery_app`` at once, so configuration code can
    add worker steps or signals to it::

        config.set_celery_app(MyCelery)    # MyCelery(registry)

    .. versionadded:: 1.0
    """
    app = config.maybe_dotted(app)
    registry = config.registry
    if app is None:
        # The default, made once however often pyramid_tasks is included.
        app = registry.queryUtility(ICeleryApp) or PyramidCelery(registry)
    elif not isinstance(app, PyramidCelery) and callable(app):
        app = app(registry)
    if not isinstance(app, PyramidCelery) or app.registry is not registry:
        raise ConfigurationError(
            f"set_celery_app: {app!r} is not a pyramid_tasks.PyramidCelery "
            "made for this registry"
        )
    # Configuration code may use the app before the commit, as it could
    # with pyramid-tasks 0.4; the action below settles which app wins.
    registry.registerUtility(app, ICeleryApp)
    registry.celery_app = app

    def register() -> None:
        registry.registerUtility(app, ICeleryApp)
        registry.celery_app = app
        if app.result_class is AsyncResult:
            app.result_class = TaskResult
        if app.group_result_class is GroupResult:
            app.group_result_class = TaskGroupResult
        if app.publisher is None:
            app.publisher = BrokerPublisher(app)

    intr = config.introspectable("celery app", "celery app", app.main, "app")
    intr["app"] = app
    # Before every other action of ours: they all use the app.
    config.action(
        ICeleryApp, register, order=PHASE0_CONFIG, introspectables=(intr,)
    )
    return app


def configure_celery_app(config: Any) -> None:
    """Register the action applying the settings to the app."""
    registry = config.registry

    def register() -> None:
        settings = registry.settings or {}
        app = get_celery_app(registry)
        app.conf.update(extract_celery_settings(settings))
        app.after_commit = read_setting(
            settings, AFTER_COMMIT_SETTING, bool, True
        )
        _check_serializers(app)
        public_url = read_setting(settings, PUBLIC_URL_SETTING, str, "")
        try:
            environ = public_environ(public_url)
        except ValueError as exc:
            raise ConfigurationError(
                f"Setting {PUBLIC_URL_SETTING!r} = {public_url!r} is not a "
                f"public URL: {exc}"
            ) from None
        registry.registerUtility(
            TaskRequestFactory(registry, environ), ITaskRequestFactory
        )
        interval = read_setting(settings, POLL_SETTING, float, 0.1, minimum=0)
        registry.registerUtility(FuturePoller(interval), IFuturePoller)
        app.progress_interval = read_setting(
            settings, PROGRESS_INTERVAL_SETTING, float, 0.5, minimum=0
        )

    # Celery must be configured before tasks are created in the default
    # phase: task classes read options such as serializers when bound.
    config.action(
        ("pyramid_tasks", "celery settings"), register, order=PHASE2_CONFIG
    )


def _check_serializers(app: PyramidCelery) -> None:
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


def make_celery_app(config: Any) -> PyramidCelery:
    """Commit the configuration and return the application's Celery app.

    The counterpart of ``config.make_wsgi_app()``::

        app = config.make_celery_app()
    """
    config.commit()
    return get_celery_app(config.registry)
