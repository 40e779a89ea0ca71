"""The SQLAlchemy ledger (examples/sqlalchemy_ledger) on each backend.

``sqlite`` is the default that needs no server (data, broker and results
in one SQLite file), run with ``python -m``; the others run with
``pserve`` and ``celery -A pyramid_tasks worker --ini``, on a private
PostgreSQL database with Redis or RabbitMQ as the broker.
"""

from __future__ import annotations

from dataclasses import dataclass
import sys

from e2e_support import (
    EXAMPLES,
    WORKER_FLAGS,
    Process,
    celery,
    example_env,
    get,
    ini_copy,
    processes,
    pserve,
    wait_for_http,
    wait_for_result,
)
import pytest

import services

CONFIG = EXAMPLES / "sqlalchemy_ledger" / "config.ini"


@dataclass
class Ledger:
    base: str
    web: Process
    worker: Process


def _broker(kind: str) -> dict[str, str]:
    """Settings for a private queue on the local Redis or RabbitMQ."""
    queue = services.unique("ledger")
    if kind == "redis":
        services.require("redis")
        return {
            "celery.broker_url": services.REDIS_URL,
            "celery.broker_transport_options.global_keyprefix": queue + ":",
        }
    services.require("rabbitmq")
    return {
        "celery.broker_url": services.AMQP_URL,
        "celery.task_default_queue": queue,
    }


def _forget_queue(settings: dict[str, str]) -> None:
    from kombu import Connection

    queue = settings.get("celery.task_default_queue")
    if queue:
        with Connection(settings["celery.broker_url"]) as connection:
            connection.default_channel.queue_delete(queue)
    prefix = settings.get("celery.broker_transport_options.global_keyprefix")
    if prefix:
        import redis

        client = redis.Redis.from_url(services.REDIS_URL)
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)


@pytest.fixture(
    scope="module",
    params=[
        "sqlite",
        pytest.param("postgresql+redis", marks=pytest.mark.redis),
        pytest.param("postgresql+rabbitmq", marks=pytest.mark.rabbitmq),
    ],
)
def ledger(request, tmp_path_factory):
    """The web app and a prefork worker with one child process."""
    directory = tmp_path_factory.mktemp("sqlalchemy_ledger")
    port = services.free_port()
    base = f"http://127.0.0.1:{port}"
    worker_flags = ("-l", "INFO", "-c", "1", *WORKER_FLAGS)
    settings: dict[str, str] = {}
    with processes(directory) as started:
        if request.param == "sqlite":
            env = example_env(
                DATABASE_URL=f"sqlite:///{directory}/ledger.sqlite",
                PORT=str(port),
            )
            web = started.start(
                "web", [sys.executable, "-m", "sqlalchemy_ledger"], env
            )
            worker = started.start(
                "worker",
                celery("-A", "sqlalchemy_ledger", "worker", *worker_flags),
                env,
            )
        else:
            database = request.getfixturevalue("postgres_database")
            settings = _broker(request.param.partition("+")[2])
            settings["sqlalchemy.url"] = database
            ini = ini_copy(CONFIG, directory, port, **settings)
            env = example_env()
            web = started.start("web", pserve(ini), env)
            worker = started.start(
                "worker",
                celery("-A", "pyramid_tasks", "worker", "--ini", ini)
                + list(worker_flags),
                env,
            )
        wait_for_http(base + "/", web)
        worker.wait_for_output(" ready.")
        try:
            yield Ledger(base, web, worker)
        finally:
            _forget_queue(settings)


def test_bad_values_are_refused(ledger):
    assert get(f"{ledger.base}/append") == (400, "Must include `value`.\n")
    assert get(f"{ledger.base}/append?value=x") == (
        400,
        "`value` must be an integer.\n",
    )
    assert get(f"{ledger.base}/total?delay=x") == (
        400,
        "`delay` must be a number.\n",
    )


def test_the_worker_totals_and_records_the_ledger(ledger):
    start = int(_total(ledger, delay=0))
    for value in (10, 32):
        assert get(f"{ledger.base}/append?value={value}") == (200, "Done.\n")
    status, task_id = get(f"{ledger.base}/total?delay=0.5")
    task_id = task_id.strip()
    assert get(f"{ledger.base}/result?id={task_id}") == (200, "Pending...\n")
    assert wait_for_result(ledger.base, task_id) == f"{start + 42}\n"
    # The task's own transaction committed the total it computed.
    status, body = get(f"{ledger.base}/totals")
    assert status == 200
    assert {"task_id": task_id, "total": start + 42} in _json(body)


def test_the_worker_child_resets_the_inherited_engine(ledger):
    ledger.worker.wait_for_output("database engine reset in worker process")


def _total(ledger, delay: float) -> str:
    status, task_id = get(f"{ledger.base}/total?delay={delay}")
    assert status == 200, task_id
    return wait_for_result(ledger.base, task_id.strip())


def _json(body: str):
    import json

    return json.loads(body)
