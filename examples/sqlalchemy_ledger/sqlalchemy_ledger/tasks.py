"""The task totalling the ledger."""

from time import sleep

from sqlalchemy import func, select

from .models import Entry, Total


def total_task(request, delay=0.0):
    """Total the ledger after ``delay`` seconds and record the total.

    The task runs in its own transaction: the ``Total`` row is committed
    when it returns, and rolled back if it fails.
    """
    sleep(delay)
    dbsession = request.dbsession
    total = int(dbsession.scalar(select(func.sum(Entry.value))) or 0)
    task_id = request.current_task.request.id
    dbsession.add(Total(task_id=task_id, value=total))
    return total


def includeme(config):
    config.register_task(total_task)
