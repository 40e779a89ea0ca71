"""HMAC signatures binding a carried context to one task message."""

from __future__ import annotations

from collections.abc import Sequence
import hashlib
import hmac
import json
from typing import Any

__all__ = ["sign", "verify"]


def sign(
    secret: bytes, name: str, task_id: str, carried: Any, environ: Any
) -> str:
    """The HMAC-SHA256 of a task's name, id, context and explicit environ.

    Binding the name and the id means a signed context cannot be moved to
    another task message.
    """
    payload = json.dumps(
        [name, task_id, carried, environ],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hmac.new(secret, payload.encode(), hashlib.sha256).hexdigest()


def verify(
    secrets: Sequence[bytes],
    signature: str,
    name: str,
    task_id: str,
    carried: Any,
    environ: Any,
) -> bool:
    """Whether ``signature`` was made with one of ``secrets``.

    Several secrets let a key rotate: the first signs, all verify.
    """
    return any(
        hmac.compare_digest(
            sign(secret, name, task_id, carried, environ), signature
        )
        for secret in secrets
    )
