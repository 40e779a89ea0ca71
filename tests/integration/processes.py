"""Start real celery/pserve processes for tests and always stop them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time

BIN = os.path.dirname(sys.executable)


@contextlib.contextmanager
def running(argv, ready: str, env=None, cwd=None, timeout: float = 30):
    """Run ``argv`` until the block ends; wait until ``ready`` is printed.

    The output goes to a file, shown when the block fails; the whole
    process group is killed on the way out.
    """
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
    proc = subprocess.Popen(
        argv,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        start_new_session=True,
    )
    proc.log_path = log.name
    try:
        wait_for_text(proc, ready, timeout)
        yield proc
    except BaseException:
        print(f"--- output of {' '.join(argv)} ---")
        print(output(proc))
        raise
    finally:
        stop(proc)
        log.close()
        os.unlink(log.name)


def output(proc) -> str:
    with open(proc.log_path) as log:
        return log.read()


def wait_for_text(proc, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in output(proc):
            return
        if proc.poll() is not None:
            raise AssertionError(f"process exited with {proc.returncode}")
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not printed within {timeout}s")


def stop(proc, timeout: float = 10) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    # Children a worker forked may outlive it; kill the group regardless.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def celery(*args: str) -> list[str]:
    return [os.path.join(BIN, "celery"), *args]


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not within {timeout}s")
        time.sleep(0.1)


def stop_pidfile(path, timeout: float = 20) -> None:
    """Stop the detached process whose id ``path`` holds, if it runs.

    A detached worker is not our child: TERM it (a warm shutdown), then
    KILL it when it does not exit in time. Start it with ``-P solo``, so
    it has no pool processes to outlive it.
    """
    try:
        with open(path) as pidfile:
            pid = int(pidfile.read())
    except (OSError, ValueError):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    try:
        wait_until(lambda: not pid_alive(pid), timeout, f"exit of {pid}")
    except AssertionError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
