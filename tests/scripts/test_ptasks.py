"""``ptasks``: in-process through ``main(argv)``, and as the real script."""

import os
import subprocess
import sys
import textwrap

from pyramid import paster
import pytest

from pyramid_tasks import TaskArgumentsError
from pyramid_tasks.scripts.ptasks import main

from services import running_worker


def test_call_runs_the_task_here_and_prints_its_result(app_ini, run):
    assert run([app_ini, "call", "add", "2", "40"])[:2] == (0, "42\n")
    code, out, err = run(
        [app_ini, "call", "add", "-1", "--kwargs", '{"y": 3}']
    )
    assert (code, out) == (0, "2\n"), err


def test_call_gives_the_task_a_request_and_its_derivers(app_ini, run):
    code, out, err = run([app_ini, "call", "whoami", '"hi"'])
    assert code == 0, err
    assert out == (
        '["T", {"greeting": "hi", "url": "http://example.com", '
        '"task": "whoami"}]\n'
    )


def test_ini_variables_and_app_names_are_understood(
    run, write_app, app_settings
):
    settings = dict(app_settings, **{"pyramid_tasks.public_url": "%(url)s"})
    ini = write_app(settings=settings)
    argv = [f"{ini}#main", "url=http://var.example", "call", "whoami"]
    code, out, err = run(argv)
    assert code == 0, err
    assert '"url": "http://var.example"' in out


def test_a_failing_task_exits_with_1(app_ini, caplog, run):
    code, out, err = run([app_ini, "call", "flaky"])
    assert code == 1
    assert err == "ptasks: error: Task flaky failed: ValueError: boom\n"
    assert "ValueError: boom" in caplog.text  # Celery logged the traceback


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["call", "ad", "1"],
            "No task is registered as 'ad'; did you mean 'add'?",
        ),
        (["call", "add", "1", "two"], "argument 2 'two' is not valid JSON"),
        (
            ["call", "add", "1", "--kwargs", "{"],
            "--kwargs '{' is not valid JSON",
        ),
        (
            ["call", "add", "1", "--kwargs", "[2]"],
            "--kwargs must be a JSON object",
        ),
        (["call", "add", "1"], "Task 'add' cannot take these arguments"),
        (["call", "--defer", "add", "1"], "Task 'add' cannot take these"),
        (
            ["--config", "call", "add"],
            "--schedule and --config cannot be used",
        ),
        (["novalue", "call", "add"], "Variable assignment 'novalue' invalid"),
    ],
)
def test_user_errors_are_one_line_and_exit_with_2(app_ini, argv, message, run):
    code, out, err = run([app_ini, *argv])
    assert code == 2
    assert err.startswith(f"ptasks: error: {message}")
    assert err.count("\n") == 1
    assert out == ""


@pytest.mark.parametrize("defer", [[], ["--defer"]], ids=["call", "defer"])
def test_call_words_bad_arguments_as_defer_task_does(app_ini, defer, run):
    env = paster.bootstrap(app_ini)
    try:
        with pytest.raises(TaskArgumentsError) as info:
            env["request"].defer_task("add", 1, 2, 3)
    finally:
        env["closer"]()
    assert str(info.value) == (
        "Task 'add' cannot take these arguments: too many positional "
        "arguments (the task takes (x, y))"
    )
    code, out, err = run([app_ini, "call", *defer, "add", "1", "2", "3"])
    assert (code, out) == (2, "")
    assert err == f"ptasks: error: {info.value}\n"


def test_a_missing_ini_file_is_an_error(tmp_path, run):
    code, out, err = run([str(tmp_path / "nope.ini")])
    assert code == 2
    assert err == f"ptasks: error: Ini file not found: {tmp_path}/nope.ini\n"


def test_usage_errors_and_help_come_from_argparse(app_ini, run):
    assert run([])[0] == 2
    assert run([app_ini, "--schedule", "--config"])[0] == 2
    code, out, _ = run(["--help"])
    assert code == 0
    assert "ptasks CONFIG [key=value ...] call" in out


