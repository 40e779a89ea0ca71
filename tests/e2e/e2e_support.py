"""Start the examples' real processes and talk to them over HTTP.

Every process runs in a session of its own and is stopped, with all its
children, when the ``Processes`` context exits, whatever happened.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import os
from pathlib import Path
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
BIN = Path(sys.executable).parent

#: Skip the worker's start-up chatter with other workers: one is enough.
WORKER_FLAGS = ("--without-gossip", "--without-mingle", "--without-heartbeat")

#: Variables the examples read; a test sets the ones it wants.
_EXAMPLE_VARIABLES = (
    "BROKER_URL",
    "DATABASE_URL",
    "DEMO_EXIT",
    "LEDGER_NAMESPACE",
    "PORT",
    "PYRAMID_TASKS_INI",
    "REDIS_URL",
    "RESULT_BACKEND",
)


def example_env(**variables: str) -> dict[str, str]:
    """The test's environment without the examples' variables, plus these."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in _EXAMPLE_VARIABLES
    }
    env["PYTHONUNBUFFERED"] = "1"
    env.update(variables)
    return env


def celery(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", *args]


def pserve(config_uri: str | Path) -> list[str]:
    return [str(BIN / "pserve"), str(config_uri)]


def ini_copy(
    source: Path, directory: Path, port: int | None = None, **settings
) -> Path:
    """Copy an example's ini, listening on ``port``, with more settings."""
    text = source.read_text()
    if port is not None:
        text, count = re.subn(
            r"^listen = .*$", f"listen = 127.0.0.1:{port}", text, flags=re.M
        )
        assert count == 1, f"{source} has no listen line"
    for key, value in settings.items():
        line = f"{key} = {value}"
        text, count = re.subn(
            rf"^{re.escape(key)} = .*$",
            lambda _, line=line: line,
            text,
            flags=re.M,
        )
        if not count:
            text = text.replace("[app:main]\n", f"[app:main]\n{line}\n", 1)
    path = directory / source.name
    path.write_text(text)
    return path


class Process:
    """One started process; its output goes to a file."""

    def __init__(self, name: str, command, cwd: Path, env) -> None:
        self.name = name
        self.log_path = Path(cwd) / f"{name}.log"
        with open(self.log_path, "wb") as log:
            self.popen = subprocess.Popen(
                [str(part) for part in command],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def running(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if not self.running:
                raise AssertionError(
                    f"{self.name} exited ({self.popen.returncode}) before "
                    f"printing {text!r}:\n{self.output()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.name} did not print {text!r} within {timeout}s:"
                    f"\n{self.output()}"
                )
            time.sleep(0.05)

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signum)


class Processes:
    """The processes a test started, stopped together at the end."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started: list[Process] = []

    def start(self, name: str, command, env, cwd: Path | None = None):
        process = Process(name, command, cwd or self.directory, env)
        self.started.append(process)
        return process

    def stop(self, timeout: float = 2.0) -> None:
        """Ask every process to stop, then kill what is left.

        A worker on a polling transport (SQLAlchemy) takes about four
        seconds to shut down cleanly; the tests do not wait that long.
        """
        for process in self.started:
            process.signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in self.started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.popen.wait(max(deadline - time.monotonic(), 0.01))
        for process in self.started:
            # Also ends children (prefork pool) that outlived their parent.
            process.signal(signal.SIGKILL)
            process.popen.wait()

    def outputs(self) -> str:
        return "\n".join(
            f"--- {process.name}:\n{process.output()}"
            for process in self.started
        )


@contextlib.contextmanager
def processes(directory: Path) -> Iterator[Processes]:
    started = Processes(directory)
    try:
        yield started
    finally:
        started.stop()
        # Shown by pytest only when a test of the module failed.
        print(started.outputs())


def get(url: str, timeout: float = 10.0) -> tuple[int, str]:
    """GET ``url``: the status and the body."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_for_http(url: str, process: Process, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            get(url, timeout=2)
            return
        except OSError:
            if not process.running or time.monotonic() > deadline:
                raise AssertionError(
                    f"{process.name} does not answer at {url}:\n"
                    f"{process.output()}"
                ) from None
            time.sleep(0.05)


def wait_for_result(base: str, task_id: str, timeout: float = 20.0) -> str:
    """Poll ``/result?id=`` until it is no longer ``Pending...``."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = get(f"{base}/result?id={task_id}")
        assert status == 200, body
        if body != "Pending...\n":
            return body
        assert time.monotonic() < deadline, f"task {task_id} never finished"
        time.sleep(0.05)
