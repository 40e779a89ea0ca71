"""Worker-side hooks: Celery signals turned into Pyramid events."""

from __future__ import annotations

from celery import current_app, signals

from .application import PyramidCelery
from .events import CeleryWorkerProcessInit

__all__ = ["connect_worker_signals"]


def connect_worker_signals() -> None:
    """Connect our receivers once per process, however often included."""
    signals.worker_process_init.connect(
        _on_worker_process_init,
        weak=False,
        dispatch_uid="pyramid_tasks.worker_process_init",
    )


def _on_worker_process_init(**kwargs) -> None:
    # The signal names no app; the worker made its app the current one.
    app = current_app._get_current_object()
    if isinstance(app, PyramidCelery):
        app.registry.notify(CeleryWorkerProcessInit(app.registry))