def test_an_app_that_cannot_load_exits_with_1(run, write_app, app_settings):
    settings = dict(
        app_settings, **{"pyramid_tasks.schedule.tick.every": "soon"}
    )
    ini = write_app(settings=settings)
    code, out, err = run([ini])
    assert code == 1
    assert err.startswith(f"ptasks: error: Cannot load {ini}: ")
    assert "Schedule entry 'tick'" in err


def test_an_app_without_pyramid_tasks_exits_with_1(run, write_app):
    source = textwrap.dedent(
        """
        from pyramid.config import Configurator

        def main(global_config, **settings):
            return Configurator(settings=settings).make_wsgi_app()
        """
    )
    ini = write_app(settings={}, source=source)
    code, out, err = run([ini])
    assert code == 1
    assert "does not configure pyramid_tasks" in err


def test_defer_queues_the_task_for_a_worker(app_ini, capsys):
    envs = []

    def bootstrap(config_uri, options=None):
        env = paster.bootstrap(config_uri, options=options)
        envs.append(env)
        return env

    argv = [app_ini, "call", "--defer", "add", "4", "5"]
    code = main(argv, bootstrap=bootstrap)
    out, err = capsys.readouterr()
    assert code == 0, err
    # The in-memory broker keeps the message for this process.
    app = envs[0]["registry"].celery_app
    with app.connection_for_read() as conn:
        message = conn.SimpleQueue("math", no_ack=True).get(timeout=5)
    assert message.headers["id"] == out.strip()
    assert message.headers["task"] == "add"
    assert message.payload[0] == [4, 5]


def test_defer_that_cannot_reach_the_broker_exits_with_1(
    run, write_app, app_settings
):
    settings = dict(app_settings)
    settings["celery.task_publish_retry"] = "false"
    settings["celery.broker_transport_options.max_retries"] = "1"
    settings["celery.broker_transport_options.interval_start"] = "0"
    ini = write_app(settings=settings)
    text = open(ini).read().replace("memory://", "redis://127.0.0.1:1/0", 1)
    open(ini, "w").write(text)
    code, out, err = run([ini, "call", "--defer", "add", "1", "2"])
    assert code == 1
    assert err.startswith("ptasks: error: Cannot queue add: ")
    assert "127.0.0.1:1" in err
    assert err.count("\n") == 1


def test_quiet_prints_nothing(app_ini, capsys):
    assert main([app_ini, "call", "ad"], quiet=True) == 2
    assert main([app_ini], quiet=True) == 0
    assert capsys.readouterr() == ("", "")


# -- the real script -----------------------------------------------------


def ptasks(*argv, cwd, timeout=60):
    env = dict(os.environ, PYTHONPATH=str(cwd))
    script = os.path.join(os.path.dirname(sys.executable), "ptasks")
    return subprocess.run(
        [script, *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_the_script_lists_schedules_and_reports_errors(tmp_path, write_app):
    ini = write_app()
    done = ptasks(ini, "--schedule", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "  schedule:  every 90 seconds" in done.stdout
    done = ptasks(ini, "call", "ad", "1", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == (
        "ptasks: error: No task is registered as 'ad'; did you mean 'add'?\n"
    )


@pytest.mark.redis
def test_the_script_defers_a_task_to_a_worker_over_redis(
    tmp_path, make_app, write_app
):
    ini = write_app(broker="redis")
    settings = {}
    for line in open(ini).read().splitlines()[2:]:
        key, _, value = line.partition(" = ")
        if key.startswith("celery."):
            settings[key] = value
    done = ptasks(ini, "call", "--defer", "add", "20", "22", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    task_id = done.stdout.strip()

    def setup(config):
        def add(request, x, y):
            return x + y

        config.register_task(add, name="add")

    _, app = make_app(setup, broker="redis", **settings)
    with running_worker(app, queues=["math"]):
        assert app.AsyncResult(task_id).get(timeout=20) == 42
