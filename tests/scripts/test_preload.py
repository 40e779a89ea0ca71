"""The --ini bootstrap, in-process."""

import logging
import os
import sys

import pytest

from pyramid_tasks import PyramidCelery
from pyramid_tasks.scripts.preload import (
    IniError,
    load_celery_app,
    make_cli_app,
)

from services import ini_logging

CLIAPP = os.path.join(os.path.dirname(__file__), os.pardir, "cliapp")


def write_ini(tmp_path, app_section, extra=""):
    path = tmp_path / "app.ini"
    path.write_text(
        f"""[app:main]
{app_section}

[app:other]
use = call:cliapp:main
pyramid.includes = pyramid_tasks
celery.broker_url = memory://
greeting = Other
{extra}
"""
    )
    return str(path)


MAIN = """use = call:cliapp:main
pyramid.includes = pyramid_tasks
celery.broker_url = memory://
celery.worker_concurrency = 3
greeting = Hello %(who)s"""


@pytest.fixture(autouse=True)
def cliapp_on_path(monkeypatch):
    monkeypatch.syspath_prepend(CLIAPP)


def test_the_ini_gives_the_applications_celery_app(tmp_path):
    app = load_celery_app(write_ini(tmp_path, MAIN), ["who=a=b,c"])
    assert isinstance(app, PyramidCelery)
    assert app.conf.worker_concurrency == 3
    assert app.registry.settings["greeting"] == "Hello a=b,c"
    assert "greet" in app.tasks


def test_a_named_app_section_is_used(tmp_path):
    app = load_celery_app(write_ini(tmp_path, MAIN) + "#other")
    assert app.registry.settings["greeting"] == "Other"


@pytest.mark.parametrize(
    "uri, ini_vars, message",
    [
        (None, [], "No ini file given"),
        ("missing.ini", [], "Ini file not found: missing.ini"),
        ("{ini}", ["novalue"], "Bad --ini-var"),
    ],
)
def test_bad_arguments_give_one_line_errors(tmp_path, uri, ini_vars, message):
    ini = write_ini(tmp_path, MAIN)
    with pytest.raises(IniError) as info:
        load_celery_app(uri and uri.format(ini=ini), ini_vars)
    assert message in info.value.message
    assert "\n" not in info.value.message


def test_an_app_that_fails_to_load_is_reported(tmp_path):
    ini = write_ini(tmp_path, "use = call:cliapp:broken")
    with pytest.raises(IniError, match="RuntimeError: this app cannot start"):
        load_celery_app(ini)


def test_an_app_without_pyramid_tasks_is_reported(tmp_path):
    ini = write_ini(tmp_path, "use = call:cliapp:plain")
    with pytest.raises(IniError, match="does not configure pyramid_tasks"):
        load_celery_app(ini)


def test_a_non_pyramid_app_is_reported(tmp_path):
    def get_app(uri, options):
        return lambda environ, start_response: []

    ini = write_ini(tmp_path, MAIN)
    with pytest.raises(IniError, match="does not configure pyramid_tasks"):
        load_celery_app(ini, get_app=get_app)


def test_the_bootstrap_app_offers_the_ini_options():
    app = make_cli_app()
    names = {option.name for option in app.user_options["preload"]}
    assert names == {"ini", "ini_var"}
    assert app is not make_cli_app()


def test_celery_finds_the_bootstrap_app_lazily():
    import pyramid_tasks

    assert pyramid_tasks.app.user_options["preload"]
    with pytest.raises(AttributeError):
        pyramid_tasks.nothing  # noqa: B018


def test_logging_is_configured_from_the_ini(tmp_path):

    from celery import signals

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        load_celery_app(
            write_ini(tmp_path, MAIN, ini_logging("INI")), ["who=x"]
        )
        (handler,) = root.handlers
        assert handler.formatter._fmt == "INI %(levelname)s %(message)s"
        # Celery leaves logging alone when setup_logging has a receiver.
        assert signals.setup_logging.receivers
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


def test_the_celery_command_runs_with_the_ini_app(tmp_path):
    from celery.bin.celery import celery
    from click.testing import CliRunner

    ini = write_ini(tmp_path, MAIN)
    result = CliRunner().invoke(
        celery,
        ["-A", "pyramid_tasks", "report", "--ini", ini, "--ini-var", "who=x"],
    )
    assert result.exit_code == 0, result.output
    assert "worker_concurrency: 3" in result.output


