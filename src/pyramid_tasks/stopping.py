"""Long-running commands stop cleanly on SIGINT and SIGTERM."""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import signal
import threading
from typing import Any

__all__ = ["stop_on_signals"]


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Set ``stop`` on SIGINT or SIGTERM while inside; restore the
    previous handlers on exit."""

    def handler(signum: int, frame: Any) -> None:
        stop.set()

    previous = {
        signum: signal.signal(signum, handler)
        for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
