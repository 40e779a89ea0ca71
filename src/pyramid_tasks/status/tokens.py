"""The tokens that make a task status URL a capability.

A token is the HMAC-SHA256 of the task id under the application's status
secret, base64url without padding (43 characters). Nobody without the
secret can make one, so task ids cannot be guessed or enumerated through
the status view. The token also says whether the view may show the
task's result: the two kinds are signed apart.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
import hashlib
import hmac

__all__ = ["TOKEN_PATTERN", "StatusTokens"]

#: What a token looks like, for the route pattern.
TOKEN_PATTERN = "[A-Za-z0-9_-]{43}"

_DOMAIN = b"pyramid_tasks.status\0"
_SCOPES = {False: b"state\0", True: b"result\0"}


class StatusTokens:
    """Signs task ids with the first secret, and checks them with all.

    Several secrets let a key rotate, as for
    ``pyramid_tasks.context_secret``: put the new secret first and keep
    the old one until the URLs it signed are no longer used.

    :param secrets: one or more secrets, the first signs.
    """

    def __init__(self, secrets: Sequence[bytes]) -> None:
        if not secrets:
            raise ValueError("StatusTokens needs at least one secret")
        self.secrets = tuple(secrets)

    def sign(self, task_id: str, show_result: bool = False) -> str:
        """The token of ``task_id``; ``show_result`` lets the status view
        answer the task's result."""
        return _mac(self.secrets[0], task_id, show_result)

    def verify(self, task_id: str, token: str) -> bool | None:
        """Whether the view may show the result (``True``/``False``), or
        ``None`` when no secret signed ``token`` for ``task_id``."""
        given = token.encode("utf-8", "surrogateescape")
        for show_result in (False, True):
            for secret in self.secrets:
                expected = _mac(secret, task_id, show_result).encode()
                if hmac.compare_digest(expected, given):
                    return show_result
        return None


def _mac(secret: bytes, task_id: str, show_result: bool) -> str:
    message = (
        _DOMAIN
        + _SCOPES[show_result]
        + task_id.encode("utf-8", "surrogateescape")
    )
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
