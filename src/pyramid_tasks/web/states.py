"""Where a deferred task is on its way to the broker."""

__all__ = ["DROPPED", "FAILED", "SENT", "WAITING"]

#: The task message was handed to the broker.
SENT = "sent"
#: The task waits for the transaction to commit before it is sent.
WAITING = "waiting"
#: The transaction aborted, so the task was never sent.
DROPPED = "dropped"
#: The transaction committed but publishing failed after every retry.
FAILED = "failed"
