"""Capture a request's context into a task message, restore it in the task.

:class:`TaskContext` holds, for one application, what travels: the URL
context and the allow-listed entries. ``request.defer_task`` captures
them into the message headers (signed when a secret is set); the worker
verifies and restores them on the task request before the task runs.
Nothing else travels: no cookie, no ``Authorization`` header, no session,
no other environ key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from celery.utils import uuid

from ..exceptions import TaskContextRejected
from .signing import sign, verify
from .url import capture_url, restore_url

__all__ = [
    "CONTEXT_HEADER",
    "SECRET_SETTING",
    "SIGNATURE_HEADER",
    "ContextEntry",
    "TaskContext",
]

#: Message header carrying the captured context.
CONTEXT_HEADER = "pyramid_tasks_context"
#: Message header carrying the HMAC of the context and explicit environ.
SIGNATURE_HEADER = "pyramid_tasks_signature"
#: The setting whose secrets sign the context.
SECRET_SETTING = "pyramid_tasks.context_secret"


@dataclass(frozen=True, slots=True)
class ContextEntry:
    """One value carried from a deferring request to its task request.

    :ivar name: the key in the carried context.
    :ivar capture: ``capture(request)`` returns a JSON value, or ``None``
        to carry nothing.
    :ivar restore_environ: ``restore_environ(environ, value)`` sets keys
        of the task request's environ before the request is made.
    :ivar restore: ``restore(request, value)`` sets it on the request.
    """

    name: str
    capture: Callable[[Any], Any]
    restore_environ: Callable[[dict[str, Any], Any], None] | None = None
    restore: Callable[[Any, Any], None] | None = None


class TaskContext:
    """What travels from a deferring request to its tasks, for one app.

    :param url: whether the URL context travels.
    :param entries: the built-in entries the settings enabled.
    :param secrets: the secrets that sign (the first) and verify (all).
    :param request_id_key: the environ key of the request id header.
    """

    def __init__(
        self,
        url: bool = True,
        entries: Iterable[ContextEntry] = (),
        secrets: Iterable[bytes] = (),
        request_id_key: str = "HTTP_X_REQUEST_ID",
    ) -> None:
        self.url = url
        self.secrets = tuple(secrets)
        self.signer = self.secrets[0] if self.secrets else None
        self.request_id_key = request_id_key
        self._builtins = {entry.name: entry for entry in entries}
        self._custom: dict[str, ContextEntry] = {}
        self._update()

    def add(self, entry: ContextEntry) -> None:
        """Carry one more value; a built-in of the same name is replaced."""
        self._custom[entry.name] = entry
        self._update()

    def _update(self) -> None:
        self.entries = tuple({**self._builtins, **self._custom}.values())
        #: Whether deferring has anything to capture at all.
        self.capturing = bool(self.url or self.entries or self.secrets)

    def carry(self, request: Any) -> dict[str, Any] | None:
        """The context of ``request`` to carry, or ``None`` for nothing."""
        carried: dict[str, Any] = {}
        if self.url:
            url = capture_url(request.environ)
            if url is not None:
                carried["url"] = url
        for entry in self.entries:
            value = entry.capture(request)
            if value is not None:
                carried[entry.name] = value
        return carried or None

    def stamp(
        self,
        options: dict[str, Any],
        task_name: str,
        carried: dict[str, Any] | None,
    ) -> None:
        """Put ``carried`` into the ``headers`` of one task's options.

        With a secret, the headers also get the signature of the context
        and of an explicit ``environ`` header, bound to the task's name
        and id (an id is chosen now when the options have none).
        """
        headers = options.get("headers")
        environ = headers.get("environ") if headers else None
        if carried is None and environ is None:
            return
        headers = dict(headers) if headers else {}
        if carried is not None:
            headers[CONTEXT_HEADER] = carried
        if self.signer is not None:
            task_id = options.get("task_id")
            if task_id is None:
                task_id = options["task_id"] = uuid()
            headers[SIGNATURE_HEADER] = sign(
                self.signer, task_name, task_id, carried, environ
            )
        options["headers"] = headers

    def open(
        self,
        task_name: str,
        task_id: str,
        carried: Any,
        environ: dict[str, Any] | None,
        signature: Any = None,
    ) -> dict[str, Any] | None:
        """Check a task message's context; return the task request environ.

        :raises pyramid_tasks.exceptions.TaskContextRejected: signing is
            on and the signature is missing or wrong, or the context is
            malformed.
        """
        if self.secrets:
            self._verify(task_name, task_id, carried, environ, signature)
        if not carried:
            return environ
        if not isinstance(carried, dict):
            raise _malformed(task_name, task_id, "not a mapping")
        restored: dict[str, Any] = {}
        try:
            url = carried.get("url") if self.url else None
            if url is not None:
                restore_url(restored, url)
            for entry in self.entries:
                value = carried.get(entry.name)
                if value is not None and entry.restore_environ is not None:
                    entry.restore_environ(restored, value)
        except (TypeError, ValueError, AttributeError) as exc:
            raise _malformed(task_name, task_id, exc) from None
        if environ:
            # The caller chose these keys explicitly: they win.
            restored.update(environ)
        return restored

    def restore(self, request: Any, carried: dict[str, Any]) -> None:
        """Restore request-level values (locale, custom entries)."""
        for entry in self.entries:
            if entry.restore is not None:
                value = carried.get(entry.name)
                if value is not None:
                    entry.restore(request, value)

    def _verify(
        self,
        task_name: str,
        task_id: str,
        carried: Any,
        environ: Any,
        signature: Any,
    ) -> None:
        if not isinstance(signature, str):
            reason = "it is not signed"
        elif verify(
            self.secrets,
            signature,
            task_name,
            task_id,
            carried or None,
            environ,
        ):
            return
        else:
            reason = "its signature does not match (tampered message?)"
        raise TaskContextRejected(
            f"Task {task_name}[{task_id}] rejected: {reason}; "
            f"{SECRET_SETTING} requires a signed request context"
        )


def _malformed(task_name: str, task_id: str, why: Any) -> TaskContextRejected:
    return TaskContextRejected(
        f"Task {task_name}[{task_id}] rejected: malformed "
        f"{CONTEXT_HEADER} header ({why})"
    )