def test_the_celery_command_fails_in_one_line(tmp_path):
    import subprocess
    import sys

    celery = os.path.join(os.path.dirname(sys.executable), "celery")
    for argv in (["--ini", "nope.ini"], []):
        done = subprocess.run(
            [celery, "-A", "pyramid_tasks", "worker", *argv],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYRAMID_TASKS_INI": ""},
        )
        assert done.returncode == 1
        assert done.stdout == ""
        assert len(done.stderr.splitlines()) == 1
        assert done.stderr.startswith("Error: ")


def test_preload_options_of_other_apps_are_left_alone():
    from celery import Celery

    from pyramid_tasks.scripts.preload import _on_preload

    assert _on_preload(app=Celery(set_as_current=False), options={}) is None


def test_a_bad_ini_in_the_preload_signal_exits_with_one_line(capsys):
    import click

    from pyramid_tasks.scripts.preload import _on_preload

    app = make_cli_app()
    with click.Context(click.Command("worker")):
        with pytest.raises(SystemExit) as info:
            _on_preload(app=app, options={"ini": "nope.ini"})
    assert info.value.code == 1
    assert capsys.readouterr().err == "Error: Ini file not found: nope.ini\n"


def test_ini_load_errors_do_not_show_passwords(tmp_path):
    ini = tmp_path / "app.ini"
    ini.write_text("[app:main]\nuse = egg:nothing\n")

    def get_app(config_uri, options=None):
        raise ValueError("cannot connect to redis://:hunter2@db:6379/0")

    with pytest.raises(IniError) as info:
        load_celery_app(str(ini), get_app=get_app)

    assert "hunter2" not in info.value.message
    assert "redis://:**@db:6379/0" in info.value.message


def test_bad_ini_vars_do_not_show_passwords(tmp_path):
    ini = tmp_path / "app.ini"
    ini.write_text("[app:main]\nuse = egg:nothing\n")

    with pytest.raises(IniError) as info:
        load_celery_app(str(ini), ["amqp://u:hunter2@mq//"])

    assert "hunter2" not in info.value.message


def _ini_logging_is_kept():
    from celery import signals

    from pyramid_tasks.scripts.preload import _ini_logging_is_set_up

    responses = signals.setup_logging.send(sender=None)
    return _ini_logging_is_set_up in [receiver for receiver, _ in responses]


def test_a_logfile_on_the_command_line_lets_celery_set_up_logging(
    tmp_path, monkeypatch
):
    import types

    import click

    from pyramid_tasks.scripts.preload import _on_preload

    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", root.level)
    ini = write_ini(tmp_path, MAIN, ini_logging("INI"))
    load_celery_app(ini, ["who=x"])
    assert _ini_logging_is_kept()
    with click.Context(click.Command("worker"), obj=types.SimpleNamespace()):
        ctx = click.get_current_context()
        ctx.params["logfile"] = str(tmp_path / "worker.log")
        _on_preload(
            app=make_cli_app(), options={"ini": ini, "ini_var": ["who=x"]}
        )
    assert isinstance(ctx.obj.app, PyramidCelery)
    # The ini's logging is set up, and Celery may set up its own on top.
    (handler,) = root.handlers
    assert handler.formatter._fmt == "INI %(levelname)s %(message)s"
    assert not _ini_logging_is_kept()


@pytest.mark.parametrize(
    "argv, option",
    [
        (["--ini", "x.ini"], "--ini"),
        (["--ini=x.ini", "--ini-var", "a=b"], "--ini-var"),
    ],
)
def test_multi_refuses_options_given_with_a_space(
    argv, option, monkeypatch, capsys
):
    import click

    from pyramid_tasks.scripts.preload import _on_preload

    monkeypatch.setattr(sys, "argv", ["celery", "multi", "start", "w1", *argv])
    with click.Context(click.Command("multi")):
        with pytest.raises(SystemExit) as info:
            _on_preload(app=make_cli_app(), options={"ini": "x.ini"})
    assert info.value.code == 1
    assert capsys.readouterr().err == (
        f"Error: celery multi needs {option}=VALUE, with '=': it takes the "
        f"word after {option} for a node name\n"
    )


def test_multi_takes_the_ini_with_an_equals_sign(tmp_path, monkeypatch):
    import types

    import click

    from pyramid_tasks.scripts.preload import _on_preload

    ini = write_ini(tmp_path, MAIN)
    argv = ["celery", "multi", "start", "w1", f"--ini={ini}", "--ini-var=a=b"]
    monkeypatch.setattr(sys, "argv", argv)
    with click.Context(click.Command("multi"), obj=types.SimpleNamespace()):
        ctx = click.get_current_context()
        options = {"ini": ini, "ini_var": ["who=a=b"]}
        _on_preload(app=make_cli_app(), options=options)
    assert isinstance(ctx.obj.app, PyramidCelery)
