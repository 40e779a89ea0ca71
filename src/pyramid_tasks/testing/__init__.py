"""Test helpers for applications using pyramid_tasks, and a pytest plugin.

:func:`capture_tasks` records deferred tasks instead of publishing them
and runs them on demand through the real path (:mod:`.capture`);
:func:`make_tasks_app` and :func:`worker_thread` give an application on
an in-memory broker and a real worker for it (:mod:`.apps`). The pytest
plugin :mod:`pytest_pyramid_tasks` turns these into fixtures.
"""

from .apps import TasksApp, make_tasks_app, memory_settings, worker_thread
from .capture import TaskCapture, capture_tasks
from .captured import CapturedTask

__all__ = [
    "CapturedTask",
    "TaskCapture",
    "TasksApp",
    "capture_tasks",
    "make_tasks_app",
    "memory_settings",
    "worker_thread",
]
