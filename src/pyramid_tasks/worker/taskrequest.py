"""Build the Pyramid request every task receives in the worker.

This runs once per task, so everything that depends only on the
application (the request class with its extensions, the base WSGI
environ) is computed once per application and reused.
"""

from __future__ import annotations

from functools import cached_property
from io import BytesIO
from typing import Any

from pyramid.interfaces import IRequestExtensions, IRequestFactory
from pyramid.request import Request, apply_request_extensions

__all__ = ["TaskRequestFactory"]


class TaskRequestFactory:
    """Make task requests for one registry.

    The application's request factory is subclassed once with its request
    methods and properties (``add_request_method``), which is what
    :func:`pyramid.request.apply_request_extensions` does for every
    request; doing it once keeps per-task cost flat. It happens on the
    first task, when the configuration is complete.

    :param registry: the application registry.
    :param environ: the base WSGI environ, from
        :func:`pyramid_tasks.context.public_environ`.
    """

    def __init__(self, registry: Any, environ: dict[str, Any]) -> None:
        self.registry = registry
        self.environ = environ

    @cached_property
    def _class_and_extensions(self) -> tuple[Any, Any]:
        registry = self.registry
        factory = registry.queryUtility(IRequestFactory, default=Request)
        extensions = registry.queryUtility(IRequestExtensions)
        if isinstance(factory, type):
            return _extend(factory, extensions), None
        return factory, extensions

    def __call__(self, environ: dict[str, Any] | None = None) -> Any:
        """Return a new request, with ``environ`` merged over the base."""
        request_class, extensions = self._class_and_extensions
        env = self.environ.copy()
        env["wsgi.input"] = BytesIO()
        if environ:
            env.update(environ)
        request = request_class(env)
        request.registry = self.registry
        if extensions is not None:
            apply_request_extensions(request, extensions)
        return request


def _extend(factory: type, extensions: Any) -> type:
    if extensions is None or not (
        extensions.methods or extensions.descriptors
    ):
        return factory
    attrs = dict(extensions.methods)
    attrs.update(extensions.descriptors)
    attrs["__module__"] = factory.__module__
    return type(factory.__name__, (factory,), attrs)
