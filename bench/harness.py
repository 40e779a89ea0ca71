"""Processes of the benchmark: brokers, workers, CPU and memory probes.

The sides of the comparison are named here: plain Celery, pyramid_tasks
(ours), the peer (pyramid-tasks 0.4, in its own virtualenv) and a bare
Celery worker without Pyramid, for reference.
"""

from __future__ import annotations

from contextlib import contextmanager
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
AMQP_URL = os.environ.get(
    "BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//"
)
CLK_TCK = os.sysconf("SC_CLK_TCK")

# The sides, in the order the report shows them.
PLAIN = "plain Celery"
OURS = "pyramid_tasks"
PEER = "pyramid-tasks 0.4"
BARE = "bare Celery"

#: The peer's own virtualenv, made on demand (git-ignored): it is only
#: ever run, never imported from here.
PEER_VENV = os.path.join(HERE, ".peer-venv")
PEER_PYTHON = os.path.join(PEER_VENV, "bin", "python")
PEER_REQUIREMENT = "pyramid-tasks==0.4"


#: The clean virtualenv of plain Celery and pyramid_tasks for the rows
#: run as processes: our package installed (not editable) with its
#: dependencies and nothing else, as the peer's is. The development
#: venv has a hundred more distributions, and flower's ``celery``
#: command plugin alone doubles the start of any ``celery`` command.
CLEAN_VENV = os.path.join(HERE, ".clean-venv")
CLEAN_PYTHON = os.path.join(CLEAN_VENV, "bin", "python")
ROOT = os.path.dirname(HERE)
_pythons: dict[str, str] = {}


def python_of(side: str) -> str:
    """The interpreter a side runs with, as a process."""
    return _pythons.get(side, sys.executable)


def ensure_venvs() -> bool:
    """Create the peer's and the clean virtualenvs; whether both work.

    Both get the same Celery version as the development venv, so only
    the integration differs; ours is reinstalled from this checkout at
    every run.
    """
    import celery

    same = f"celery[redis]=={celery.__version__}"
    steps = []
    for python, venv, requirement in (
        (PEER_PYTHON, PEER_VENV, PEER_REQUIREMENT),
        (CLEAN_PYTHON, CLEAN_VENV, ROOT),
    ):
        check = [python, "-c", "import pyramid_tasks, redis"]
        if not (os.path.exists(python) and _quiet(check)):
            print(f"bench: creating {venv}", flush=True)
            steps += [
                [sys.executable, "-m", "venv", venv],
                [python, "-m", "pip", "install", "-q", requirement, same],
            ]
    steps.append(
        [CLEAN_PYTHON, "-m", "pip", "install", "-q", "--no-deps",
         "--force-reinstall", ROOT]
    )  # fmt: skip
    if not all(_quiet(step) for step in steps):
        return False
    _pythons.update({PEER: PEER_PYTHON, PLAIN: CLEAN_PYTHON,
                     OURS: CLEAN_PYTHON, BARE: CLEAN_PYTHON})  # fmt: skip
    return True


def _quiet(cmd: list[str]) -> bool:
    return subprocess.run(cmd, capture_output=True).returncode == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def stop_process(
    proc: subprocess.Popen, timeout: float = 15, first=signal.SIGTERM
) -> None:
    """Stop a process started in its own session, and its children."""
    if proc.poll() is not None:
        return
    for sig, wait in ((first, timeout), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def write_bench_ini(workdir: str, name: str, app: str, redis_url: str) -> str:
    """Write ``workdir/name``: the ``app`` module's ``main`` on
    ``redis_url`` (broker on db 0, results on db 1); return its path."""
    ini = os.path.join(workdir, name)
    with open(ini, "w") as fh:
        fh.write(
            f"[app:main]\nuse = call:{app}:main\n"
            f"celery.broker_url = {redis_url}/0\n"
            f"celery.result_backend = {redis_url}/1\n"
        )
    return ini


@contextmanager
def redis_server(workdir: str):
    """A private Redis on a free loopback port, stopped on exit."""
    if shutil.which("redis-server") is None:
        raise SystemExit("bench: redis-server is not installed")
    port = free_port()
    log = open(os.path.join(workdir, "redis.log"), "wb")
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--daemonize", "no",
         "--dir", workdir],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while not answers(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("bench: redis-server did not start")
            time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}"
    finally:
        stop_process(proc)
        log.close()


def tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and all its descendants (reaped ones too)."""
    stats = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                data = fh.read()
        except OSError:
            continue
        fields = data[data.rindex(")") + 2 :].split()
        # state ppid ... utime(14) stime(15) cutime(16) cstime(17)
        stats[int(entry)] = (int(fields[1]), sum(map(int, fields[11:15])))
    children: dict[int, list[int]] = {}
    for child, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(child)
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        if current in stats:
            total += stats[current][1]
        todo.extend(children.get(current, ()))
    return total / CLK_TCK


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def rss_mib(pid: int) -> float:
    return rss_kib(pid) / 1024


def children(pid: int) -> list[int]:
    """The live child processes of ``pid``."""
    path = f"/proc/{pid}/task/{pid}/children"
    with open(path) as fh:
        return [int(child) for child in fh.read().split()]


class Worker:
    """A ``celery worker`` subprocess of one side of the comparison."""

    def __init__(
        self, side, env, workdir, pool="solo", concurrency=1, queue=None
    ):
        self.side = side
        self.hostname = f"bench-{uuid.uuid4().hex[:8]}@bench"
        self.ready_file = os.path.join(workdir, f"{self.hostname}.ready")
        self.log_path = os.path.join(workdir, f"{self.hostname}.log")
        self.idle_queue = queue or "idle-" + uuid.uuid4().hex[:8]
        cmd = [python_of(side), "-m", "celery"]
        if side == OURS and not env.get("BENCH_AA"):
            cmd += ["-A", "pyramid_tasks", "worker", "--ini", env["BENCH_INI"]]
        elif side == PEER:
            cmd += ["-A", "peer_worker", "worker"]
        else:
            module = "plain_bare" if side == BARE else "plain_pyramid"
            cmd += ["-A", module, "worker"]
        cmd += ["-P", pool, "-c", str(concurrency), "-n", self.hostname,
                "-Q", self.idle_queue, "-l", "warning", "--without-gossip",
                "--without-mingle", "--without-heartbeat"]  # fmt: skip
        self.env = dict(env, BENCH_READY_FILE=self.ready_file)
        self.cmd = cmd
        self.proc = None

    def start(self, timeout: float = 60) -> float:
        """Launch and wait until ready; return the boot time in seconds."""
        self.log = open(self.log_path, "wb")
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            self.cmd, env=self.env, cwd=HERE, stdout=self.log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = started + timeout
        while not os.path.exists(self.ready_file):
            if self.proc.poll() is not None or time.perf_counter() > deadline:
                self.stop()
                with open(self.log_path, errors="replace") as fh:
                    output = fh.read()
                raise RuntimeError(
                    f"{self.side} worker did not start:\n{output[-3000:]}"
                )
            time.sleep(0.002)
        return time.perf_counter() - started

    def stop(self) -> float | None:
        """Kill the worker; return the CPU seconds its process used.

        Nothing runs by then and the broker is private to this run, so
        there is nothing to shut down cleanly (a warm shutdown would only
        wait for the broker poll to time out). Reaping it with ``wait4``
        gives its CPU time in microseconds, where ``/proc`` counts ticks.
        """
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        cpu = None
        try:
            os.killpg(proc.pid, signal.SIGKILL)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            cpu = usage.ru_utime + usage.ru_stime
        except (ProcessLookupError, ChildProcessError):
            pass
        stop_process(proc)
        self.log.close()
        return cpu


@contextmanager
def workers(*items):
    try:
        yield items
    finally:
        for item in items:
            item.stop()
