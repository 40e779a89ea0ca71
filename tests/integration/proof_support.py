"""Real parts for the delivery proofs: databases, workers, Redis servers.

Each helper is a context manager that removes what it made, even when
the test fails: a private PostgreSQL database, a ``celery -A pyramid_tasks
worker --ini`` subprocess in its own process group, a private
``redis-server`` on a free port.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import psycopg2
import pytest
import redis

from services import REDIS_URL, free_port, require, unique

HERE = os.path.dirname(os.path.abspath(__file__))

PG_DSN = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


def wait_until(
    predicate: Callable[[], object], timeout: float, what: str = ""
) -> None:
    """Poll ``predicate`` until it is true; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s: {what}")
        time.sleep(0.05)


@contextlib.contextmanager
def private_database() -> Iterator[str]:
    """A new PostgreSQL database, dropped on exit; yields its URL."""
    require("postgres")
    name = unique("proof")
    admin = psycopg2.connect(dbname="test", **PG_DSN)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        try:
            yield (
                f"postgresql+psycopg2://{PG_DSN['user']}@{PG_DSN['host']}:"
                f"{PG_DSN['port']}/{name}"
            )
        finally:
            with admin.cursor() as cursor:
                cursor.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        admin.close()


@contextlib.contextmanager
def redis_keys(prefix: str) -> Iterator[redis.Redis]:
    """A client of the shared Redis; keys under ``prefix`` go on exit."""
    require("redis")
    client = redis.Redis.from_url(REDIS_URL)
    try:
        yield client
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


def write_ini(directory: str, settings: dict[str, object]) -> str:
    """Write an ini file whose app is :func:`proof_app.main`."""
    lines = ["[app:main]", "use = call:proof_app:main"]
    lines += [f"{key} = {value}" for key, value in settings.items()]
    path = os.path.join(directory, "proof.ini")
    with open(path, "w") as ini:
        ini.write("\n".join(lines) + "\n")
    return path


class Worker:
    """``celery -A pyramid_tasks worker --ini`` in its own process group."""

    def __init__(self, ini: str, *args: str) -> None:
        self.ini = ini
        self.args = args
        self.logs: list[str] = []
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        log = tempfile.NamedTemporaryFile(
            "w+", prefix="worker-", suffix=".log", delete=False
        )
        self.logs.append(log.name)
        env = dict(os.environ, PYTHONPATH=HERE)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "pyramid_tasks",
                "worker",
                "--ini",
                self.ini,
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"{unique('proof')}@%h",
                *self.args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        log.close()

    def kill(self) -> None:
        """SIGKILL the whole group: the main process and its children."""
        self._signal_group(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        """Warm shutdown; SIGKILL if it takes too long."""
        if self.process is None or self.process.poll() is not None:
            return
        self._signal_group(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.kill()

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)

    def output(self) -> str:
        texts = []
        for name in self.logs:
            with open(name) as log:
                texts.append(log.read())
        return "\n----- restart -----\n".join(texts)

    def cleanup(self) -> None:
        """Kill what is left of the group; print the logs on failure."""
        if self.process is not None:
            self._signal_group(signal.SIGKILL)
            self.process.wait(10)
        sys.stdout.write(self.output()[-6000:])
        for name in self.logs:
            os.unlink(name)


@contextlib.contextmanager
def worker(ini: str, *args: str) -> Iterator[Worker]:
    """A started :class:`Worker`, its whole group killed on exit."""
    proc = Worker(ini, *args)
    proc.start()
    try:
        yield proc
    finally:
        proc.cleanup()


class RedisServer:
    """A private ``redis-server`` on a free port, persisting to a tmp dir.

    Every write is in the append-only file before Redis answers, so a
    message the broker accepted survives a restart.
    """

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                self.directory,
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        try:
            wait_until(_pings(client), 10, f"redis on port {self.port}")
        finally:
            client.close()

    def stop(self) -> None:
        """SIGTERM: Redis flushes its append-only file and exits."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def _pings(client: redis.Redis) -> Callable[[], bool]:
    def ping() -> bool:
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    return ping


@contextlib.contextmanager
def redis_server() -> Iterator[RedisServer]:
    """A started private :class:`RedisServer`, stopped on exit."""
    if shutil.which("redis-server") is None:
        message = "redis-server is not installed"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}, and CI needs it")
        pytest.skip(message)
    with tempfile.TemporaryDirectory(prefix="proof-redis-") as directory:
        server = RedisServer(directory)
        server.start()
        try:
            yield server
        finally:
            if server.process.poll() is None:
                server.process.kill()
                server.process.wait(10)
