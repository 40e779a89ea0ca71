"""The registry utilities of pyramid_tasks.

Each component an application may look up or replace is registered under
one of these interfaces by a configuration action, as Pyramid registers
its own (``IRequestFactory``, ``IRequestExtensions``...).
"""

from zope.interface import Interface


class ICeleryApp(Interface):
    """The Celery app of the application (``config.set_celery_app``)."""


class ITaskDerivers(Interface):
    """The sorted task derivers (``config.add_task_deriver``)."""


class ITaskContext(Interface):
    """What travels from a deferring request to its tasks."""


class ITaskRequestFactory(Interface):
    """Makes the Pyramid request each task receives in the worker."""


class IFuturePoller(Interface):
    """The thread that settles the futures of deferred tasks."""


class ITaskMetrics(Interface):
    """Task outcome counters (``config.include("pyramid_tasks.metrics")``)."""


class ITaskStatusTokens(Interface):
    """Signs and checks the tokens of task status URLs
    (``config.include("pyramid_tasks.status")``)."""


class ITaskDeliveryState(Interface):
    """Where a task the result backend does not know yet is, for the
    status view: register any number of these, e.g. an outbox that
    stores tasks before it sends them.

    The status view asks each one about a task whose backend state is
    ``PENDING``; the first answer that is not ``None`` is the task's
    state, and ``"queued"`` when none answers.
    """

    def state_of(task_id: str) -> str | None:
        """The state of the task ``task_id`` (a short lower-case word
        such as ``"stored"``), or ``None`` if this one does not know it."""


class IOutbox(Interface):
    """The transactional outbox (``pyramid_tasks.outbox``)."""
