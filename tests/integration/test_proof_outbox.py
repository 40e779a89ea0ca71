"""Proof 7: with the outbox, a committed task is never lost.

Real parts: ``pserve`` (waitress) serving the outbox app, the relay
(``ptasks config.ini relay``) and ``celery -A pyramid_tasks worker --ini``
processes; PostgreSQL, MariaDB and SQLite; Redis and RabbitMQ. The
figures are printed with ``pytest -s``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import pytest
import redis as redis_client
import sqlalchemy as sa

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(TESTS, "e2e"))

from e2e_support import get, processes, wait_for_http  # noqa: E402
from proof_support import redis_server, wait_until  # noqa: E402

from pyramid_tasks.outbox.table import OutboxTables  # noqa: E402

from outbox_app import items  # noqa: E402
from services import (  # noqa: E402
    REDIS_URL,
    broker_settings,
    free_port,
    private_database,
    unique,
)

REQUESTS = 50
ROWS = 1000
WORKER = ("--pool", "threads", "-c", "8")
WORKER_FLAGS = ("--without-gossip", "--without-mingle", "--without-heartbeat")


class Setup:
    """An outbox app's ini and the commands of its processes."""

    def __init__(self, tmp_path, db_url, broker="redis", **settings):
        self.dir = tmp_path
        self.port = free_port()
        self.key = unique("outbox")
        self.settings = broker_settings(broker)
        self.settings.update(
            {
                "celery.result_backend": REDIS_URL,
                "outbox.db_url": db_url,
                "outbox.redis_url": REDIS_URL,
                "outbox.key": self.key,
                "pyramid_tasks.outbox.poll_interval": "0.2",
                "pyramid_tasks.outbox.lease": "2",
                **settings,
            }
        )
        self.ini = tmp_path / "outbox.ini"
        self.write()
        self.engine = sa.create_engine(db_url)
        self.redis = redis_client.Redis.from_url(REDIS_URL)

    def write(self) -> None:
        lines = "\n".join(f"{k} = {v}" for k, v in self.settings.items())
        self.ini.write_text(
            f"[app:main]\nuse = call:outbox_app:main\n{lines}\n\n"
            "[server:main]\nuse = egg:waitress#main\n"
            f"listen = 127.0.0.1:{self.port}\n"
        )

    @property
    def env(self):
        return dict(os.environ, PYTHONPATH=TESTS, PYTHONUNBUFFERED="1")

    def ptasks(self, *args):
        return [
            sys.executable,
            "-m",
            "pyramid_tasks.scripts.ptasks",
            self.ini,
            *args,
        ]

    def worker(self):
        return [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "pyramid_tasks",
            "worker",
            "--ini",
            self.ini,
            "-n",
            f"{self.key}@%h",
            *WORKER,
            *WORKER_FLAGS,
        ]

    def pserve(self):
        return [
            os.path.join(os.path.dirname(sys.executable), "pserve"),
            self.ini,
        ]

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def start_web(self, started):
        web = started.start("web", self.pserve(), self.env)
        wait_for_http(f"{self.base}/nothing", web)
        return web

    def outbox_rows(self) -> int:
        with self.engine.connect() as connection:
            return connection.execute(
                sa.text("SELECT count(*) FROM pyramid_tasks_outbox")
            ).scalar()

    def queued(self) -> int:
        prefix = self.settings[
            "celery.broker_transport_options.global_keyprefix"
        ]
        return self.redis.llen(
            prefix + self.settings["celery.task_default_queue"]
        )

    def runs(self, count):
        keys = [f"{self.key}:runs:{n}" for n in range(count)]
        return [int(value or 0) for value in self.redis.mget(keys)]

    def ticks(self):
        with self.engine.connect() as connection:
            values = connection.execute(sa.select(items.c.value)).scalars()
            return [v for v in values if v.startswith("tick ")]

    def close(self):
        keys = list(self.redis.scan_iter(match=f"{self.key}*", count=1000))
        if keys:
            self.redis.delete(*keys)
        self.redis.close()
        self.engine.dispose()


