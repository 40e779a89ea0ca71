"""The few zope interfaces pyramid_tasks needs."""

from zope.interface import Interface


class ITaskDerivers(Interface):
    """The registry utility holding the sorted task derivers."""
