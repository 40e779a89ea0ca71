"""Log records that say which task and which request they belong to."""

from __future__ import annotations

import logging

from pyramid.threadlocal import get_current_request

from ..interfaces import ITaskContext
from .builtins import REQUEST_ID_ENVIRON

__all__ = ["TaskContextFilter", "install_log_filter"]


class TaskContextFilter(logging.Filter):
    """Give log records ``task_name``, ``task_id`` and ``request_id``.

    Inside a task they name the task and the id of the request that
    deferred it; elsewhere they are ``-`` (and ``request_id`` is the
    current web request's). Values set by ``extra=`` are kept. Use
    ``%(request_id)s`` in a format; the worker adds the filter to its
    handlers when it starts (see :func:`install_log_filter`).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        attrs = record.__dict__
        if "request_id" in attrs and "task_id" in attrs:
            return True
        request = get_current_request()
        task_name = task_id = request_id = "-"
        if request is not None:
            environ = request.environ
            request_id = environ.get(REQUEST_ID_ENVIRON)
            if request_id is None:
                request_id = environ.get(_request_id_key(request), "-")
            task = getattr(request, "current_task", None)
            if task is not None:
                task_name = task.name
                task_id = task.request.id or "-"
        attrs.setdefault("task_name", task_name)
        attrs.setdefault("task_id", task_id)
        attrs.setdefault("request_id", request_id)
        return True


def _request_id_key(request: object) -> str:
    registry = getattr(request, "registry", None)
    context = registry.queryUtility(ITaskContext) if registry else None
    return context.request_id_key if context else "HTTP_X_REQUEST_ID"


def install_log_filter(*loggers: logging.Logger) -> None:
    """Add one :class:`TaskContextFilter` to the handlers of ``loggers``.

    Without arguments, to every handler of every configured logger. It is
    called when the worker has set up logging; call it again for handlers
    added later. Adding it twice to a handler does nothing.
    """
    if not loggers:
        manager = logging.root.manager
        loggers = (logging.root,) + tuple(
            logger
            for logger in manager.loggerDict.values()
            if isinstance(logger, logging.Logger)
        )
    for logger in loggers:
        for handler in logger.handlers:
            if not any(
                isinstance(f, TaskContextFilter) for f in handler.filters
            ):
                handler.addFilter(TaskContextFilter())
