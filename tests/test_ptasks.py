"""``ptasks``: in-process through ``main(argv)``, and as the real script."""

import os
import subprocess
import sys
import textwrap

from celery.schedules import schedule
from pyramid import paster
import pytest

from pyramid_tasks.ptasks import (
    _next_runs,
    describe_schedule,
    main,
    mask_setting,
)

from services import broker_settings, running_worker, unique

APP = '''
from celery.schedules import crontab
from pyramid.config import Configurator

from pyramid_tasks import PyramidTask


def add(request, x, y):
    """Add two numbers."""
    return x + y


def flaky(request):
    raise ValueError("boom")


def whoami(request, greeting="hello"):
    return {
        "greeting": greeting,
        "url": request.application_url,
        "task": request.current_task.name,
    }


def tagged(task, info):
    tag = info.options.get("tag")
    if tag is None:
        return task

    def wrapper(request, *args, **kwargs):
        return [tag, task(request, *args, **kwargs)]

    return wrapper


class SlowTask(PyramidTask):
    """A base class of the application's own."""


def main(global_config, **settings):
    config = Configurator(settings=settings)
    config.include("pyramid_tasks")
    config.add_task_deriver(tagged)
    config.register_task(
        add,
        name="add",
        queue="math",
        rate_limit="10/m",
        autoretry_for=(KeyError,),
        max_retries=3,
    )
    config.register_task(flaky, name="flaky", base=SlowTask)
    config.register_task(whoami, name="whoami", tag="T")
    config.add_periodic_task(
        crontab(minute=30, hour=7, day_of_week="1-5"),
        "add",
        args=(1, 2),
        name="morning",
    )
    return config.make_wsgi_app()
'''

SETTINGS = {
    "celery.timezone": "Europe/Amsterdam",
    "pyramid_tasks.public_url": "http://example.com",
    "pyramid_tasks.schedule.tick.task": "add",
    "pyramid_tasks.schedule.tick.every": "90s",
    "pyramid_tasks.schedule.tick.args": "[1]",
    "pyramid_tasks.schedule.tick.kwargs": '{"y": 2}',
    "pyramid_tasks.schedule.tick.options": '{"expires": 60}',
}


def write_app(tmp_path, settings=None, source=APP, broker="memory"):
    """Write an app module and its ini; return the ini path."""
    module = unique("ptasks_app")
    (tmp_path / f"{module}.py").write_text(source)
    all_settings = broker_settings(broker)
    all_settings.update(SETTINGS if settings is None else settings)
    lines = "\n".join(
        f"{key} = {value}" for key, value in all_settings.items()
    )
    ini = tmp_path / "app.ini"
    ini.write_text(f"[app:main]\nuse = call:{module}:main\n{lines}\n")
    return str(ini)