@pytest.fixture(params=["postgresql", "mariadb", "sqlite"])
def database(request, tmp_path):
    with private_database(request.param, str(tmp_path)) as url:
        yield request.param, url


def _create(setup):
    # ``ptasks config.ini outbox create`` is tested on its own.
    OutboxTables().metadata.create_all(setup.engine)


def _result(setup, task_id, timeout=60):
    from celery import Celery

    app = Celery(backend=REDIS_URL, set_as_current=False)
    return app.AsyncResult(task_id).get(timeout=timeout)


def test_a_killed_web_process_loses_no_committed_task(tmp_path, database):
    """Aborted requests leave nothing; committed ones survive a SIGKILL."""
    kind, url = database
    setup = Setup(tmp_path, url)
    try:
        with processes(tmp_path) as started:
            _create(setup)
            web = setup.start_web(started)
            for end in ("fail", "doom", "veto"):
                status, _ = get(f"{setup.base}/items?value=x&{end}=1")
                assert status == (200 if end == "doom" else 500), end
            bodies = [
                json.loads(get(f"{setup.base}/items?value=row{n}")[1])
                for n in range(REQUESTS)
            ]
            web.signal(signal.SIGKILL)
            stored = setup.outbox_rows()
            drain = started.start(
                "drain", setup.ptasks("relay", "--once"), setup.env
            )
            drain.popen.wait(60)
            queued = setup.queued()
            started.start("worker", setup.worker(), setup.env)
            seen = [_result(setup, body["task_id"]) for body in bodies]
            with setup.engine.connect() as connection:
                values = connection.execute(sa.select(items.c.value)).all()
        ran = sum(value == f"row{n}" for n, value in enumerate(seen))
        print(
            f"\nweb killed, {kind}: 3 aborted requests, {REQUESTS} "
            f"committed, {stored} rows after the kill, {queued} messages "
            f"sent by the relay, {ran} tasks ran and saw their row"
        )
        assert f"relayed {REQUESTS} tasks" in drain.output()
        assert (stored, queued, ran) == (REQUESTS, REQUESTS, REQUESTS)
        assert sorted(v for (v,) in values) == sorted(
            f"row{n}" for n in range(REQUESTS)
        )
    finally:
        setup.close()


@pytest.mark.postgres
def test_a_killed_web_process_on_rabbitmq(tmp_path):
    with private_database("postgresql", str(tmp_path)) as url:
        setup = Setup(tmp_path, url, broker="amqp")
        try:
            with processes(tmp_path) as started:
                _create(setup)
                web = setup.start_web(started)
                bodies = [
                    json.loads(get(f"{setup.base}/items?value=b{n}")[1])
                    for n in range(10)
                ]
                web.signal(signal.SIGKILL)
                started.start("relay", setup.ptasks("relay"), setup.env)
                started.start("worker", setup.worker(), setup.env)
                seen = [_result(setup, b["task_id"]) for b in bodies]
            assert seen == [f"b{n}" for n in range(10)]
        finally:
            setup.close()


def _defer_ticks(setup, count, once=False, per_request=100):
    flag = "&once=1" if once else ""
    for start in range(0, count, per_request):
        stop = min(start + per_request, count)
        status, body = get(
            f"{setup.base}/ticks?start={start}&stop={stop}{flag}"
        )
        assert status == 200, body


def _wait_for_runs(setup, count, timeout=120):
    wait_until(lambda: min(setup.runs(count)) >= 1, timeout, "every tick ran")


@pytest.fixture
def postgresql(tmp_path):
    with private_database("postgresql", str(tmp_path)) as url:
        yield url


