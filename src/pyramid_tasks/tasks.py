"""Registering tasks and running them with a Pyramid request."""

from __future__ import annotations

from collections.abc import Callable
import inspect
import sys
from typing import Any

from celery import Task
from pyramid.exceptions import ConfigurationError
from pyramid.threadlocal import manager
import venusian

from .application import PyramidCelery, get_celery_app
from .context import CONTEXT_HEADER
from .derivers import TaskDeriverInfo, derive_task
from .events import BeforeTaskRun, TaskSucceeded
from .exceptions import UnknownTaskError
from .worker import PYRAMID_REQUEST, notifies_task_runs

__all__ = ["PyramidTask", "register_task", "task", "lookup_task"]

#: ``register_task`` options that would break the request-first calling
#: convention.
_FORBIDDEN_OPTIONS = ("bind", "shared", "lazy")


class PyramidTask(Task):
    """Base class of every task registered with ``config.register_task``.

    ``run`` builds a fresh Pyramid request from the application's request
    factory and calls the derived task function with it.
    """

    #: The task function as registered.
    original_func: Callable[..., Any]
    #: The task function wrapped by the task derivers.
    derived_func: Callable[..., Any]
    #: Names of the derivers that wrapped this task, outermost first.
    derivers: list[str]

    def run(self, *args: Any, **kwargs: Any) -> Any:
        app = self._app
        task_request = self.request
        environ = getattr(task_request, "environ", None)
        carried = getattr(task_request, CONTEXT_HEADER, None)
        if carried is not None or environ is not None:
            # Verified when signing is on; only allow-listed values apply.
            environ = app.task_context.open(
                self, task_request, carried, environ
            )
        request = app.task_request_factory(environ)
        if carried:
            app.task_context.restore(request, carried)
        request.current_task = self
        manager.push({"registry": app.registry, "request": request})
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
                manager.pop()


def register_task(
    config, func: Callable | str, name: str | None = None, **options: Any
) -> None:
    """Register ``func(request, *args, **kwargs)`` as a Celery task.

    ``options`` are Celery task options (``queue``, ``rate_limit``,
    ``autoretry_for``...) and any option of the application's own, which
    reaches the task derivers as ``info.options`` and becomes an attribute
    of the task. The default name is Celery's: ``module.function``::

        config.register_task(send_welcome_email, queue="mail")
    """
    func = config.maybe_dotted(func)
    if not callable(func):
        raise ConfigurationError(f"Task {func!r} is not callable")
    for option in _FORBIDDEN_OPTIONS:
        if option in options:
            raise ConfigurationError(
                f"Task option {option!r} is not supported by register_task "
                f"(task {name or func.__name__!r})"
            )
    base = config.maybe_dotted(options.pop("base", PyramidTask))
    if not (isinstance(base, type) and issubclass(base, PyramidTask)):
        raise ConfigurationError(
            f"Task option base={base!r} must subclass "
            "pyramid_tasks.PyramidTask"
        )
    _check_takes_request(func)
    app = get_celery_app(config.registry)
    name = name or app.gen_task_name(func.__name__, func.__module__)
    package = config.package

    intr = config.introspectable("tasks", name, name, "task")
    intr.update(name=name, func=func, options=options, base=base)

    def register() -> None:
        info = TaskDeriverInfo(config.registry, package, name, options, func)
        celery_task = app.task(
            _runner_for(func),
            name=name,
            base=base,
            bind=True,
            shared=False,
            lazy=False,
            original_func=staticmethod(func),
            deriver_info=info,
            **options,
        )
        cls = type(celery_task)
        # The stand-in gave the class its name and doc; the inherited
        # ``run`` does the work without an extra call per task.
        del cls.run
        if "_orig_run" in celery_task.__dict__:
            # ``autoretry_for`` wrapped the stand-in; wrap the real run.
            celery_task._orig_run = cls.run.__get__(celery_task)
        # Celery checks arguments against ``__header__`` when publishing;
        # make it the task function's signature without the request.
        cls.__header__ = staticmethod(app.type_checker(func, bound=True))
        _derive(celery_task)
        app.task_names[func] = name
        intr["task"] = celery_task

    config.action(("task", name), register, introspectables=(intr,))


def _runner_for(func: Callable) -> Callable:
    """Stand-in function that gives the task class its name and doc."""

    def run(self, *args, **kwargs):  # pragma: no cover - replaced
        raise NotImplementedError

    run.__name__ = func.__name__
    run.__qualname__ = getattr(func, "__qualname__", func.__name__)
    run.__module__ = func.__module__
    run.__doc__ = func.__doc__
    return run


def _derive(celery_task: PyramidTask) -> None:
    info = celery_task.deriver_info
    derived, applied = derive_task(info.registry, info.original_func, info)
    celery_task.derived_func = derived
    celery_task.derivers = applied


def rederive_tasks(registry) -> None:
    """Derive every registered task again (a deriver was added late)."""
    for celery_task in get_celery_app(registry)._tasks.values():
        if isinstance(celery_task, PyramidTask):
            _derive(celery_task)


def _check_takes_request(func: Callable) -> None:
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return
    kinds = [p.kind for p in signature.parameters.values()]
    positional = (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.VAR_POSITIONAL,
    )
    if not any(kind in positional for kind in kinds):
        raise ConfigurationError(
            f"Task {func.__qualname__!r} must take the request as its "
            "first positional argument"
        )


def lookup_task(app: PyramidCelery, func_or_name: Callable | str) -> Task:
    """Return the Celery task for a registered function or task name.

    :raises pyramid_tasks.exceptions.UnknownTaskError: nothing is
        registered under it; the message lists the closest names.
    """
    name = (
        func_or_name
        if isinstance(func_or_name, str)
        else app.task_names.get(func_or_name)
    )
    found = app._tasks.get(name) if name is not None else None
    if found is None:
        known = [n for n in app._tasks if not n.startswith("celery.")]
        raise UnknownTaskError(func_or_name, known)
    return found


class task:  # noqa: N801 (a decorator, named like view_config)
    """Decorator registering a task function when ``config.scan()`` runs.

    Takes the same arguments as ``config.register_task``::

        @task(name="add", queue="math")
        def add(request, x, y):
            return x + y
    """

    venusian = venusian

    def __init__(self, **options: Any) -> None:
        self.options = options

    def __call__(self, wrapped: Callable) -> Callable:
        options = self.options

        def callback(context, name, ob):
            config = context.config.with_package(info.module)
            config.register_task(ob, **options)

        info = self.venusian.attach(wrapped, callback, category="pyramid")
        return wrapped
