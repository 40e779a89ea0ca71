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


class IOutbox(Interface):
    """The transactional outbox (``pyramid_tasks.outbox``)."""
