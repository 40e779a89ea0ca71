"""The task class: every task function gets a real Pyramid request."""

from __future__ import annotations

from collections.abc import Callable
import sys
from typing import Any

from celery import Task
from pyramid.threadlocal import RequestContext, get_current_request
from zope.interface import implementedBy

from ..context.carrier import CONTEXT_HEADER, SIGNATURE_HEADER
from ..events import BeforeTaskRun, TaskSucceeded
from ..web.publisher import (
    Message,
    PublishScope,
    current_scope,
    resume_scope,
    suspend_scope,
)
from ..web.request import defer_task_with_options

__all__ = ["PYRAMID_REQUEST", "PyramidTask", "notifies_task_runs"]

#: Attribute of Celery's task context holding the Pyramid request while
#: a failure or retry is reported.
PYRAMID_REQUEST = "pyramid_request"


class PyramidTask(Task):
    """Base class of every task registered with ``config.register_task``.

    ``run`` builds a fresh Pyramid request from the application's request
    factory, restores the context the message carries, and calls the
    derived task function with it. ``apply_async`` (and so ``delay`` and
    the signatures and workflows made of the task) follows the rule of
    ``request.defer_task`` when called while a request is handled.

    :ivar original_func: the task function as registered.
    :ivar derived_func: the task function wrapped by the task derivers.
    :ivar derivers: names of the derivers that wrapped it, outermost
        first.
    """

    original_func: Callable[..., Any]
    derived_func: Callable[..., Any]
    derivers: list[str]

    def apply_async(
        self,
        args: Any = None,
        kwargs: Any = None,
        task_id: str | None = None,
        producer: Any = None,
        link: Any = None,
        link_error: Any = None,
        shadow: str | None = None,
        **options: Any,
    ) -> Any:
        """Send the task, as Celery does; inside a request (a view, or a
        task), as ``request.defer_task_with_options`` does: after the
        commit of an active transaction, with the request context.

        ``after_commit=False`` sends at once, as for ``defer_task``.
        Outside a request the task is sent at once; publishes that
        Celery makes itself in a worker (retries, the rest of a chain,
        chord bodies) are sent at once.
        """
        scope = current_scope()
        if scope is None:
            named = _named(
                task_id=task_id,
                producer=producer,
                link=link,
                link_error=link_error,
                shadow=shadow,
            )
            return self._send(args or (), kwargs or {}, named | options)
        options.pop("after_commit", None)
        if scope.sink is not None:
            return scope.sink.intercept(
                self, args, kwargs, task_id, link, link_error, options
            )
        result = super().apply_async(
            args,
            kwargs,
            task_id,
            producer or scope.producer,
            link,
            link_error,
            shadow,
            **options,
        )
        scope.sent.append(result.id)
        return result

    def _send(
        self, args: Any, kwargs: dict[str, Any], options: dict[str, Any]
    ) -> Any:
        """A send made by application code: inside a request, deferred as
        ``defer_task_with_options`` defers; else at once, through the
        app's publisher (so the testing kit sees it too)."""
        request = get_current_request()
        if request is not None and request.registry is self._app.registry:
            # The transaction's batch chooses the producer.
            options.pop("producer", None)
            return defer_task_with_options(
                request, self, args, kwargs, **options
            )
        options.pop("after_commit", None)
        return self._app.publisher.publish(
            Message(self, tuple(args), kwargs, options)
        )

    def retry(self, *args: Any, **kwargs: Any) -> Any:
        """Celery's ``retry``, sent at once: never held for, or lost with,
        the transaction of the failing run."""
        with PublishScope():
            return super().retry(*args, **kwargs)

    def run(self, *args: Any, **kwargs: Any) -> Any:
        app = self._app
        task_request = self.request
        carried, environ, signature = _message_context(task_request)
        if carried is not None or environ is not None:
            # Verified when signing is on; only allow-listed values apply.
            environ = app.task_context.open(
                self.name, task_request.id, carried, environ, signature
            )
        request = app.task_request_factory(environ)
        if carried:
            app.task_context.restore(request, carried)
        request.current_task = self
        # A task run inside a publish (eager, the testing kit) is the
        # application's code again: its own sends follow the rules.
        scope = suspend_scope() if current_scope() is not None else None
        threadlocals = RequestContext(request)
        threadlocals.begin()
        notify = notifies_task_runs(app)
        try:
            if notify:
                app.registry.notify(BeforeTaskRun(request, self))
            result = self.derived_func(request, *args, **kwargs)
            if notify:
                app.registry.notify(TaskSucceeded(request, self, result))
            return result
        except BaseException as exc:
            request.exception = exc
            request.exc_info = sys.exc_info()
            if not task_request.called_directly:
                # Celery's failure and retry signals report our request.
                setattr(task_request, PYRAMID_REQUEST, request)
            raise
        finally:
            try:
                if "finished_callbacks" in request.__dict__:
                    request._process_finished_callbacks()
            finally:
                threadlocals.end()
                if scope is not None:
                    resume_scope(scope)


def _named(**options: Any) -> dict[str, Any]:
    """The options Celery names in ``apply_async`` that were given."""
    return {key: value for key, value in options.items() if value is not None}


def _message_context(task_request: Any) -> tuple[Any, Any, Any]:
    """The carried context, explicit environ and signature of a message.

    A worker makes the message headers attributes of Celery's task
    request; ``Task.apply()`` and eager runs keep them in ``headers``.
    """
    carried = getattr(task_request, CONTEXT_HEADER, None)
    environ = getattr(task_request, "environ", None)
    if carried is None and environ is None:
        headers = getattr(task_request, "headers", None)
        if not headers:
            return None, None, None
        carried = headers.get(CONTEXT_HEADER)
        environ = headers.get("environ")
        return carried, environ, headers.get(SIGNATURE_HEADER)
    return carried, environ, getattr(task_request, SIGNATURE_HEADER, None)


def notifies_task_runs(app: Any) -> bool:
    """Whether any subscriber listens to the task-run events of ``app``.

    Looking subscribers up costs more than a task should pay, so the
    answer is cached on the app until the registry's adapters change.
    """
    registry = app.registry
    if not registry.has_listeners:
        return False
    adapters = registry.adapters
    cached = app.__dict__.get("_run_listeners")
    if cached is not None and cached[0] == adapters._generation:
        return cached[1]  # type: ignore[no-any-return]
    found = any(
        adapters.subscriptions((implementedBy(event),), None)
        for event in (BeforeTaskRun, TaskSucceeded)
    )
    app._run_listeners = (adapters._generation, found)
    return found
