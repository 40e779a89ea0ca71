"""Proof 6: workflows keep the promise, on Redis and on RabbitMQ.

A pyramid_tm view on PostgreSQL inserts a row and defers a signature, a
chain, a group or a chord of tasks that read it; a real ``celery -A
pyramid_tasks worker --ini`` process runs them. After a commit, every
task ran, saw the row, built its link with the host of the deferring
request, and ran under the id the view was given. After an abort, a doom
or a veto, and for a workflow with one bad task, the broker holds no
message. A task that asks Celery to retry twice inside its transaction
then succeeds, its retries counted.
"""

from __future__ import annotations

import os
import sys

import pytest
import sqlalchemy as sa
from webtest import TestApp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import proof_app  # noqa: E402
from proof_support import (  # noqa: E402
    private_database,
    redis_keys,
    worker,
    write_ini,
)

from pyramid_tasks import UnknownTaskError  # noqa: E402

from services import (  # noqa: E402
    REDIS_URL,
    broker_settings,
    queued,
    settled_queued,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

HOST = "shop.example:8080"
ENDS = ("abort", "doom", "veto", "bad")


@pytest.mark.parametrize("kind", ["redis", "amqp"])
def test_every_form_of_workflow_keeps_the_promise(kind, tmp_path, capsys):
    settings = broker_settings(kind)
    key = settings["celery.task_default_queue"] + ":proof"
    settings.update(
        {
            # Chords need a backend that counts: Redis for both brokers.
            "celery.result_backend": REDIS_URL,
            "proof.redis_url": REDIS_URL,
            "proof.key": key,
        }
    )
    with private_database() as db_url, redis_keys(key):
        settings["proof.db_url"] = db_url
        ini = write_ini(str(tmp_path), settings)
        wsgi = proof_app.main({}, **settings)
        try:
            figures = _prove(wsgi, ini)
        finally:
            wsgi.registry.proof_engine.dispose()
            if kind == "amqp":
                _delete_queue(wsgi.registry.celery_app)
    with capsys.disabled():
        print(f"\nworkflows on {kind}: {figures}")
    assert figures.pop("control") == 3
    for form, row in figures.items():
        if form == "retried":
            assert row == {"retries": 2, "rolled back": 2, "committed": 1}
            continue
        assert row["ran"] == row["tasks"], form
        assert row["saw the row"] == row["right host"] == row["tasks"], form
        assert row["right ids"] == row["tasks"], form
        assert row["messages after abort/doom/veto/bad"] == 0, form


def _prove(wsgi, ini: str) -> dict:
    app = TestApp(wsgi, extra_environ={"HTTP_HOST": HOST})
    celery_app = wsgi.registry.celery_app

    def waiting() -> int:
        return queued(celery_app)

    figures = {}
    for form in proof_app.WORKFLOWS:
        # No worker yet: whatever reached the broker would wait there.
        for end in ENDS:
            params = {"form": form, "value": f"{form} {end}"}
            params["bad" if end == "bad" else "end"] = end
            error = UnknownTaskError if end == "bad" else RuntimeError
            if end == "doom":
                app.post("/workflow", params)
            else:
                with pytest.raises(error):
                    app.post("/workflow", params)
        figures[form] = {"messages after abort/doom/veto/bad": waiting()}
    # The control: a committed workflow does fill the queue looked at.
    # RabbitMQ counts a message a moment after the publish returns, so
    # the count is read until it holds the control's 3 (or 10 s pass);
    # a message leaked by an earlier form would make it more than 3.
    app.post("/workflow", {"form": "group", "value": "control"})
    figures["control"] = settled_queued(celery_app, 3)
    with worker(ini, "-P", "threads", "-c", "2"):
        for form in proof_app.WORKFLOWS:
            body = app.post("/workflow", {"form": form, "value": form}).json
            outcomes = [
                celery_app.AsyncResult(task_id).get(timeout=30)
                for task_id in body["ids"]
            ]
            figures[form].update(_check(form, body["ids"], outcomes))
        task_id = app.post("/retried", {"n": 7}).json["task_id"]
        retries = celery_app.AsyncResult(task_id).get(timeout=30)
    figures["retried"] = {"retries": retries, **_attempt_rows(wsgi, 7)}
    return figures


def _check(form: str, ids: list[str], outcomes: list) -> dict:
    return {
        "tasks": len(ids),
        "ran": len(outcomes),
        "saw the row": sum(value == form for value, _, _ in outcomes),
        "right host": sum(url == f"http://{HOST}/" for _, url, _ in outcomes),
        "right ids": sum(
            ran == given
            for (_, _, ran), given in zip(outcomes, ids, strict=True)
        ),
    }


def _attempt_rows(wsgi, n: int) -> dict:
    with wsgi.registry.proof_engine.connect() as conn:
        values = set(
            conn.execute(
                sa.select(proof_app.rows.c.value).where(
                    proof_app.rows.c.value.like(f"attempt % of {n}")
                )
            ).scalars()
        )
    return {
        "rolled back": sum(
            f"attempt {a} of {n}" not in values for a in (1, 2)
        ),
        "committed": int(f"attempt 3 of {n}" in values),
    }


def _delete_queue(celery_app) -> None:
    with celery_app.connection() as conn:
        conn.default_channel.queue_delete(celery_app.conf.task_default_queue)
