"""The Redis ledger (examples/ledger), run both ways its README shows."""

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

pytestmark = pytest.mark.redis

CONFIG = EXAMPLES / "ledger" / "config.ini"


@dataclass
class Ledger:
    base: str
    worker: Process


@pytest.fixture(scope="module", params=["python -m ledger", "pserve"])
def ledger(request, tmp_path_factory):
    """The web app and a worker, on a Redis namespace of their own."""
    services.require("redis")
    import redis

    directory = tmp_path_factory.mktemp("ledger")
    namespace = services.unique("ledger") + ":"
    port = services.free_port()
    env = example_env(
        REDIS_URL=services.REDIS_URL,
        LEDGER_NAMESPACE=namespace,
        PORT=str(port),
    )
    with processes(directory) as started:
        if request.param == "pserve":
            # The README's commands; the server listens on a free port.
            web = started.start(
                "web", pserve(ini_copy(CONFIG, directory, port)), env
            )
            worker_args = ["-A", "pyramid_tasks", "worker", "--ini", CONFIG]
        else:
            web = started.start("web", [sys.executable, "-m", "ledger"], env)
            worker_args = ["-A", "ledger", "worker"]
        worker = started.start(
            "worker",
            celery(*worker_args, "-l", "INFO", "-P", "solo", *WORKER_FLAGS),
            env,
        )
        base = f"http://127.0.0.1:{port}"
        wait_for_http(base + "/", web)
        worker.wait_for_output(" ready.")
        try:
            yield Ledger(base, worker)
        finally:
            client = redis.Redis.from_url(services.REDIS_URL)
            keys = list(client.scan_iter(match=namespace + "*"))
            if keys:
                client.delete(*keys)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "Must include `value`."),
        ("?value=ten", "`value` must be an integer."),
        ("?value=1.5", "`value` must be an integer."),
    ],
)
def test_append_refuses_a_missing_or_non_integer_value(ledger, query, message):
    assert get(f"{ledger.base}/append{query}") == (400, message + "\n")


@pytest.mark.parametrize("delay", ["soon", "-1", "nan"])
def test_total_refuses_a_bad_delay(ledger, delay):
    status, body = get(f"{ledger.base}/total?delay={delay}")
    assert status == 400
    assert "`delay` must be" in body


def test_the_worker_totals_the_ledger(ledger):
    for value in (10, 32, -2):
        assert get(f"{ledger.base}/append?value={value}") == (200, "Done.\n")
    status, task_id = get(f"{ledger.base}/total?delay=0.5")
    assert status == 200
    task_id = task_id.strip()
    assert get(f"{ledger.base}/result?id={task_id}") == (200, "Pending...\n")
    assert wait_for_result(ledger.base, task_id) == "40\n"
    ledger.worker.wait_for_output(f"ledger.total_task[{task_id}] succeeded")


def test_result_of_an_unknown_task_is_pending(ledger):
    assert get(f"{ledger.base}/result?id=no-such-task") == (
        200,
        "Pending...\n",
    )
