"""The periodic tasks of examples/beat, sent by a real ``celery beat``."""

from __future__ import annotations

from datetime import datetime
import shelve

from celery.schedules import crontab
from e2e_support import (
    EXAMPLES,
    WORKER_FLAGS,
    celery,
    example_env,
    ini_copy,
    processes,
)
import pytest

CONFIG = EXAMPLES / "beat" / "config.ini"


@pytest.fixture(scope="module")
def ticks(tmp_path_factory):
    """Beat and a worker on the SQLite broker; the ticks they recorded.

    The interval is shortened to 0.3 s; beat and the worker run the
    README's commands on a copy of the ini file.
    """
    directory = tmp_path_factory.mktemp("beat")
    path = directory / "ticks.log"
    ini = ini_copy(
        CONFIG,
        directory,
        **{"ticker.interval": "0.3", "ticker.path": path},
    )
    env = example_env()
    with processes(directory) as started:
        worker = started.start(
            "worker",
            celery("-A", "pyramid_tasks", "worker", "--ini", ini)
            + ["-P", "solo", *WORKER_FLAGS],
            env,
        )
        worker.wait_for_output(" ready.")
        beat = started.start(
            "beat", celery("-A", "pyramid_tasks", "beat", "--ini", ini), env
        )
        beat.wait_for_output("Sending due task tick every interval")
        _wait_for_lines(path, 3, worker)
    return {
        "lines": path.read_text().splitlines(),
        "schedule": directory / "celerybeat-schedule",
    }


def _wait_for_lines(path, count, worker, timeout=15.0):
    import time

    deadline = time.monotonic() + timeout
    while not path.exists() or len(path.read_text().splitlines()) < count:
        assert time.monotonic() < deadline, worker.output()
        time.sleep(0.05)


def test_the_interval_task_runs_again_and_again(ticks):
    interval_ticks = [
        datetime.fromisoformat(line.split()[0])
        for line in ticks["lines"]
        if line.endswith(" interval")
    ]
    assert len(interval_ticks) >= 3
    assert interval_ticks == sorted(interval_ticks)


def test_beat_keeps_both_periodic_tasks_in_its_schedule(ticks):
    # The crontab task runs once a minute: too slow to wait for, so read
    # the schedule beat saved when it stopped.
    with shelve.open(str(ticks["schedule"]), flag="r") as schedule:
        entries = schedule["entries"]
    assert entries["tick on crontab"].schedule == crontab()
    assert entries["tick on crontab"].args == ("crontab",)
    assert (
        entries["tick every interval"].schedule.run_every.total_seconds()
        == 0.3
    )
