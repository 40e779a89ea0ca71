"""``ptasks config.ini dev``: real processes, reloaded and stopped."""

import contextlib
import io
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request

from pyramid import paster
import pytest

from pyramid_tasks.scripts import devrunner
from pyramid_tasks.scripts.ptasks import main

from outbox_app import configure
from services import broker_settings, free_port, unique

APP = """
from pyramid.config import Configurator
from pyramid.response import Response

VERSION = 1


def tick(request):
    return VERSION


def hello(request):
    return Response("hello")


def main(global_config, **settings):
    config = Configurator(settings=settings)
    config.include("pyramid_tasks")
    config.register_task(tick, name="tick")
    config.add_route("hello", "/")
    config.add_view(hello, route_name="hello")
    return config.make_wsgi_app()
"""


def write_app(tmp_path, broker="memory", schedule=True, port=None):
    module = unique("dev_app")
    source = tmp_path / f"{module}.py"
    source.write_text(APP)
    settings = broker_settings(broker)
    if schedule:
        settings["pyramid_tasks.schedule.tick.task"] = "tick"
        settings["pyramid_tasks.schedule.tick.every"] = "1"
    lines = "\n".join(f"{key} = {value}" for key, value in settings.items())
    server = ""
    if port:
        server = "[server:main]\nuse = egg:waitress#main\n"
        server += f"listen = 127.0.0.1:{port}\n"
    ini = tmp_path / "dev.ini"
    ini.write_text(
        f"[app:main]\nuse = call:{module}:main\n{lines}\n\n{server}"
    )
    return str(ini), source


def alive(pid):
    """Whether ``pid`` runs (a zombie waiting for its parent does not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def kill_all(pids, signum=signal.SIGKILL):
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signum)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


class Output:
    """Collects a process's output in a thread; waits for patterns."""

    def __init__(self, stream):
        self.lines = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(
            target=self._read, args=(stream,), daemon=True
        )
        self._thread.start()

    def _read(self, stream):
        for line in iter(stream.readline, ""):
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def text(self):
        return "\n".join(self.lines)

    def wait_for(self, pattern, count=1, timeout=30):
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [m for line in self.lines if (m := regex.search(line))]
                if len(found) >= count:
                    return found[count - 1]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{pattern!r} (x{count}) not seen in:\n{self.text()}"
                    )
                self._changed.wait(left)


