"""ptasks config.ini relay, and outbox create, status and retry."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from webtest import TestApp

from pyramid_tasks.scripts.ptasks import main

from outbox_app import rows
from services import broker_settings


@pytest.fixture
def ini(tmp_path, database):
    """An ini file of the outbox app; its database is ``database``."""

    def write(**extra):
        settings = broker_settings("memory")
        settings.update({"outbox.db_url": database, **extra})
        lines = "\n".join(
            f"{key} = {value}" for key, value in settings.items()
        )
        path = tmp_path / "outbox.ini"
        path.write_text(f"[app:main]\nuse = call:outbox_app:main\n{lines}\n")
        return str(path)

    return write


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def loaded(ini_path):
    from pyramid.paster import get_app

    wsgi = get_app(ini_path)
    return wsgi, wsgi.registry.celery_app


def test_create_status_relay_and_retry(ini, capsys):
    path = ini()
    code, out, _ = run(capsys, path, "outbox", "create")
    assert code == 0 and "pyramid_tasks_outbox" in out
    wsgi, app = loaded(path)
    testapp = TestApp(wsgi)
    for n in range(3):
        testapp.get(f"/items?value=v{n}")
    code, out, _ = run(capsys, path, "outbox", "status")
    assert "backlog: 3 rows, the oldest" in out and "dead:    0 rows" in out
    table = app.outbox.table
    with app.outbox.engine.begin() as connection:
        connection.execute(
            table.update()
            .where(table.c.id == 1)
            .values(dead=True, attempts=10, last_error="ValueError: no")
        )
    code, out, _ = run(capsys, path, "relay", "--once", "--batch", "1")
    assert (code, out) == (0, "relayed 2 tasks\n")
    code, out, _ = run(capsys, path, "outbox", "status")
    assert "backlog: 0 rows, the oldest - old" in out
    assert "dead:    1 rows" in out
    assert "1 record[" in out and "after 10 attempts: ValueError: no" in out
    assert (
        run(capsys, path, "outbox", "retry", "7")[1]
        == "0 dead rows put back\n"
    )
    assert run(capsys, path, "outbox", "retry")[1] == "1 dead rows put back\n"
    assert run(capsys, path, "relay", "--once")[1] == "relayed 1 tasks\n"
    assert rows(app.outbox) == []


@pytest.mark.parametrize(
    "command", [["relay", "--once"], ["outbox", "status"]]
)
def test_a_missing_table_is_one_line_naming_it(ini, capsys, command):
    code, out, err = run(capsys, ini(), *command)
    assert code == 1
    assert err == (
        "ptasks: error: The outbox table 'pyramid_tasks_outbox' does not "
        "exist: create it with 'ptasks config.ini outbox create' or your "
        "migrations\n"
    )


def test_an_unreachable_database_is_one_line(tmp_path, capsys):
    url = "postgresql+psycopg2://someone:s3cret@127.0.0.1:1/nowhere"
    settings = {**broker_settings("memory"), "outbox.db_url": url}
    lines = "\n".join(f"{key} = {value}" for key, value in settings.items())
    path = tmp_path / "down.ini"
    path.write_text(f"[app:main]\nuse = call:outbox_app:lazy\n{lines}\n")
    for command in (["relay"], ["outbox", "create"]):
        code, out, err = run(capsys, str(path), *command)
        assert code == 1 and err.count("\n") == 1, err
        assert "s3cret" not in err
        assert err.startswith(
            "ptasks: error: Cannot reach the outbox database"
        )


def test_an_app_without_an_outbox_is_told_so(tmp_path, capsys):
    settings = broker_settings("memory")
    lines = "\n".join(f"{key} = {value}" for key, value in settings.items())
    path = tmp_path / "plain.ini"
    path.write_text(
        "[app:main]\nuse = call:cliapp:main\n"
        f"pyramid.includes = pyramid_tasks\n{lines}\n"
    )
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "cliapp"))
    try:
        code, _, err = run(capsys, str(path), "relay")
    finally:
        sys.path.pop(0)
    assert code == 1
    assert "has no outbox: include pyramid_tasks.outbox" in err


def test_the_relay_runs_until_sigterm(ini, capsys):
    path = ini(**{"pyramid_tasks.outbox.poll_interval": "0.05"})
    run(capsys, path, "outbox", "create")
    tests = os.path.dirname(os.path.dirname(__file__))
    relay = subprocess.Popen(
        [sys.executable, "-m", "pyramid_tasks.scripts.ptasks", path, "relay"],
        env=dict(os.environ, PYTHONPATH=tests),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wsgi, app = loaded(path)
        TestApp(wsgi).get("/items?value=relayed")
        deadline = time.monotonic() + 20
        while rows(app.outbox) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert rows(app.outbox) == []
        relay.send_signal(signal.SIGTERM)
        out, _ = relay.communicate(timeout=20)
    finally:
        relay.kill()
    assert relay.returncode == 0, out
    assert out.splitlines()[0].startswith("relay ")
    assert out.splitlines()[-1] == "relay stopped"


def test_the_relay_in_this_process_stops_on_sigterm(
    ini, capsys, sigterm_ignored
):
    path = ini()
    run(capsys, path, "outbox", "create")
    wsgi, app = loaded(path)
    TestApp(wsgi).get("/items?value=relayed")

    def stop_once_drained():
        deadline = time.monotonic() + 20
        while rows(app.outbox) and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    stopper = threading.Thread(target=stop_once_drained)
    stopper.start()
    code, out, err = run(capsys, path, "relay", "--interval", "0.05")
    stopper.join()
    assert code == 0, err
    assert out.splitlines()[-1] == "relay stopped"
    assert rows(app.outbox) == []
