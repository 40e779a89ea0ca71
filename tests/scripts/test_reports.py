"""What ptasks reports: the task table, the schedules, the settings."""

import textwrap


def test_the_table_lists_every_task_with_what_configures_it(app_ini, run):
    code, out, err = run([app_ini])
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


def test_an_app_without_tasks_says_so(run, write_app):
    source = "from pyramid.config import Configurator\n" + textwrap.dedent(
        """
        def main(global_config, **settings):
            config = Configurator(settings=settings)
            config.include("pyramid_tasks")
            return config.make_wsgi_app()
        """
    )
    ini = write_app(settings={}, source=source)
    assert run([ini])[1] == "No tasks are registered.\n"
    assert run([ini, "--schedule"])[1] == (
        "No periodic tasks are registered.\n"
    )
    assert "beat_schedule" not in run([ini, "--config"])[1]


def test_schedule_shows_each_entry_in_words_with_next_runs(app_ini, run):
    code, out, err = run([app_ini, "--schedule", "-n", "2"])
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


def test_schedule_says_when_no_timezone_is_set(run, write_app, app_settings):
    settings = dict(app_settings)
    del settings["celery.timezone"]
    ini = write_app(settings=settings)
    code, out, err = run([ini, "--schedule", "--next", "0"])
    assert code == 0, err
    tick = out.split("\n\n")[1].splitlines()
    assert tick[3] == "  timezone:  UTC (celery.timezone is not set)"
    assert tick[-1] == "  next runs: -"


def test_config_shows_coerced_settings_with_secrets_masked(
    run, write_app, app_settings
):
    settings = dict(app_settings)
    settings.update(
        {
            "celery.result_backend": "redis://:s3cret@127.0.0.1:1/0",
            "celery.security_key": "s3cret.pem",
            "celery.broker_transport_options.global_keyprefix": "pfx:",
            "celery.broker_transport_options.sentinel_password": "s3cret",
            "celery.worker_prefetch_multiplier": "8",
        }
    )
    ini = write_app(settings=settings)
    code, out, err = run([ini, "--config"])
    assert code == 0, err
    assert "s3cret" not in out
    lines = out.splitlines()
    assert "result_backend = redis://:**@127.0.0.1:1/0" in lines
    assert "security_key = ********" in lines
    assert "worker_prefetch_multiplier = 8" in lines
    assert '"global_keyprefix": "pfx:"' in out
    assert '"sentinel_password": "********"' in out
    assert "beat_schedule = <2 entries, see ptasks --schedule>" in lines
