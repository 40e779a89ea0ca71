"""Fixtures of the ``ptasks`` tests: an application and its ini file."""

import pytest

from pyramid_tasks.scripts.ptasks import main

from services import broker_settings, unique

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


def _write_app(tmp_path, settings=None, source=APP, broker="memory"):
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
def write_app(tmp_path, monkeypatch):
    """``write_app(settings=None, source=APP, broker="memory")`` writes an
    app module and its ini into ``tmp_path``; returns the ini path."""
    monkeypatch.syspath_prepend(str(tmp_path))
    return lambda *args, **kwargs: _write_app(tmp_path, *args, **kwargs)


@pytest.fixture
def app_settings():
    """A copy of the settings the test application is written with."""
    return dict(SETTINGS)


@pytest.fixture
def app_ini(write_app):
    """The ini of the test application."""
    return write_app()


@pytest.fixture
def run(capsys):
    """``run(argv)`` runs ``ptasks`` in-process: ``(code, out, err)``."""

    def run(argv):
        code = main(argv)
        out, err = capsys.readouterr()
        return code, out, err

    return run
