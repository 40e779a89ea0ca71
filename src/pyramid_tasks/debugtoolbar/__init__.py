"""A "Tasks" panel for pyramid_debugtoolbar.

Enable it either way::

    debugtoolbar.includes = pyramid_tasks.debugtoolbar

    config.include("pyramid_debugtoolbar")
    config.include("pyramid_tasks.debugtoolbar")

The panel lists the tasks each request deferred: name, id, arguments and
options (cut short, secrets masked as in our logs), whether they waited
for the commit, their delivery (``waiting``, ``sent``, ``dropped``,
``failed``, ``stored``) and the time from ``defer_task`` to the broker;
the number of tasks is the panel's subtitle. With
``debugtoolbar.panels`` set, name ``pyramid_tasks`` in it (or in
``debugtoolbar.extra_panels``).

.. versionadded:: 1.0
"""

from __future__ import annotations

from typing import Any

from pyramid.exceptions import ConfigurationError
from pyramid_debugtoolbar.toolbar import IPanelMap, IToolbarWSGIApp

from .panel import TasksPanel, subscribe

__all__ = ["TasksPanel", "includeme"]


def includeme(config: Any) -> None:
    """Add the panel, from the toolbar's includes or the application."""
    if hasattr(config, "add_debugtoolbar_panel"):
        # debugtoolbar.includes: this is the toolbar's own configurator.
        config.add_debugtoolbar_panel(TasksPanel)
        config.inject_parent_action(subscribe)
        return
    subscribe(config)
    registry = config.registry

    def register() -> None:
        toolbar = registry.queryUtility(IToolbarWSGIApp)
        if toolbar is None:
            raise ConfigurationError(
                "pyramid_tasks.debugtoolbar adds a panel to "
                "pyramid_debugtoolbar: include pyramid_debugtoolbar too"
            )
        panels = toolbar.registry.getUtility(IPanelMap)
        panels[(TasksPanel.name, False)] = TasksPanel

    config.action(("pyramid_tasks", "debugtoolbar panel"), register)
