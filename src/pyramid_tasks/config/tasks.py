"""Registering tasks: ``config.register_task`` and the ``@task`` decorator."""

from __future__ import annotations

from collections.abc import Callable
import functools
import inspect
from typing import Any

from celery.utils.functional import head_from_fun
from celery.utils.imports import gen_task_name
from pyramid.exceptions import ConfigurationError
import venusian

from ..application import get_celery_app
from ..worker.task import PyramidTask
from .derivers import TaskDeriverInfo, derive

__all__ = ["register_task", "task"]

#: ``register_task`` options that would break the request-first calling
#: convention.
_FORBIDDEN_OPTIONS = ("bind", "shared", "lazy")


def register_task(
    config: Any,
    func: Callable[..., Any] | str,
    name: str | None = None,
    **options: Any,
) -> None:
    """Register ``func(request, *args, **kwargs)`` as a Celery task.

    ``func`` is any callable taking the request first: a function, a
    bound method, a :func:`functools.partial` or a callable object (a
    callable object needs ``name``). ``options`` are Celery task options
    (``queue``, ``rate_limit``, ``autoretry_for``...) and any option of
    the application's own, which reaches the task derivers as
    ``info.options`` and becomes an attribute of the task. The default
    name is Celery's: ``module.function``::

        config.register_task(send_welcome_email, queue="mail")

    :raises pyramid.exceptions.ConfigurationError: ``func`` is not
        callable, takes no request, or has no name to default to.
    """
    func = config.maybe_dotted(func)
    if not callable(func):
        raise ConfigurationError(f"Task {func!r} is not callable")
    name = name or _default_name(config, func)
    for option in _FORBIDDEN_OPTIONS:
        if option in options:
            raise ConfigurationError(
                f"Task option {option!r} is not supported by register_task "
                f"(task {name!r})"
            )
    base = config.maybe_dotted(options.pop("base", PyramidTask))
    if not (isinstance(base, type) and issubclass(base, PyramidTask)):
        raise ConfigurationError(
            f"Task option base={base!r} must subclass "
            "pyramid_tasks.PyramidTask"
        )
    header = _header(name, func)
    info = TaskDeriverInfo(
        config.registry, config.package, name, options, func
    )
    intr = config.introspectable("tasks", name, name, "task")
    intr.update(name=name, func=func, options=options, base=base)

    def register() -> None:
        intr["task"] = _make_task(info, base, header)

    config.action(("task", name), register, introspectables=(intr,))


def _make_task(
    info: TaskDeriverInfo, base: type, header: Callable[..., None]
) -> PyramidTask:
    """Create the Celery task of a registered function and derive it."""
    app = get_celery_app(info.registry)
    func = info.original_func
    celery_task = app.task(
        _runner_for(func),
        name=info.name,
        base=base,
        bind=True,
        shared=False,
        lazy=False,
        original_func=staticmethod(func),
        deriver_info=info,
        **info.options,
    )
    cls = type(celery_task)
    # The stand-in gave the class its name and doc; the inherited ``run``
    # does the work without an extra call per task.
    del cls.run
    if "_orig_run" in celery_task.__dict__:
        # ``autoretry_for`` wrapped the stand-in; wrap the real run.
        celery_task._orig_run = cls.run.__get__(celery_task)
    # Celery checks arguments against ``__header__`` when publishing; make
    # it the task function's signature without the request.
    cls.__header__ = staticmethod(header)
    derive(celery_task)
    try:
        app.task_names[func] = info.name
    except TypeError:
        pass  # unhashable: found by its name only
    return celery_task  # type: ignore[no-any-return]


def _default_name(config: Any, func: Any) -> str:
    """Celery's default name of a function, method or partial."""
    target = func
    while isinstance(target, functools.partial):
        target = target.func
    if not (inspect.isfunction(target) or inspect.ismethod(target)):
        raise ConfigurationError(
            f"Task {func!r} has no name to default to: pass "
            "register_task(..., name=...)"
        )
    app = config.registry.celery_app
    return str(gen_task_name(app, target.__name__, target.__module__))


def _header(name: str, func: Callable[..., Any]) -> Callable[..., None]:
    """A callable raising ``TypeError`` for arguments ``func`` refuses.

    Celery's own checker is the fastest, but knows plain, named
    functions only.
    """
    if inspect.isfunction(func) and func.__name__.isidentifier():
        _check_takes_request(
            func.__qualname__,
            list(inspect.signature(func).parameters.values()),
        )
        return head_from_fun(func, bound=True)  # type: ignore[no-any-return]
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(
            f"Task {name!r}: cannot read the signature of {func!r}: {exc}"
        ) from None
    params = list(signature.parameters.values())
    _check_takes_request(name, params)
    without_request = signature.replace(parameters=params[1:])

    def header(*args: Any, **kwargs: Any) -> None:
        without_request.bind(*args, **kwargs)

    return header


def _check_takes_request(name: str, params: list[inspect.Parameter]) -> None:
    positional = (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.VAR_POSITIONAL,
    )
    if not any(param.kind in positional for param in params[:1]):
        raise ConfigurationError(
            f"Task {name!r} must take the request as its first positional "
            "argument"
        )


def _runner_for(func: Callable[..., Any]) -> Callable[..., Any]:
    """Stand-in function that gives the task class its name and doc."""

    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        """Replaced by :meth:`PyramidTask.run` once the task exists."""

    target = func
    while isinstance(target, functools.partial):
        target = target.func
    name = getattr(target, "__name__", None) or type(target).__name__
    run.__name__ = name
    run.__qualname__ = getattr(target, "__qualname__", name)
    run.__module__ = getattr(target, "__module__", None) or __name__
    run.__doc__ = getattr(target, "__doc__", None)
    return run


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

    def __call__(self, wrapped: Callable[..., Any]) -> Callable[..., Any]:
        options = self.options

        def callback(context: Any, name: str, ob: Any) -> None:
            config = context.config.with_package(info.module)
            config.register_task(ob, **options)

        info = self.venusian.attach(wrapped, callback, category="pyramid")
        return wrapped
