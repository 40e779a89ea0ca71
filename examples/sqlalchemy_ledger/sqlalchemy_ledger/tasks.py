"""The task totalling the ledger."""

from time import sleep

from sqlalchemy import func, select

from .models import Entry, Total

#: The steps the task's wait is reported in.
STEPS = 10


def total_task(request, delay=0.0):
    """Total the ledger after ``delay`` seconds and record the total.

    The wait is reported in ``STEPS`` steps with
    ``request.report_progress``, so a page can show a progress bar. The
    task runs in its own transaction: the ``Total`` row is committed when
    it returns, and rolled back if it fails.
    """
    for step in range(STEPS):
        request.report_progress(step, STEPS, f"Waiting: step {step + 1}")
        sleep(delay / STEPS)
    request.report_progress(STEPS, STEPS, "Adding up")
    dbsession = request.dbsession
    total = int(dbsession.scalar(select(func.sum(Entry.value))) or 0)
    task_id = request.current_task.request.id
    dbsession.add(Total(task_id=task_id, value=total))
    return total


def includeme(config):
    # The status view may show the total: it is no secret.
    config.register_task(total_task, status_result=True)
