"""A bare Celery worker with the benchmark tasks: no Pyramid at all."""

import os

from benchapp import DONE, NOOP, NOOP_STORE, ready_file_on_worker_ready
from celery import Celery

app = Celery("plain_bare", set_as_current=False)
app.conf.update(
    broker_url=os.environ["BENCH_BROKER_URL"],
    result_backend=os.environ["BENCH_RESULT_URL"],
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
)
ready_file_on_worker_ready()


@app.task(name=NOOP, ignore_result=True, shared=False)
def noop():
    """Do nothing."""


@app.task(name=NOOP_STORE, ignore_result=False, shared=False)
def noop_store():
    """Do nothing, store the result."""


@app.task(name=DONE, ignore_result=False, shared=False)
def done():
    """Mark the end of a drained batch."""