@pytest.fixture
def app_ini(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    return write_app(tmp_path)


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_the_table_lists_every_task_with_what_configures_it(app_ini, capsys):
    code, out, err = run([app_ini], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == [
        "Name",
        "Function",
        "Queue",
        "Options",
        "Derivers",
        "Schedules",
    ]
    assert set(lines[1]) == {"-", " "}
    rows = {line.split()[0]: line for line in lines[2:]}
    assert list(rows) == ["add", "flaky", "whoami"]
    assert rows["flaky"].split()[3] == "base=SlowTask"
    module = open(app_ini).read().split("call:")[1].split(":")[0]
    assert rows["add"].split()[1:3] == [f"{module}:add", "math"]
    assert (
        "autoretry_for=(KeyError), max_retries=3, rate_limit=10/m"
        in (rows["add"])
    )
    assert rows["add"].endswith("morning, tick")
    # Without a queue option a task goes to the default queue.
    assert rows["whoami"].split()[2].startswith("q_")
    assert rows["whoami"].split()[3:] == ["tag=T", "tagged", "-"]


def test_an_app_without_tasks_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(tmp_path))
    source = "from pyramid.config import Configurator\n" + textwrap.dedent(
        """
        def main(global_config, **settings):
            config = Configurator(settings=settings)
            config.include("pyramid_tasks")
            return config.make_wsgi_app()
        """
    )
    ini = write_app(tmp_path, settings={}, source=source)
    assert run([ini], capsys)[1] == "No tasks are registered.\n"
    assert run([ini, "--schedule"], capsys)[1] == (
        "No periodic tasks are registered.\n"
    )
    assert "beat_schedule" not in run([ini, "--config"], capsys)[1]


def test_schedule_shows_each_entry_in_words_with_next_runs(app_ini, capsys):
    code, out, err = run([app_ini, "--schedule", "-n", "2"], capsys)
    assert code == 0, err
    morning, tick = out.split("\n\n")
    assert morning.splitlines()[:5] == [
        "morning",
        "  task:      add",
        "  schedule:  at 07:30 on Monday to Friday (cron 30 7 * * 1-5)",
        "  timezone:  Europe/Amsterdam",
        "  arguments: [1, 2]",
    ]
    runs = morning.splitlines()[5:]
    assert len(runs) == 2
    assert runs[0].startswith("  next runs: ")
    for run_line in runs:
        assert run_line.endswith((" 07:30:00 CET", " 07:30:00 CEST"))
    assert tick.splitlines()[2] == "  schedule:  every 90 seconds"
    assert tick.splitlines()[4] == '  arguments: [1] {"y": 2}'
    assert tick.splitlines()[5] == "  options:   expires=60"
    assert len(tick.splitlines()) == 8


def test_schedule_says_when_no_timezone_is_set(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(tmp_path))
    settings = dict(SETTINGS)
    del settings["celery.timezone"]
    ini = write_app(tmp_path, settings=settings)
    code, out, err = run([ini, "--schedule", "--next", "0"], capsys)
    assert code == 0, err
    tick = out.split("\n\n")[1].splitlines()
    assert tick[3] == "  timezone:  UTC (celery.timezone is not set)"
    assert tick[-1] == "  next runs: -"


def test_next_runs_of_a_schedule_that_cannot_tell_are_unknown():
    from celery import Celery

    class Broken(schedule):
        def remaining_estimate(self, last_run_at):
            raise RuntimeError("no idea")

    app = Celery(set_as_current=False)
    runs = _next_runs(Broken(5, app=app), app, 3)
    assert runs == ["unknown (RuntimeError: no idea)"]


def test_config_shows_coerced_settings_with_secrets_masked(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.syspath_prepend(str(tmp_path))
    settings = dict(SETTINGS)
    settings.update(
        {
            "celery.result_backend": "redis://:s3cret@127.0.0.1:1/0",
            "celery.security_key": "s3cret.pem",
            "celery.broker_transport_options.global_keyprefix": "pfx:",
            "celery.broker_transport_options.sentinel_password": "s3cret",
            "celery.worker_prefetch_multiplier": "8",
        }
    )
    ini = write_app(tmp_path, settings=settings)
    code, out, err = run([ini, "--config"], capsys)
    assert code == 0, err
    assert "s3cret" not in out
    lines = out.splitlines()
    assert "result_backend = redis://:**@127.0.0.1:1/0" in lines
    assert "security_key = ********" in lines
    assert "worker_prefetch_multiplier = 8" in lines
    assert '"global_keyprefix": "pfx:"' in out
    assert '"sentinel_password": "********"' in out
    assert "beat_schedule = <2 entries, see ptasks --schedule>" in lines


@pytest.mark.parametrize(
    "key, value, shown",
    [
        ("broker_url", "amqp://u:pw@a//;amqp://u:pw@b//", "amqp://u:**@a//;"),
        ("broker_password", None, None),
        ("task_default_routing_key", "k", "k"),
        ("x", ["redis://:pw@h/0"], ["redis://:**@h/0"]),
        ("x", ("a",), ("a",)),
        ("x", 5, 5),
    ],
)
def test_secrets_are_masked_by_name_and_in_urls(key, value, shown):
    masked = mask_setting(key, value)
    if isinstance(shown, str):
        assert masked.startswith(shown)
    else:
        assert masked == shown


def test_call_runs_the_task_here_and_prints_its_result(app_ini, capsys):
    assert run([app_ini, "call", "add", "2", "40"], capsys)[:2] == (0, "42\n")
    code, out, err = run(
        [app_ini, "call", "add", "-1", "--kwargs", '{"y": 3}'], capsys
    )
    assert (code, out) == (0, "2\n"), err


def test_call_gives_the_task_a_request_and_its_derivers(app_ini, capsys):
    code, out, err = run([app_ini, "call", "whoami", '"hi"'], capsys)
    assert code == 0, err
    assert out == (
        '["T", {"greeting": "hi", "url": "http://example.com", '
        '"task": "whoami"}]\n'
    )


def test_ini_variables_and_app_names_are_understood(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.syspath_prepend(str(tmp_path))
    settings = dict(SETTINGS, **{"pyramid_tasks.public_url": "%(url)s"})
    ini = write_app(tmp_path, settings=settings)
    argv = [f"{ini}#main", "url=http://var.example", "call", "whoami"]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    assert '"url": "http://var.example"' in out


def test_a_failing_task_exits_with_1(app_ini, capsys, caplog):
    code, out, err = run([app_ini, "call", "flaky"], capsys)
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
def test_user_errors_are_one_line_and_exit_with_2(
    app_ini, capsys, argv, message
):
    code, out, err = run([app_ini, *argv], capsys)
    assert code == 2
    assert err.startswith(f"ptasks: error: {message}")
    assert err.count("\n") == 1
    assert out == ""


def test_a_missing_ini_file_is_an_error(tmp_path, capsys):
    code, out, err = run([str(tmp_path / "nope.ini")], capsys)
    assert code == 2
    assert err == f"ptasks: error: Ini file not found: {tmp_path}/nope.ini\n"


def test_usage_errors_and_help_come_from_argparse(app_ini, capsys):
    assert run([], capsys)[0] == 2
    assert run([app_ini, "--schedule", "--config"], capsys)[0] == 2
    code, out, _ = run(["--help"], capsys)
    assert code == 0
    assert "ptasks CONFIG [key=value ...] call" in out


def test_an_app_that_cannot_load_exits_with_1(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(tmp_path))
    settings = dict(SETTINGS, **{"pyramid_tasks.schedule.tick.every": "soon"})
    ini = write_app(tmp_path, settings=settings)
    code, out, err = run([ini], capsys)
    assert code == 1
    assert err.startswith(f"ptasks: error: Cannot load {ini}: ")
    assert "Schedule entry 'tick'" in err


def test_an_app_without_pyramid_tasks_exits_with_1(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.syspath_prepend(str(tmp_path))
    source = textwrap.dedent(
        """
        from pyramid.config import Configurator

        def main(global_config, **settings):
            return Configurator(settings=settings).make_wsgi_app()
        """
    )
    ini = write_app(tmp_path, settings={}, source=source)
    code, out, err = run([ini], capsys)
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
    tmp_path, monkeypatch, capsys
):
    monkeypatch.syspath_prepend(str(tmp_path))
    settings = dict(SETTINGS)
    settings["celery.task_publish_retry"] = "false"
    settings["celery.broker_transport_options.max_retries"] = "1"
    settings["celery.broker_transport_options.interval_start"] = "0"
    ini = write_app(tmp_path, settings=settings)
    text = open(ini).read().replace("memory://", "redis://127.0.0.1:1/0", 1)
    open(ini, "w").write(text)
    code, out, err = run([ini, "call", "--defer", "add", "1", "2"], capsys)
    assert code == 1
    assert err.startswith("ptasks: error: Cannot queue add: ")
    assert "127.0.0.1:1" in err
    assert err.count("\n") == 1


def test_quiet_prints_nothing(app_ini, capsys):
    assert main([app_ini, "call", "ad"], quiet=True) == 2
    assert main([app_ini], quiet=True) == 0
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize(
    "schedule, words",
    [
        (1, "every second"),
        (2.5, "every 2.5 seconds"),
        (60, "every minute"),
        (7200, "every 2 hours"),
        (86400, "every day"),
    ],
)
def test_intervals_are_described_in_the_largest_unit(schedule, words):
    assert describe_schedule(schedule) == words


@pytest.mark.parametrize(
    "fields, words",
    [
        ({}, "every minute"),
        ({"minute": "*/15"}, "every 15 minutes"),
        ({"minute": "5,35"}, "every hour at minute 5,35"),
        ({"minute": "0", "hour": "*/2"}, "every 2 hours at minute 0"),
        ({"minute": "0", "hour": "9,17"}, "at 09:00, 17:00"),
        ({"minute": "1-5", "hour": "3"}, "at minute 1-5 of hour 3"),
        (
            {"minute": 0, "hour": 0, "day_of_week": "sun,3"},
            "at 00:00 on sun, Wednesday",
        ),
        (
            {
                "minute": 0,
                "hour": 0,
                "day_of_month": "1",
                "month_of_year": "1-3",
            },
            "at 00:00 on day 1 of the month in January to March",
        ),
    ],
)
def test_crontabs_are_described_in_words(fields, words):
    from celery.schedules import crontab

    assert describe_schedule(crontab(**fields)).startswith(f"{words} (cron ")


def test_other_schedules_are_shown_as_they_are():
    from celery.schedules import schedule, solar

    assert describe_schedule(schedule(30)) == "every 30 seconds"
    assert describe_schedule(solar("dawn_civil", 1, 2)) == (
        "at dawn civil (latitude 1, longitude 2)"
    )
    assert describe_schedule("odd") == "'odd'"


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


def test_the_script_lists_schedules_and_reports_errors(tmp_path):
    ini = write_app(tmp_path)
    done = ptasks(ini, "--schedule", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "  schedule:  every 90 seconds" in done.stdout
    done = ptasks(ini, "call", "ad", "1", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == (
        "ptasks: error: No task is registered as 'ad'; did you mean 'add'?\n"
    )


@pytest.mark.redis
def test_the_script_defers_a_task_to_a_worker_over_redis(tmp_path, make_app):
    ini = write_app(tmp_path, broker="redis")
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
