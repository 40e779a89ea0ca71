"""Test helpers for applications using pyramid_tasks, and a pytest plugin.

:func:`capture_tasks` records deferred tasks instead of publishing them,
and runs them on demand through the real path: the serializer round trip,
the task derivers, a fresh task request and its finished callbacks. In
*inline* mode each task runs when the request that deferred it has
finished (after its transaction committed), never inside it.

The pytest plugin :mod:`pytest_pyramid_tasks` (registered by the
``pytest11`` entry point) turns these helpers into fixtures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import contextlib
from typing import Any
import uuid

from pyramid.config import Configurator
from pyramid.request import Request, apply_request_extensions
from pyramid.threadlocal import get_current_request

from .result import DROPPED, SENT, WAITING, TaskResult

__all__ = [
    "CapturedTask",
    "TaskCapture",
    "TasksApp",
    "capture_tasks",
    "make_tasks_app",
    "memory_settings",
    "worker_thread",
]


class CapturedTask:
    """A task deferred while :class:`TaskCapture` was installed.

    :ivar name: the task name.
    :ivar task: the Celery task.
    :ivar args: the positional arguments, as given.
    :ivar kwargs: the keyword arguments, as given.
    :ivar options: the ``apply_async`` options.
    :ivar id: the task id given to the caller.
    :ivar result: the handle given to the caller.
    :ivar after_commit: whether the task waited for a transaction.
    :ivar outcome: Celery's ``EagerResult`` of the last run, or ``None``.
    """

    def __init__(self, task, args, kwargs, options, result, after_commit):
        from kombu.serialization import dumps

        self.name: str = task.name
        self.task = task
        self.args: tuple = tuple(args)
        self.kwargs: dict[str, Any] = dict(kwargs)
        self.options: dict[str, Any] = {
            k: v for k, v in options.items() if k != "task_id"
        }
        self.id: str = result.id
        self.result: TaskResult = result
        self.after_commit: bool = after_commit
        self.outcome = None
        serializer = options.get("serializer") or task.serializer
        # Encode now, as publishing would: the run decodes these bytes.
        self._message = dumps((self.args, self.kwargs), serializer=serializer)

    @property
    def committed(self) -> bool | None:
        """``True`` once the transaction committed (the task was sent),
        ``False`` if it aborted or the handle was cancelled, ``None``
        while waiting or when the task did not wait for a transaction."""
        if not self.after_commit:
            return None
        delivery = self.result.delivery
        if delivery == WAITING:
            return None
        return delivery != DROPPED

    @property
    def sent(self) -> bool:
        """Whether a real publisher would have sent it by now."""
        return self.result.delivery == SENT

    def run(self) -> Any:
        """Run the task now, as a worker would; return its result.

        The arguments come from the encoded message, the task gets a fresh
        request (derivers, finished callbacks), failures and retries fire
        the same events as in a worker, and the handle given to the caller
        holds the outcome. A retry runs again at once.

        :raises Exception: whatever the task raised.
        """
        from billiard.einfo import ExceptionInfo, ExceptionWithTraceback
        from celery.app.trace import build_tracer
        from celery.exceptions import Retry
        from celery.result import EagerResult
        from celery.utils.nodenames import gethostname
        from kombu.serialization import loads, prepare_accept_content

        task = self.task
        app = task._app
        content_type, encoding, body = self._message
        accept = prepare_accept_content(app.conf.accept_content)
        args, kwargs = loads(body, content_type, encoding, accept=accept)
        options = self.options
        headers = dict(options.get("headers") or {})
        context = {
            "id": self.id,
            "task": self.name,
            "root_id": self.id,
            "parent_id": None,
            "group": options.get("group_id"),
            "group_index": options.get("group_index"),
            "retries": 0,
            "is_eager": True,
            "hostname": gethostname(),
            "callbacks": None,
            "errbacks": None,
            "headers": headers,
            "delivery_info": {
                "is_eager": True,
                "exchange": options.get("exchange"),
                "routing_key": options.get("routing_key"),
                "priority": options.get("priority"),
            },
        }
        # In a worker, message headers become attributes of task.request.
        context.update(headers)
        tracer = build_tracer(
            task.name, task, eager=True, propagate=False, app=app
        )
        traced = tracer(self.id, args, kwargs, context)
        retval, traceback = traced.retval, None
        if isinstance(retval, ExceptionInfo):
            retval, traceback = retval.exception, retval.traceback
            if isinstance(retval, ExceptionWithTraceback):
                retval = retval.exc
        if isinstance(retval, Retry) and retval.sig is not None:
            # As Task.apply does: the retry runs now, eagerly.
            retried = retval.sig.apply(retries=1)
            state, retval = retried.state, retried.result
            traceback = retried.traceback
        else:
            state = "SUCCESS" if traced.info is None else traced.info.state
        self.outcome = EagerResult(
            self.id, retval, state, traceback=traceback, name=self.name
        )
        if not (task.ignore_result or options.get("ignore_result")):
            # A worker stores the outcome, so a later lookup by id (e.g. a
            # result view) finds it.
            task.backend.store_result(
                self.id, retval, state, traceback=traceback
            )
        # Settle the caller's handle (and its future) as a worker would.
        self.result._maybe_set_cache(
            {
                "task_id": self.id,
                "status": state,
                "result": retval,
                "traceback": traceback,
                "children": [],
            }
        )
        return self.outcome.get(propagate=True, disable_sync_subtasks=False)

    def __repr__(self) -> str:
        arguments = [repr(a) for a in self.args] + [
            f"{k}={v!r}" for k, v in self.kwargs.items()
        ]
        flag = " after commit" if self.after_commit else ""
        return f"<CapturedTask {self.name}({', '.join(arguments)}){flag}>"


class TaskCapture:
    """Records the tasks an application defers; install with
    :func:`capture_tasks`.

    Deferral works as in production (argument and serializer checks,
    events, waiting for the commit) up to the broker, which is never
    contacted. In inline mode each sent task is run once the current
    request has finished (at once outside a request).

    :ivar tasks: every :class:`CapturedTask`, in order.
    :ivar inline: whether tasks run by themselves.
    :ivar raise_errors: in inline mode, re-raise the first task error.
    """

    def __init__(
        self, app, inline: bool = False, raise_errors: bool = True
    ) -> None:
        self.app = app
        self.inline = inline
        self.raise_errors = raise_errors
        self.tasks: list[CapturedTask] = []
        self._held: dict[str, CapturedTask] = {}
        self._due: list[CapturedTask] = []

    # The publisher protocol (see PyramidCelery.task_publisher).

    def hold(self, task, args, kwargs, options, result) -> None:
        record = CapturedTask(task, args, kwargs, options, result, True)
        self._held[record.id] = record
        self.tasks.append(record)

    def send(self, task, args, kwargs, options) -> TaskResult:
        record = self._held.pop(options.get("task_id"), None)
        if record is None:
            from celery.utils import uuid as celery_uuid

            task_id = options.get("task_id") or celery_uuid()
            result = task.AsyncResult(task_id)
            record = CapturedTask(task, args, kwargs, options, result, False)
            self.tasks.append(record)
        if self.inline:
            self._schedule(record)
        return record.result

    # Inspecting.

    def __iter__(self) -> Iterator[CapturedTask]:
        return iter(self.tasks)

    def __len__(self) -> int:
        return len(self.tasks)

    def __getitem__(self, index: int) -> CapturedTask:
        return self.tasks[index]

    def named(self, func_or_name: Callable | str) -> list[CapturedTask]:
        """The captured tasks of one task function or name."""
        name = self._name(func_or_name)
        return [record for record in self.tasks if record.name == name]

    def assert_deferred(
        self,
        func_or_name: Callable | str,
        *args: Any,
        after_commit: bool | None = None,
        **kwargs: Any,
    ) -> CapturedTask:
        """Return the task deferred with exactly these arguments.

        :param after_commit: also require that it waited for a commit
            that happened (``True``) or that it did not wait (``False``).
        :raises AssertionError: no such task; the message lists what was
            captured.
        """
        name = self._name(func_or_name)
        for record in self.tasks:
            if (
                record.name == name
                and record.args == args
                and record.kwargs == kwargs
                and (
                    after_commit is None
                    or (
                        record.committed
                        if after_commit
                        else not record.after_commit
                    )
                )
            ):
                return record
        arguments = [repr(a) for a in args] + [
            f"{k}={v!r}" for k, v in kwargs.items()
        ]
        wanted = f"{name}({', '.join(arguments)})"
        if after_commit is not None:
            wanted += " after commit" if after_commit else " at once"
        raise AssertionError(
            f"{wanted} was not deferred; captured: {self.tasks!r}"
        )

    def run_all(self) -> list[Any]:
        """Run every sent task not run yet, including the tasks they
        defer; return their results in order.

        :raises Exception: the first task error, after running the rest.
        """
        results, errors = [], []
        index = 0
        while index < len(self.tasks):
            record = self.tasks[index]
            index += 1
            if record.sent and record.outcome is None:
                try:
                    results.append(record.run())
                except Exception as exc:  # noqa: BLE001 - reported below
                    results.append(exc)
                    errors.append(exc)
        if errors:
            raise errors[0]
        return results

    def clear(self) -> None:
        """Forget every captured task."""
        self.tasks = []
        self._held = {}
        self._due = []

    # Installing.

    def install(self) -> TaskCapture:
        if self.app.task_publisher is not None:
            raise RuntimeError("Tasks are already captured for this app")
        self.app.task_publisher = self
        return self

    def uninstall(self) -> None:
        if self.app.task_publisher is self:
            self.app.task_publisher = None

    def _schedule(self, record: CapturedTask) -> None:
        request = get_current_request()
        self._due.append(record)
        if request is None:
            self._run_due()
        elif len(self._due) == 1:
            request.add_finished_callback(lambda _request: self._run_due())

    def _run_due(self) -> None:
        errors = []
        while self._due:
            record = self._due.pop(0)
            try:
                record.run()
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
        if errors and self.raise_errors:
            raise errors[0]

    def _name(self, func_or_name: Callable | str) -> str:
        if isinstance(func_or_name, str):
            return func_or_name
        from .tasks import lookup_task

        return lookup_task(self.app, func_or_name).name


@contextlib.contextmanager
def capture_tasks(
    target, inline: bool = False, raise_errors: bool = True
) -> Iterator[TaskCapture]:
    """Capture the tasks deferred by an application while in the block.

    ``target`` is the Celery app, the registry, a configurator or a
    request::

        with capture_tasks(request.registry) as captured:
            view(request)
        captured.assert_deferred(send_email, user_id=3, after_commit=True)
        captured.run_all()

    With ``inline=True`` tasks run by themselves after the request that
    deferred them finished; a task error is raised to the test unless
    ``raise_errors=False``.
    """
    app = _celery_app(target)
    capture = TaskCapture(app, inline=inline, raise_errors=raise_errors)
    capture.install()
    try:
        yield capture
    finally:
        capture.uninstall()


def _celery_app(target):
    from .application import PyramidCelery

    if isinstance(target, PyramidCelery):
        return target
    registry = getattr(target, "registry", target)
    return registry.celery_app


def memory_settings(**settings: Any) -> dict[str, Any]:
    """Settings for an in-memory broker and result store, with a queue
    name private to the caller, updated with ``settings``."""
    result = {
        "celery.broker_url": "memory://",
        "celery.result_backend": "cache+memory://",
        "celery.task_default_queue": f"pyramid_tasks_{uuid.uuid4().hex}",
        # A worker in a thread then notices messages and stops at once.
        "celery.broker_transport_options.polling_interval": "0.05",
    }
    result.update(settings)
    return result


class TasksApp:
    """A configured application for tests.

    :ivar config: the committed configurator.
    :ivar registry: the application registry.
    :ivar celery_app: the application's Celery app.
    """

    def __init__(self, config: Configurator) -> None:
        self.config = config
        self.celery_app = config.make_celery_app()
        self.registry = config.registry
        self._wsgi_app = None

    @property
    def wsgi_app(self):
        """The WSGI application, made on first use."""
        if self._wsgi_app is None:
            self._wsgi_app = self.config.make_wsgi_app()
        return self._wsgi_app

    def make_request(self, path: str = "/", **environ: Any) -> Request:
        """A request as the router makes it, request methods included."""
        request = Request.blank(path, environ)
        request.registry = self.registry
        apply_request_extensions(request)
        return request


def make_tasks_app(
    setup: Callable[[Configurator], Any] | None = None, **settings: Any
) -> TasksApp:
    """Configure an application with pyramid_tasks on an in-memory broker.

    :param setup: called with the configurator to include the
        application's own configuration.
    :param settings: settings over :func:`memory_settings`.
    """
    config = Configurator(settings=memory_settings(**settings))
    config.include("pyramid_tasks")
    if setup is not None:
        setup(config)
    return TasksApp(config)


@contextlib.contextmanager
def worker_thread(celery_app, **options: Any) -> Iterator[Any]:
    """A real Celery worker consuming in a thread, stopped on exit.

    Celery's :func:`~celery.contrib.testing.worker.start_worker` with the
    solo pool; ``options`` override its arguments.
    """
    from celery.contrib.testing.worker import start_worker
    from celery.worker import state

    options.setdefault("pool", "solo")
    options.setdefault("perform_ping_check", False)
    options.setdefault("shutdown_timeout", 20)
    if _WAKE not in celery_app.tasks:
        celery_app.task(name=_WAKE, shared=False, lazy=False)(_wake)
    with start_worker(celery_app, **options) as worker:
        try:
            yield worker
        finally:
            # The worker looks for the stop flag between messages, then
            # waits for one more: two messages make it stop now rather
            # than after two poll timeouts.
            state.should_terminate = 0
            for _ in range(2):
                celery_app.send_task(_WAKE, ignore_result=True)


_WAKE = "pyramid_tasks.testing.wake"


def _wake() -> None:
    """A message that only wakes the worker up."""
