"""Terminal states for watched tasks that were never sent.

The result backend only hears of a task from the worker, so a task that
never reached the broker would stay ``PENDING`` there forever, and its
status URL would answer ``queued`` forever. When a status URL is made
for a handle still waiting for its transaction, these hooks wait for the
same transaction: if the task ends up dropped (the transaction aborted,
or the handle was cancelled) or failed to publish after the commit, a
terminal state is stored for its id. No worker can be running such a
task, so the marker races with nothing; a task re-sent later under the
same id overwrites it with its real states.
"""

from __future__ import annotations

import logging
from typing import Any

from ..redact import redact_urls
from ..web.delivery import active_transaction
from ..web.states import DROPPED, FAILED

__all__ = ["DROPPED_STATE", "NOT_SENT_STATE", "mark_if_never_sent"]

log = logging.getLogger(__name__)

#: Stored for a task whose transaction aborted, or that was cancelled.
DROPPED_STATE = "DROPPED"
#: Stored for a task that could not be published after the commit.
NOT_SENT_STATE = "NOT_SENT"

#: The marker state for each final delivery of a task never sent.
_MARKERS = {DROPPED: DROPPED_STATE, FAILED: NOT_SENT_STATE}


def mark_if_never_sent(request: Any, handle: Any) -> None:
    """Store a terminal state for ``handle`` if the request's transaction
    ends without sending its task.

    Does nothing when the request has no active transaction.
    """
    transaction = active_transaction(request)
    if transaction is None:
        return
    try:
        watch = transaction.data(_NeverSent)
    except KeyError:
        watch = _NeverSent()
        transaction.set_data(_NeverSent, watch)
        # Registered after the batch's own hooks (the task was deferred
        # first), so the delivery of each handle is final when they run.
        transaction.addAfterCommitHook(watch.after_commit)
        transaction.addAfterAbortHook(watch.mark)
    watch.handles[handle.id] = handle


class _NeverSent:
    """The watched handles of one transaction."""

    def __init__(self) -> None:
        self.handles: dict[str, Any] = {}

    def after_commit(self, committed: bool) -> None:
        self.mark()

    def mark(self) -> None:
        handles, self.handles = self.handles, {}
        for handle in handles.values():
            state = _MARKERS.get(handle.delivery)
            if state is not None:
                _store(handle, state)


def _store(handle: Any, state: str) -> None:
    meta = {"delivery": handle.delivery}
    try:
        handle.backend.store_result(handle.id, meta, state)
    except Exception as exc:
        # The transaction is over: nobody could act on the error.
        log.warning(
            "Task %s was never sent, and storing its %s state failed: %s",
            handle.id,
            state,
            redact_urls(exc),
        )
