"""Real ``celery -A pyramid_tasks ... --ini`` worker and beat processes."""

import os
import subprocess
import time

import pytest

from pyramid_tasks.scripts.preload import load_celery_app

from processes import celery, output, running
from services import broker_settings, ini_logging

HERE = os.path.dirname(os.path.dirname(__file__))
ENV = {
    "PYTHONPATH": os.path.join(HERE, "cliapp"),
    "PYTHONUNBUFFERED": "1",
}


@pytest.fixture(scope="module")
def ini(tmp_path_factory):
    settings = broker_settings("redis")
    tmp = tmp_path_factory.mktemp("cli")
    lines = [
        "[app:main]",
        "use = call:cliapp:main",
        "pyramid.includes = pyramid_tasks",
        "greeting = Hi %(who)s",
        f"beat_marker = {tmp / 'beat.txt'}",
    ]
    lines += [f"{key} = {value}" for key, value in settings.items()]
    path = tmp / "app.ini"
    path.write_text("\n".join(lines) + "\n" + ini_logging("INI-LOG"))
    return path, settings


def run_celery(*args, env=None):
    return subprocess.run(
        celery(*args),
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **ENV, **(env or {})},
    )


@pytest.fixture(scope="module")
def worker(ini):
    path, settings = ini
    argv = celery(
        "-A", "pyramid_tasks", "worker", "--ini", str(path),
        "--ini-var", "who=a=b,c", "-P", "solo",
        "--without-mingle", "--without-gossip",
    )  # fmt: skip
    with running(argv, "ready", env=ENV) as proc:
        yield proc


@pytest.fixture(scope="module")
def client(ini, monkeypatch_module=None):
    path, _ = ini
    import sys

    sys.path.insert(0, ENV["PYTHONPATH"])
    try:
        yield load_celery_app(str(path), ["who=client"])
    finally:
        sys.path.remove(ENV["PYTHONPATH"])


def test_the_worker_runs_tasks_with_ini_settings(worker, client):
    result = client.send_task("greet", ("bob",))
    assert result.get(timeout=20).startswith("Hi a=b,c bob from ")


def test_the_worker_logs_through_the_ini_logging_config(worker, client):
    client.send_task("greet", ("log",)).get(timeout=20)
    assert "INI-LOG INFO" in output(worker)


def test_celery_call_inspect_and_status_use_the_ini(worker, ini, client):
    path, _ = ini
    ini_args = ("--ini", str(path), "--ini-var", "who=cli")
    called = run_celery("-A", "pyramid_tasks", "call", "greet",
                        "--args", '["call"]', *ini_args)  # fmt: skip
    assert called.returncode == 0, called.stderr
    task_id = called.stdout.strip()
    assert (
        client.AsyncResult(task_id).get(timeout=20).startswith("Hi a=b,c call")
    )
    inspected = run_celery("-A", "pyramid_tasks", "inspect", "registered",
                           "--timeout", "5", *ini_args)  # fmt: skip
    assert "greet" in inspected.stdout, inspected.stderr
    status = run_celery("-A", "pyramid_tasks", "status", *ini_args)
    assert "1 node online" in status.stdout, status.stderr


def test_celery_purge_uses_the_ini(ini):
    path, settings = ini
    queue = settings["celery.task_default_queue"]
    purged = run_celery(
        "-A", "pyramid_tasks", "purge", "-f", "-Q", queue + "_empty",
        "--ini", str(path), "--ini-var", "who=x",
    )  # fmt: skip
    assert purged.returncode == 0, purged.stderr
    assert "No messages purged" in purged.stdout


def test_beat_sends_periodic_tasks_from_the_ini(worker, ini, tmp_path):
    path, _ = ini
    marker = path.parent / "beat.txt"
    argv = celery(
        "-A", "pyramid_tasks", "beat", "--ini", str(path),
        "--ini-var", "who=beat", "-s", str(tmp_path / "schedule"),
    )  # fmt: skip
    with running(argv, "beat: Starting", env=ENV):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if marker.exists() and marker.read_text().count("\n") >= 2:
                break
            time.sleep(0.2)
    # The worker ran the ticks with its own settings.
    assert marker.read_text().splitlines()[:2] == ["Hi a=b,c"] * 2


def test_the_ini_can_come_from_the_environment(ini, client):
    path, settings = ini
    argv = celery(
        "-A", "pyramid_tasks", "worker", "-P", "solo", "-Q",
        settings["celery.task_default_queue"] + "_env",
        "--ini-var", "who=env",
    )  # fmt: skip
    env = {**ENV, "PYRAMID_TASKS_INI": str(path)}
    with running(argv, "ready", env=env):
        result = client.send_task(
            "greet",
            ("env",),
            queue=settings["celery.task_default_queue"] + "_env",
        )
        assert result.get(timeout=20).startswith("Hi env env")


def test_a_module_with_make_celery_app_works_with_dash_a(ini, client):
    _, settings = ini
    queue = settings["celery.task_default_queue"] + "_module"
    env = {
        **ENV,
        "TEST_BROKER_URL": settings["celery.broker_url"],
        "TEST_QUEUE": queue,
        "TEST_KEYPREFIX": settings[
            "celery.broker_transport_options.global_keyprefix"
        ],
    }
    argv = celery("-A", "celeryapp", "worker", "-P", "solo", "-l", "INFO")
    with running(argv, "ready", env=env):
        result = client.send_task("greet", ("mod",), queue=queue)
        assert result.get(timeout=20).startswith("Module mod")