def get(url, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                return answer.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def edit_until_reloaded(source, text, output, attempts=20):
    """Change ``source`` until hupper reloads.

    hupper notes a module's modification time when it first sees the
    module; an edit made before that is not a change, so edit again with
    a later time until one is noticed.
    """
    for attempt in range(1, attempts + 1):
        source.write_text(text)
        stamp = time.time() + attempt
        os.utime(source, (stamp, stamp))
        try:
            return output.wait_for(r"changed; reloading", timeout=1.5)
        except AssertionError:
            continue
    raise AssertionError(f"no reload after {attempts} edits")


def started_pids(output):
    pattern = re.compile(r"^ptasks \| started (\w+) \(pid (\d+)\)")
    return [
        (m.group(1), int(m.group(2)))
        for line in output.lines
        if (m := pattern.match(line))
    ]


@pytest.mark.redis
def test_dev_runs_web_worker_and_beat_reloads_and_stops_them(tmp_path):
    port = free_port()
    ini, source = write_app(tmp_path, broker="redis", port=port)
    node = unique("dev")
    worker_args = (
        f"--pool solo -n {node}@%h --without-mingle --without-gossip "
        "--without-heartbeat"
    )
    script = os.path.join(os.path.dirname(sys.executable), "ptasks")
    proc = subprocess.Popen(
        [script, ini, "dev", "--worker-args", worker_args],
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=str(tmp_path)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    output = Output(proc.stdout)
    seen = set()
    try:
        # Every process is up, beat sends the ini's periodic task and the
        # worker runs it, the web server answers.
        output.wait_for(r"^worker +\| .*ready\.$")
        output.wait_for(r"^beat +\| .*Sending due task tick \(tick\)")
        output.wait_for(r"^worker +\| .*Task tick\[.*\] succeeded.*: 1$")
        assert get(f"http://127.0.0.1:{port}/") == b"hello"
        first = dict(started_pids(output))
        assert set(first) == {"web", "worker", "beat"}
        seen.update(first.values())
        supervisor = int(output.wait_for(r"monitor for PID (\d+)").group(1))
        seen.add(supervisor)

        edit_until_reloaded(
            source, APP.replace("VERSION = 1", "VERSION = 2"), output
        )
        output.wait_for(r"^worker +\| .*ready\.$", count=2)
        output.wait_for(r"^worker +\| .*Task tick\[.*\] succeeded.*: 2$")
        second = dict(started_pids(output)[3:])
        assert set(second) == {"web", "worker", "beat"}
        seen.update(second.values())
        assert not any(alive(pid) for pid in first.values())
        supervisor2 = int(
            output.wait_for(r"monitor for PID (\d+)", count=2).group(1)
        )
        seen.add(supervisor2)
        assert not alive(supervisor)

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, output.text()
        assert [pid for pid in seen if alive(pid)] == []
        assert "ptasks | stopped worker" in output.text()
        # pserve too is kept from printing setuptools' pkg_resources warning.
        assert "UserWarning" not in output.text()
    finally:
        kill_all([proc.pid, *seen])
        proc.wait(timeout=10)


# -- in-process, for what the subprocess test exercises from outside -----


def test_commands_start_pserve_and_celery_with_the_ini():
    commands = devrunner.dev_commands(
        "dev.ini",
        ["a=1"],
        worker_args="--pool solo -Q 'a b'",
        beat_schedule_file="/tmp/x",
    )
    python = sys.executable
    celery = [python, "-m", "celery", "-A", "pyramid_tasks"]
    ini = ["--ini", "dev.ini", "--ini-var", "a=1", "--loglevel", "INFO"]
    assert commands == {
        "web": [python, "-m", "pyramid.scripts.pserve", "dev.ini", "a=1"],
        "worker": [*celery, "worker", *ini, "--pool", "solo", "-Q", "a b"],
        "beat": [*celery, "beat", *ini, "--schedule", "/tmp/x"],
    }
    only = devrunner.dev_commands("dev.ini", web=False, worker=False)
    assert only == {"beat": [*celery, "beat", *ini[:2], *ini[4:]]}


@pytest.mark.parametrize(
    "given, expected",
    [
        ("", "{ignore}"),
        (
            "default,error::RuntimeWarning",
            "default,error::RuntimeWarning,{ignore}",
        ),
    ],
)
def test_children_ignore_only_the_pkg_resources_warning(given, expected):
    ignore = "ignore:pkg_resources is deprecated as an API:UserWarning"
    assert devrunner._quiet(given) == expected.format(ignore=ignore)


def test_a_group_prefixes_output_and_stops_every_child():
    out = io.StringIO()
    group = devrunner.ProcessGroup(out, timeout=1)
    python = sys.executable
    stubborn = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        " print('SIGTERM', 'ignored', flush=True); time.sleep(60)"
    )
    sleeper = group.start("web", [python, "-c", stubborn])
    group.start("beat", ["sh", "-c", "echo bye"])
    deadline = time.monotonic() + 20
    while "beat exited" not in out.getvalue() or "SIGTERM ignored" not in (
        out.getvalue()
    ):
        assert time.monotonic() < deadline, out.getvalue()
        time.sleep(0.05)
    group.stop()
    lines = out.getvalue().splitlines()
    assert any(
        line.startswith("ptasks | started beat (pid ")
        and line.endswith("): sh -c 'echo bye'")
        for line in lines
    )
    assert "web    | SIGTERM ignored" in lines
    assert "beat   | bye" in lines
    assert "ptasks | beat exited with code 0" in lines
    assert "ptasks | web did not stop, killing it" in lines
    assert f"ptasks | stopped web (exit code {-signal.SIGKILL})" in lines
    assert sleeper.poll() == -signal.SIGKILL


def test_supervise_starts_beat_only_with_periodic_tasks(
    tmp_path, monkeypatch, sigterm_ignored
):
    monkeypatch.syspath_prepend(str(tmp_path))
    ini, _ = write_app(tmp_path, schedule=False)
    out = io.StringIO()
    signal_when_seen(out, "beat is not started")
    argv = dict(web=False, worker=False, out=out)
    assert devrunner.supervise(ini, **argv) == 0
    assert out.getvalue() == (
        "ptasks | beat is not started: no periodic tasks\n"
    )


def test_supervise_runs_beat_until_sigterm(
    tmp_path, monkeypatch, sigterm_ignored
):
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    ini, _ = write_app(tmp_path)
    out = io.StringIO()
    signal_when_seen(out, "beat: Starting...")
    argv = dict(web=False, worker=False, out=out)
    assert devrunner.supervise(ini, ["x=1"], **argv) == 0
    text = out.getvalue()
    pid = int(re.search(r"started beat \(pid (\d+)\)", text).group(1))
    assert not alive(pid)
    assert "beat   | celery beat v" in text
    assert "ptasks | stopped beat" in text
    assert signal.getsignal(signal.SIGTERM) is sigterm_ignored


def signal_when_seen(out, text, timeout=20):
    """SIGTERM this process once ``text`` is written to ``out``."""

    def watch():
        deadline = time.monotonic() + timeout
        while text not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, daemon=True).start()


