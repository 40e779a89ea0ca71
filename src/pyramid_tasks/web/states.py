"""Where a deferred task is on its way to the broker."""

__all__ = ["DROPPED", "FAILED", "SENT", "STORED", "WAITING"]

#: The task message was handed to the broker.
SENT = "sent"
#: The task waits for the transaction to commit before it is sent.
WAITING = "waiting"
#: The transaction aborted, so the task was never sent.
DROPPED = "dropped"
#: The transaction committed but publishing failed after every retry.
FAILED = "failed"
#: The task is a row of the outbox, committed with the transaction; the
#: relay sends it.
STORED = "stored"
