"""pyramid_tm integration; the same as :mod:`pyramid_tasks.transaction`."""

from ..transaction import includeme, transaction_task_deriver

__all__ = ["includeme", "transaction_task_deriver"]
