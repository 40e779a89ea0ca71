"""``ptasks config.ini dev``: the web server, a worker and beat, reloaded.

The process tree while it runs::

    ptasks dev            hupper's monitor: watches files, restarts below
    └── supervisor        loads the app once (so hupper watches its
        │                 modules), then starts and stops:
        ├── pserve config.ini
        ├── celery -A pyramid_tasks worker --ini config.ini
        └── celery -A pyramid_tasks beat --ini config.ini

A change to the ini file or to any module the application imported makes
hupper stop the supervisor, which stops its children, and start it again.
Nothing here ever runs inside a web request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from typing import IO, Any

import hupper
from hupper.logger import DefaultLogger, LogLevel
from pyramid import paster
from pyramid.scripts.common import parse_vars

from ..interfaces import ICeleryApp, IOutbox
from ..quiet import PKG_RESOURCES_DEPRECATED
from ..stopping import stop_on_signals

__all__ = ["PROCESSES", "ProcessGroup", "dev_commands", "run", "supervise"]

#: The processes ``ptasks dev`` starts, in order.
PROCESSES = ("web", "worker", "beat", "relay")

#: Seconds a child gets to exit after SIGTERM before it is killed.
STOP_TIMEOUT = 10.0

_LABEL_WIDTH = max(len(name) for name in (*PROCESSES, "ptasks"))


def run(
    config_uri: str,
    config_vars: Sequence[str] = (),
    *,
    web: bool = True,
    worker: bool = True,
    beat: bool = True,
    relay: bool = True,
    worker_args: str = "",
    reload_interval: float = 1.0,
    start_reloader: Callable[..., Any] | None = None,
) -> int:
    """Run the development processes under hupper until interrupted.

    In the calling process this starts hupper's monitor, which does not
    return (it exits with the supervisor's exit code); the supervisor runs
    :func:`supervise` in a fresh process. ``start_reloader`` replaces
    :func:`hupper.start_reloader` in tests.
    """
    kwargs: dict[str, Any] = {
        "config_uri": config_uri,
        "config_vars": list(config_vars),
        "web": web,
        "worker": worker,
        "beat": beat,
        "relay": relay,
        "worker_args": worker_args,
    }
    if hupper.is_active():
        # Already under a reloader (``hupper -m ...``): be the supervisor.
        return supervise(**kwargs)
    start_reloader = start_reloader or hupper.start_reloader
    start_reloader(
        f"{__name__}.supervise",
        reload_interval=reload_interval,
        # The supervisor needs up to STOP_TIMEOUT to stop its children;
        # hupper kills it outright after this long.
        shutdown_interval=STOP_TIMEOUT + 5,
        worker_kwargs=kwargs,
        logger=ReloaderLogger(LogLevel.INFO),
    )
    return 0


class ReloaderLogger(DefaultLogger):
    """hupper's own messages, labelled like the supervisor's."""

    def _out(self, level: Any, msg: str) -> None:
        super()._out(level, f"{'ptasks'.ljust(_LABEL_WIDTH)} | {msg}")


def dev_commands(
    config_uri: str,
    config_vars: Sequence[str] = (),
    *,
    web: bool = True,
    worker: bool = True,
    beat: bool = True,
    relay: bool = False,
    worker_args: str = "",
    beat_schedule_file: str | None = None,
) -> dict[str, list[str]]:
    """Return the command line of each development process by name."""
    python = sys.executable
    ini_vars = [arg for var in config_vars for arg in ("--ini-var", var)]
    celery = [python, "-m", "celery", "-A", "pyramid_tasks"]
    commands = {}
    if web:
        commands["web"] = [
            python,
            "-m",
            "pyramid.scripts.pserve",
            config_uri,
            *config_vars,
        ]
    if worker:
        commands["worker"] = [
            *celery,
            "worker",
            "--ini",
            config_uri,
            *ini_vars,
            "--loglevel",
            "INFO",
            *shlex.split(worker_args),
        ]
    if beat:
        commands["beat"] = [
            *celery,
            "beat",
            "--ini",
            config_uri,
            *ini_vars,
            "--loglevel",
            "INFO",
        ]
        if beat_schedule_file:
            commands["beat"] += ["--schedule", beat_schedule_file]
    if relay:
        commands["relay"] = [
            python,
            "-m",
            "pyramid_tasks.scripts.ptasks",
            config_uri,
            *config_vars,
            "relay",
        ]
    return commands


def supervise(
    config_uri: str,
    config_vars: Sequence[str] = (),
    *,
    web: bool = True,
    worker: bool = True,
    beat: bool = True,
    relay: bool = True,
    worker_args: str = "",
    out: IO[str] | None = None,
    bootstrap: Callable[..., Any] | None = None,
) -> int:
    """Start the development processes and stop them on SIGTERM or SIGINT.

    The application is loaded once first: under hupper every module it
    imports is then watched, and so is the ini file. Beat is left out when
    the application has no periodic tasks, the relay when it has no
    outbox or runs it in the worker. Returns once every child has
    stopped.
    """
    out = out or sys.stdout
    stop = threading.Event()
    with stop_on_signals(stop):
        path = os.path.abspath(config_uri.partition("#")[0])
        if hupper.is_active():
            hupper.get_reloader().watch_files([path])
        env = (bootstrap or paster.bootstrap)(
            config_uri, options=parse_vars(list(config_vars))
        )
        group = ProcessGroup(out)
        try:
            beat, relay = _needed(env["registry"], group, beat, relay)
        finally:
            env["closer"]()
        workdir = tempfile.mkdtemp(prefix="ptasks-dev-")
        try:
            commands = dev_commands(
                config_uri,
                config_vars,
                web=web,
                worker=worker,
                beat=beat,
                relay=relay,
                worker_args=worker_args,
                beat_schedule_file=os.path.join(workdir, "beat-schedule"),
            )
            try:
                for name, argv in commands.items():
                    group.start(name, argv)
                while not stop.wait(0.2):
                    pass
            finally:
                group.stop()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _needed(
    registry: Any, group: ProcessGroup, beat: bool, relay: bool
) -> tuple[bool, bool]:
    """Whether beat and the relay have work in this application."""
    celery_app = registry.queryUtility(ICeleryApp)
    if beat and not (celery_app and celery_app.conf.beat_schedule):
        group.say("ptasks", "beat is not started: no periodic tasks")
        beat = False
    outbox = registry.queryUtility(IOutbox)
    if relay and (outbox is None or outbox.relay_settings.in_worker):
        relay = False
    return beat, relay


class ProcessGroup:
    """Child processes whose output is copied to ``out``, line by line,
    each line prefixed with the child's name (``worker | ...``).

    Every child runs in a session of its own, so that stopping it stops
    whatever it started (the worker's pool) and a Ctrl-C in the terminal
    reaches only the supervisor, which stops the children in order.
    """

    def __init__(self, out: IO[str], timeout: float = STOP_TIMEOUT) -> None:
        self.out = out
        self.timeout = timeout
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._stopping = False

    def say(self, name: str, text: str) -> None:
        """Write one line of output, prefixed with ``name``."""
        with self._lock:
            self.out.write(f"{name.ljust(_LABEL_WIDTH)} | {text}\n")
            self.out.flush()

    def start(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        """Start ``argv`` as the child ``name``."""
        env = dict(
            os.environ,
            PYTHONUNBUFFERED="1",
            PYTHONWARNINGS=_quiet(os.environ.get("PYTHONWARNINGS", "")),
        )
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
        self.children[name] = proc
        self.say("ptasks", f"started {name} (pid {proc.pid}): {_cmd(argv)}")
        thread = threading.Thread(
            target=self._copy, args=(name, proc), daemon=True
        )
        thread.start()
        self._threads.append(thread)
        return proc

    def _copy(self, name: str, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None  # started with stdout=PIPE
        for raw in iter(proc.stdout.readline, b""):
            self.say(name, raw.decode("utf-8", "replace").rstrip("\r\n"))
        code = proc.wait()
        if not self._stopping:
            self.say("ptasks", f"{name} exited with code {code}")

    def stop(self) -> None:
        """Stop every child: SIGTERM, then SIGKILL after the timeout."""
        self._stopping = True
        _signal_groups(self.children.values(), signal.SIGTERM)
        for name, proc in self.children.items():
            try:
                proc.wait(self.timeout)
            except subprocess.TimeoutExpired:
                self.say("ptasks", f"{name} did not stop, killing it")
        # Also reaches anything a child left behind in its session.
        _signal_groups(self.children.values(), signal.SIGKILL)
        for name, proc in self.children.items():
            code = proc.wait()
            self.say("ptasks", f"stopped {name} (exit code {code})")
        for thread in self._threads:
            thread.join(2)


def _signal_groups(
    procs: Iterable[subprocess.Popen[bytes]], signum: int
) -> None:
    for proc in procs:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signum)


def _quiet(warnings: str) -> str:
    """``PYTHONWARNINGS`` for the children: pserve imports Pyramid, and so
    pkg_resources, before pyramid_tasks could keep setuptools' warning
    quiet, so ask Python to. The last entry wins over the user's."""
    ignore = f"ignore:{PKG_RESOURCES_DEPRECATED}:UserWarning"
    return f"{warnings},{ignore}" if warnings else ignore


def _cmd(argv: list[str]) -> str:
    shown: list[Any] = list(argv)
    if shown and shown[0] == sys.executable:
        shown[0] = "python"
    return shlex.join(shown)
