"""Why an ini cannot be loaded, in one line, from both tools."""

import os
import subprocess
import sys

from pyramid.config import Configurator
from pyramid.exceptions import ConfigurationExecutionError
import pytest

from pyramid_tasks.scripts.loaderror import load_error_message

CLIAPP = os.path.join(os.path.dirname(__file__), os.pardir, "cliapp")
BIN = os.path.dirname(sys.executable)
EXPECTED = (
    "Cannot load {ini}: Setting 'celery.worker_concurrency' = 'many' is not "
    "a valid int: invalid literal for int() with base 10: 'many'\n"
)


def test_a_bad_setting_is_named_without_pyramids_wrapping():
    config = Configurator(settings={"celery.worker_concurrency": "many"})
    config.include("pyramid_tasks")
    with pytest.raises(ConfigurationExecutionError) as info:
        config.commit()
    assert load_error_message("x.ini", info.value) == (
        EXPECTED.format(ini="x.ini").rstrip("\n")
    )


def test_other_errors_keep_their_class_and_lose_their_passwords():
    error = ValueError("cannot reach redis://:hunter2@db:6379/0")
    assert load_error_message("x.ini", error) == (
        "Cannot load x.ini: ValueError: cannot reach redis://:**@db:6379/0"
    )


@pytest.fixture
def bad_ini(tmp_path):
    ini = tmp_path / "bad.ini"
    ini.write_text(
        "[app:main]\nuse = call:cliapp:main\n"
        "pyramid.includes = pyramid_tasks\ncelery.broker_url = memory://\n"
        "celery.worker_concurrency = many\n"
    )
    return str(ini)


@pytest.mark.parametrize(
    "argv, prefix",
    [
        (["ptasks", "{ini}"], "ptasks: error: "),
        (
            ["celery", "-A", "pyramid_tasks", "worker", "--ini", "{ini}"],
            "Error: ",  # Celery's own prefix for a usage error
        ),
    ],
    ids=["ptasks", "celery"],
)
def test_both_tools_print_one_line_naming_the_setting(bad_ini, argv, prefix):
    argv = [os.path.join(BIN, argv[0])] + [
        a.format(ini=bad_ini) for a in argv[1:]
    ]
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": CLIAPP},
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == prefix + EXPECTED.format(ini=bad_ini)
