"""The web side of ``make soak``: one process defers many tasks.

Usage: ``python soak_web.py BROKER_URL QUEUE TOTAL CHECKPOINT...``.
Transactions of 10 deferred tasks each (a batch published after the
commit), with a subscriber to the defer and publish events, a task
context carried by every task, and every 10th transaction an aborted
one whose task's future settles as cancelled. Prints the process's RSS
in KiB after each checkpoint, as JSON.
"""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchapp  # noqa: E402
from harness import rss_kib  # noqa: E402
from sides import make_request  # noqa: E402
import transaction  # noqa: E402

BATCH = 10


def build(broker_url: str, queue: str):
    from pyramid_tasks import DeferredTaskPublished, TaskDeferred

    events = {"deferred": 0, "published": 0}

    def count(name):
        def subscriber(event):
            events[name] += 1

        return subscriber

    settings = {
        "celery.broker_url": broker_url,
        "celery.result_backend": "cache+memory://",
        "celery.task_default_queue": queue,
    }
    config = benchapp.make_config(settings, pyramid_tasks=True)
    config.add_subscriber(count("deferred"), TaskDeferred)
    config.add_subscriber(count("published"), DeferredTaskPublished)
    config.add_task_context("tenant", lambda request: "acme")
    app = config.make_celery_app()
    return app, events


def one_round(registry, number: int) -> None:
    manager = transaction.TransactionManager(explicit=True)
    request = make_request(
        registry, **{"tm.active": True, "tm.manager": manager}
    )
    manager.begin()
    for _ in range(BATCH):
        request.defer_task(benchapp.NOOP)
    manager.commit()
    if number % 10 == 0:
        manager.begin()
        future = request.defer_task(benchapp.NOOP).future
        manager.abort()
        assert future.cancelled()


def main(argv: list[str]) -> None:
    broker_url, queue, total, *checkpoints = argv
    app, events = build(broker_url, queue)
    points = sorted(map(int, checkpoints))
    out = {}
    for number in range(int(total) // BATCH):
        one_round(app.registry, number)
        done = (number + 1) * BATCH
        if done in points:
            out[done] = rss_kib(os.getpid())
    out["events"] = events
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
