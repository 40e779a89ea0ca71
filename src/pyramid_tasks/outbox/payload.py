"""A message as an outbox row stores it, and back.

A row holds the Celery signature of the message, with every option a
direct publish would use: the task id, the carried context and its
signature, the W3C ``traceparent`` of the deferring request when
OpenTelemetry is in use, and a countdown or a relative expiry already
turned into absolute times, so that a late relay adds no delay.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
import numbers
from typing import Any

from celery.canvas import Signature, signature
from kombu.utils.json import dumps, loads

from ..web.canvas import CanvasMessage

try:
    from opentelemetry import propagate
except ImportError:  # pragma: no cover - OpenTelemetry is optional
    propagate = None  # type: ignore[assignment]

__all__ = ["decode", "encode"]


def encode(message: Any) -> tuple[str, str, str]:
    """``(task id, task name, payload)`` of a single task or a workflow."""
    now = datetime.now(timezone.utc)
    if not isinstance(message, CanvasMessage):
        options = dict(message.options, task_id=message.result.id)
        _absolute(options, now)
        _trace(options)
        body = Signature(
            message.task.name, message.args, message.kwargs, options
        )
        payload = {"signature": dict(body), "options": {}}
    else:
        for entry in message.entries():
            _absolute(entry.options, now)
        options = dict(message.options)
        _absolute(options, now)
        _trace(options)
        payload = {"signature": dict(message.canvas), "options": options}
    return message.result.id, message.name, dumps(payload)


def decode(app: Any, payload: str) -> tuple[Signature, dict[str, Any]]:
    """The signature a row holds and the options to send it with."""
    data = loads(payload)
    return signature(data["signature"], app=app), data["options"]


def _absolute(options: dict[str, Any], now: datetime) -> None:
    """Turn ``countdown`` and a relative ``expires`` into times."""
    countdown = options.pop("countdown", None)
    if countdown is not None and options.get("eta") is None:
        options["eta"] = now + timedelta(seconds=countdown)
    expires = options.get("expires")
    if isinstance(expires, numbers.Real) and not isinstance(expires, bool):
        options["expires"] = now + timedelta(seconds=float(expires))


def _trace(options: dict[str, Any]) -> None:
    """Carry the current trace, as OpenTelemetry's Celery instrumentation
    would when the task is published (here: by the relay, later)."""
    if propagate is None:  # pragma: no cover - OpenTelemetry is optional
        return
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    if carrier:
        options["headers"] = {**(options.get("headers") or {}), **carrier}