class DummyReloader:
    def __init__(self):
        self.calls = []
        self.watched = []

    def start_reloader(self, worker_path, **kwargs):
        self.calls.append((worker_path, kwargs))

    def watch_files(self, files):
        self.watched.extend(files)


def test_ptasks_dev_hands_the_supervisor_to_hupper(tmp_path, monkeypatch):
    ini, _ = write_app(tmp_path)
    reloader = DummyReloader()
    monkeypatch.setattr(
        devrunner.hupper, "start_reloader", reloader.start_reloader
    )
    argv = [ini, "v=1", "dev", "--no-web", "--no-relay", "--worker-args=-c 1"]
    assert main([*argv, "--reload-interval", "0.5"]) == 0
    ((path, kwargs),) = reloader.calls
    assert path == "pyramid_tasks.scripts.devrunner.supervise"
    assert kwargs["reload_interval"] == 0.5
    assert kwargs["shutdown_interval"] > devrunner.STOP_TIMEOUT
    assert kwargs["worker_kwargs"] == {
        "config_uri": ini,
        "config_vars": ["v=1"],
        "web": False,
        "worker": True,
        "beat": True,
        "relay": False,
        "worker_args": "-c 1",
    }
    assert isinstance(kwargs["logger"], devrunner.ReloaderLogger)


def test_hupper_messages_are_labelled(capsys):
    devrunner.ReloaderLogger(1).info("Starting monitor for PID 1.")
    assert capsys.readouterr().err == "ptasks | Starting monitor for PID 1.\n"


def test_under_hupper_the_supervisor_watches_the_ini(
    tmp_path, monkeypatch, sigterm_ignored
):
    monkeypatch.syspath_prepend(str(tmp_path))
    ini, _ = write_app(tmp_path, schedule=False)
    reloader = DummyReloader()
    monkeypatch.setattr(devrunner.hupper, "is_active", lambda: True)
    monkeypatch.setattr(devrunner.hupper, "get_reloader", lambda: reloader)
    envs = []
    real_bootstrap = paster.bootstrap

    def bootstrap(config_uri, options):
        envs.append(real_bootstrap(config_uri, options=options))
        os.kill(os.getpid(), signal.SIGTERM)
        return envs[-1]

    monkeypatch.setattr(paster, "bootstrap", bootstrap)
    argv = dict(web=False, worker=False, beat=False)
    assert devrunner.run(ini, **argv) == 0
    assert reloader.watched == [ini]
    assert len(envs) == 1


def test_the_relay_runs_when_the_application_has_an_outbox(tmp_path):
    commands = devrunner.dev_commands(
        "dev.ini", ["v=1"], web=False, worker=False, beat=False, relay=True
    )
    assert commands == {
        "relay": [
            sys.executable,
            "-m",
            "pyramid_tasks.scripts.ptasks",
            "dev.ini",
            "v=1",
            "relay",
        ]
    }
    group = devrunner.ProcessGroup(io.StringIO())
    url = f"sqlite:///{tmp_path}/dev.sqlite"
    for in_worker, expected in (("false", True), ("true", False)):
        config, engine = configure(
            url, **{"pyramid_tasks.outbox.in_worker": in_worker}
        )
        config.commit()
        assert devrunner._needed(config.registry, group, False, True) == (
            False,
            expected,
        )
        engine.dispose()
