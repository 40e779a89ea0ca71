"""The tools print no third-party warning, and still print ours.

The test virtualenv has the setuptools a new one gets with Pyramid
(``setuptools>=81`` in the ``testing`` extra), whose ``pkg_resources``
warns when Pyramid imports it: the first test checks that it does.
"""

import os
import subprocess
import sys

import pytest

from pyramid_tasks.quiet import PKG_RESOURCES_DEPRECATED

BIN = os.path.dirname(sys.executable)
CLIAPP = os.path.join(os.path.dirname(__file__), "cliapp")


def run(*argv):
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": CLIAPP},
    )


def write_ini(tmp_path, *settings):
    ini = tmp_path / "app.ini"
    lines = ["[app:main]", "use = call:cliapp:main", "greeting = Hi"]
    lines += ["pyramid.includes = pyramid_tasks"]
    # A broker URL that needs no server: the commands do not connect.
    lines += ["celery.broker_url = redis://127.0.0.1:6379/0", *settings]
    ini.write_text("\n".join(lines) + "\n")
    return str(ini)


def tools(ini):
    return [
        [os.path.join(BIN, "ptasks"), ini],
        [os.path.join(BIN, "celery"), "-A", "pyramid_tasks", "report"]
        + ["--ini", ini],
    ]


def test_pyramid_imports_pkg_resources_with_a_warning_here():
    done = run(sys.executable, "-c", "import pyramid.config")
    assert PKG_RESOURCES_DEPRECATED in done.stderr


@pytest.mark.parametrize("tool", [0, 1], ids=["ptasks", "celery"])
def test_the_tools_print_nothing_on_stderr(tmp_path, tool):
    done = run(*tools(write_ini(tmp_path))[tool])
    assert done.returncode == 0, done.stderr
    assert done.stdout
    assert done.stderr == ""


@pytest.mark.parametrize("tool", [0, 1], ids=["ptasks", "celery"])
def test_the_tools_still_print_our_warnings(tmp_path, tool):
    ini = write_ini(tmp_path, "celery.worker_concurency = 2")
    done = run(*tools(ini)[tool])
    assert done.returncode == 0, done.stderr
    assert (
        "UnknownCelerySetting: Unknown Celery setting "
        "'celery.worker_concurency'; did you mean "
        "'celery.worker_concurrency'?"
    ) in done.stderr
    assert "pkg_resources" not in done.stderr


def test_no_warnings_filter_is_left_behind():
    done = run(
        sys.executable,
        "-c",
        "import warnings, pyramid_tasks.scripts; print(warnings.filters[:3])",
    )
    assert done.returncode == 0, done.stderr
    assert "pkg_resources" not in done.stdout
    assert done.stderr == ""