@pytest.mark.parametrize("once", [False, True], ids=["plain", "idempotent"])
def test_a_relay_killed_mid_batch_loses_nothing(tmp_path, postgresql, once):
    setup = Setup(tmp_path, postgresql)
    try:
        with processes(tmp_path) as started:
            _create(setup)
            setup.start_web(started)
            _defer_ticks(setup, ROWS, once=once)
            relay = started.start(
                "relay", setup.ptasks("relay", "--batch", "25"), setup.env
            )
            wait_until(
                lambda: setup.outbox_rows() < ROWS * 0.7, 60, "relaying"
            )
            relay.signal(signal.SIGKILL)
            left = setup.outbox_rows()
            # The lease of the killed relay's batch runs out, then:
            started.start("relay again", setup.ptasks("relay"), setup.env)
            started.start("worker", setup.worker(), setup.env)
            _wait_for_runs(setup, ROWS)
            wait_until(lambda: setup.outbox_rows() == 0, 60, "outbox empty")
            time.sleep(1)  # late duplicates show up within a second here
            runs = setup.runs(ROWS)
            ticks = setup.ticks()
        lost = sum(count == 0 for count in runs)
        duplicated = sum(count - 1 for count in runs if count > 1)
        effects = len(ticks) - len(set(ticks))
        print(
            f"\nrelay killed ({'idempotent' if once else 'plain'}): "
            f"{ROWS} tasks, {left} rows left at the kill, lost {lost}, "
            f"delivered twice {duplicated}, effects twice {effects}"
        )
        assert lost == 0
        assert len(set(ticks)) == ROWS
        if once:
            assert effects == 0
        else:
            assert effects == duplicated
    finally:
        setup.close()


def test_two_relays_share_the_work_without_sending_twice(tmp_path, postgresql):
    setup = Setup(tmp_path, postgresql)
    count = 2 * ROWS
    try:
        with processes(tmp_path) as started:
            _create(setup)
            setup.start_web(started)
            _defer_ticks(setup, count, per_request=200)
            for name in ("relay 1", "relay 2"):
                started.start(
                    name, setup.ptasks("relay", "--batch", "50"), setup.env
                )
            started.start("worker", setup.worker(), setup.env)
            _wait_for_runs(setup, count)
            wait_until(lambda: setup.outbox_rows() == 0, 60, "outbox empty")
            time.sleep(1)
            runs = setup.runs(count)
        lost = sum(c == 0 for c in runs)
        duplicated = sum(c - 1 for c in runs if c > 1)
        print(
            f"\ntwo relays: {count} tasks, lost {lost}, delivered twice "
            f"{duplicated}"
        )
        assert (lost, duplicated) == (0, 0)
    finally:
        setup.close()


def test_requests_do_not_wait_for_a_broker_that_is_down(tmp_path, postgresql):
    with redis_server() as broker:
        setup = Setup(
            tmp_path,
            postgresql,
            **{
                "celery.broker_url": broker.url,
                "celery.broker_connection_timeout": "0.5",
            },
        )
        try:
            with processes(tmp_path) as started:
                _create(setup)
                setup.start_web(started)
                started.start("relay", setup.ptasks("relay"), setup.env)
                started.start("worker", setup.worker(), setup.env)
                broker.stop()
                timings, bodies = [], []
                for n in range(REQUESTS):
                    began = time.monotonic()
                    status, body = get(f"{setup.base}/items?value=down{n}")
                    timings.append(time.monotonic() - began)
                    assert status == 200, body
                    bodies.append(json.loads(body))
                stored = setup.outbox_rows()
                broker.start()
                seen = [_result(setup, b["task_id"]) for b in bodies]
            slowest = max(timings)
            print(
                f"\nbroker down: {REQUESTS} requests answered 200, the "
                f"slowest in {slowest * 1000:.0f} ms; {len(seen)} ran "
                "once the broker was back"
            )
            assert stored == REQUESTS  # kept while the broker was down
            assert seen == [f"down{n}" for n in range(REQUESTS)]
        finally:
            setup.close()
