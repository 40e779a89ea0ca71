"""Build the Pyramid request every task receives in the worker.

This runs once per task, so everything that depends only on the
application (the request class with its extensions, the base WSGI
environ) is computed once per application and reused.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any

from pyramid.interfaces import IRequestExtensions, IRequestFactory
from pyramid.request import Request, apply_request_extensions

from .context import public_environ

__all__ = ["TaskRequestFactory", "PUBLIC_URL_SETTING"]

#: Setting giving the public URL used by requests made for tasks.
PUBLIC_URL_SETTING = "pyramid_tasks.public_url"


class TaskRequestFactory:
    """Make task requests for one registry.

    The application's request factory is subclassed once with its request
    methods and properties (``add_request_method``), which is what
    :func:`pyramid.request.apply_request_extensions` does for every
    request; doing it once keeps per-task cost flat.
    """

    def __init__(self, registry) -> None:
        self.registry = registry
        settings = registry.settings or {}
        public_url = settings.get(PUBLIC_URL_SETTING) or "http://localhost"
        factory = registry.queryUtility(IRequestFactory, default=Request)
        self.environ = public_environ(public_url)
        extensions = registry.queryUtility(IRequestExtensions)
        if isinstance(factory, type):
            self.request_class = _extend(factory, extensions)
            self.extensions = None
        else:
            self.request_class = factory
            self.extensions = extensions

    def __call__(self, environ: dict[str, Any] | None = None):
        """Return a new request, with ``environ`` merged over the base."""
        env = self.environ.copy()
        env["wsgi.input"] = BytesIO()
        if environ:
            env.update(environ)
        request = self.request_class(env)
        request.registry = self.registry
        if self.extensions is not None:
            apply_request_extensions(request, self.extensions)
        return request


def _extend(factory: type, extensions) -> type:
    if extensions is None or not (
        extensions.methods or extensions.descriptors
    ):
        return factory
    attrs = dict(extensions.methods)
    attrs.update(extensions.descriptors)
    attrs["__module__"] = factory.__module__
    return type(factory.__name__, (factory,), attrs)
