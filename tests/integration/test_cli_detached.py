"""Detached workers, as operators run them: ``celery multi`` and
``worker --detach``, writing their log to ``--logfile``.

The ini's logging sections send everything to a console handler, which a
detached worker has closed: the command line's ``--logfile`` must win.
"""

import os
import signal
import subprocess

import pytest

from processes import celery, pid_alive, stop_pidfile, wait_until
from services import broker_settings, ini_logging

HERE = os.path.dirname(os.path.dirname(__file__))
ENV = {**os.environ, "PYTHONPATH": os.path.join(HERE, "cliapp")}
#: A worker with no pool processes, which starts quickly.
WORKER_ARGS = ("-P", "solo", "--without-mingle", "--without-gossip")


@pytest.fixture
def ini(tmp_path):
    settings = broker_settings("redis")
    lines = ["[app:main]", "use = call:cliapp:main", "greeting = Hi"]
    lines += ["pyramid.includes = pyramid_tasks"]
    lines += [f"{key} = {value}" for key, value in settings.items()]
    path = tmp_path / "app.ini"
    path.write_text("\n".join(lines) + "\n" + ini_logging("INI-LOG"))
    return str(path)


def run_celery(*args, timeout=60):
    return subprocess.run(
        celery("-A", "pyramid_tasks", *args),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
    )


def log_of(path):
    return open(path).read() if os.path.exists(path) else ""


def check_worker(ini, logfile, node):
    """The worker answers, runs a task, and logs both to ``logfile``."""
    wait_until(
        lambda: f"{node}@" in log_of(logfile) and "ready." in log_of(logfile),
        30,
        f"'{node}@... ready.' in {logfile}: {log_of(logfile)!r}",
    )
    ping = run_celery("inspect", "ping", "--timeout", "5", "--ini", ini)
    assert "pong" in ping.stdout, ping.stdout + ping.stderr
    called = run_celery("call", "greet", "--args", '["bob"]', "--ini", ini)
    assert called.returncode == 0, called.stderr
    wait_until(
        lambda: "greeting bob" in log_of(logfile),
        20,
        f"the task's line in {logfile}: {log_of(logfile)!r}",
    )
    # Celery's format, not the ini's console format.
    assert "INI-LOG" not in log_of(logfile)


def test_multi_starts_a_worker_that_logs_to_its_logfile(ini, tmp_path):
    logfile = str(tmp_path / "w1.log")
    pidfile = str(tmp_path / "w1.pid")
    node_args = (f"--ini={ini}", f"--pidfile={tmp_path}/%n.pid")
    try:
        started = run_celery(
            "multi", "start", "w1", *node_args,
            f"--logfile={tmp_path}/%n.log", "-l", "INFO", *WORKER_ARGS,
        )  # fmt: skip
        assert started.returncode == 0, started.stdout + started.stderr
        check_worker(ini, logfile, "w1")
        pid = int(open(pidfile).read())
        stopped = run_celery("multi", "stopwait", "w1", *node_args)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert not pid_alive(pid)
        assert not os.path.exists(pidfile)
    finally:
        stop_pidfile(pidfile)


def test_a_detached_worker_logs_to_its_logfile(ini, tmp_path):
    logfile = str(tmp_path / "worker.log")
    pidfile = str(tmp_path / "worker.pid")
    try:
        started = run_celery(
            "worker", "--ini", ini, "--detach", "-n", "d1@%h",
            f"--logfile={logfile}", f"--pidfile={pidfile}", "-l", "INFO",
            *WORKER_ARGS,
        )  # fmt: skip
        assert started.returncode == 0, started.stdout + started.stderr
        check_worker(ini, logfile, "d1")
        pid = int(open(pidfile).read())
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not pid_alive(pid), 20, "the worker's exit")
        assert "d1@" in log_of(logfile)
    finally:
        stop_pidfile(pidfile)


def test_multi_refuses_an_ini_given_with_a_space(ini, tmp_path):
    done = run_celery(
        "multi", "start", "w1", "--ini", ini, f"--pidfile={tmp_path}/%n.pid"
    )
    assert done.returncode == 1
    assert done.stderr == (
        "Error: celery multi needs --ini=VALUE, with '=': it takes the "
        "word after --ini for a node name\n"
    )
    assert not list(tmp_path.glob("*.pid"))
