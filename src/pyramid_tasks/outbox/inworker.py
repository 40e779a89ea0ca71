"""The relay in the Celery worker's main process, when asked for.

With ``pyramid_tasks.outbox.in_worker = true`` each worker runs a relay
in a thread of its main process from the moment it is ready until it
shuts down, so no relay process of its own is needed. Several workers
run several relays, which never send a row twice.
"""

from __future__ import annotations

import threading
from typing import Any

from ..interfaces import IOutbox
from .relay import Relay

__all__ = ["start_relay_thread", "stop_relay_thread"]


def start_relay_thread(event: Any) -> None:
    """``CeleryWorkerReady`` subscriber: start the relay if asked to."""
    outbox = event.registry.queryUtility(IOutbox)
    if outbox is None or not outbox.relay_settings.in_worker:
        return
    stop = threading.Event()
    thread = threading.Thread(
        target=Relay(outbox, outbox.relay_settings).run,
        args=(stop,),
        name="pyramid_tasks-relay",
        daemon=True,
    )
    outbox.relay_thread = (thread, stop)
    thread.start()


def stop_relay_thread(event: Any) -> None:
    """``CeleryWorkerShutdown`` subscriber: let the relay finish its batch."""
    outbox = event.registry.queryUtility(IOutbox)
    running = getattr(outbox, "relay_thread", None)
    if running is not None:
        thread, stop = running
        stop.set()
        thread.join(30)
