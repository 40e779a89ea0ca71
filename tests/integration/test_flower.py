"""``celery -A pyramid_tasks flower --ini``: Flower on the app's settings.

A real Flower process, on a free loopback port and a private Redis
queue, loads the Pyramid application from the ini file like every
other Celery command, and serves its pages.
"""

import os
import urllib.request

import pytest

from processes import celery, output, running
from services import broker_settings, free_port

HERE = os.path.dirname(os.path.dirname(__file__))
ENV = {
    "PYTHONPATH": os.path.join(HERE, "cliapp"),
    "PYTHONUNBUFFERED": "1",
}

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def flower(tmp_path_factory):
    settings = broker_settings("redis")
    path = tmp_path_factory.mktemp("flower") / "app.ini"
    lines = [
        "[app:main]",
        "use = call:cliapp:main",
        "pyramid.includes = pyramid_tasks",
        "greeting = hello",
    ] + [f"{key} = {value}" for key, value in settings.items()]
    path.write_text("\n".join(lines) + "\n")
    port = free_port()
    argv = celery(
        "-A", "pyramid_tasks", "flower", "--ini", str(path),
        f"--port={port}", "--address=127.0.0.1",
    )  # fmt: skip
    with running(argv, "Visit me at", env=ENV) as proc:
        yield proc, f"http://127.0.0.1:{port}", settings


def _get(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read().decode()


def test_flower_serves_its_pages(flower):
    proc, base, settings = flower
    assert _get(base + "/healthcheck") == (200, "OK")
    status, page = _get(base + "/")
    assert status == 200
    assert "Flower" in page


def test_flower_uses_the_apps_tasks_and_broker_from_the_ini(flower):
    proc, base, settings = flower
    log = output(proc)
    # The application's own tasks: it was built from the ini.
    assert "'greet'" in log and "'beat_tick'" in log
    assert "Broker: redis://" in log
    status, page = _get(base + "/broker")
    assert settings["celery.task_default_queue"] in page
