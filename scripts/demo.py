"""``make demo``: the SQLAlchemy ledger with a real Celery worker.

Starts the web app of ``examples/sqlalchemy_ledger`` and a Celery worker
process, walks through append -> total -> result over HTTP, printing each
call and its answer, then starts a total the way the ledger's page does
and follows its status URL, as the page's progress bar does. It prints the
page's address and keeps serving until Ctrl-C. Every process it started is
stopped on the way out.

By default nothing needs a server: the data, the broker (kombu's
SQLAlchemy transport) and the results (Celery's database backend) live in
one SQLite file in a temporary directory. ``DATABASE_URL``, ``BROKER_URL``
and ``RESULT_BACKEND`` switch to PostgreSQL, Redis or RabbitMQ;
``PORT`` picks the port (default 8000, or a free one if that is taken);
``DEMO_EXIT=1`` exits after the walkthrough, with status 0 only if it
worked.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

START_TIMEOUT = 60.0
RESULT_TIMEOUT = 30.0
#: The states after which a status URL's answer no longer changes.
FINAL_STATES = ("success", "failure", "revoked", "dropped", "not_sent")
#: The values the walkthrough appends to the ledger.
VALUES = (10, 32)

#: Database drivers SQLAlchemy may need, by the module it imports.
DRIVER_PACKAGES = {
    "psycopg": "psycopg[binary]",
    "psycopg2": "psycopg2-binary",
    "pg8000": "pg8000",
    "pymysql": "pymysql",
    "MySQLdb": "mysqlclient",
}


class DemoError(Exception):
    """The demo cannot go on; the message says why."""


class Service:
    """A process of the demo, its output going to a log file."""

    def __init__(self, name: str, command: list[str], env, rundir: str):
        self.name = name
        self.command = command
        self.log_path = os.path.join(rundir, f"{name}.log")
        self._log = open(self.log_path, "wb")  # noqa: SIM115
        self._read_at = 0
        # A session of its own: Ctrl-C reaches only the demo, which then
        # stops the whole process group (a worker has child processes).
        self.process = subprocess.Popen(
            command,
            env=env,
            cwd=rundir,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def running(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        with open(self.log_path, errors="replace") as log:
            return log.read()

    def new_lines(self) -> list[str]:
        """Lines written since the last call."""
        with open(self.log_path, errors="replace") as log:
            log.seek(self._read_at)
            text = log.read()
        complete = text[: text.rfind("\n") + 1]
        self._read_at += len(complete.encode())
        return complete.splitlines()

    def stop(self, timeout: float = 10.0) -> None:
        if self.running():
            _signal_group(self.process, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.process, signal.SIGKILL)
                self.process.wait()
        # Children the worker forked may outlive it: end the whole group.
        _signal_group(self.process, signal.SIGKILL)
        self._log.close()


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def main() -> int:
    exit_after = os.environ.get("DEMO_EXIT", "") not in ("", "0")
    rundir = tempfile.mkdtemp(prefix="pyramid-tasks-demo-")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    fresh = "DATABASE_URL" not in env
    database = env.setdefault(
        "DATABASE_URL", f"sqlite:///{rundir}/ledger.sqlite"
    )
    broker = env.get("BROKER_URL") or f"sqla+{database}"
    results = env.get("RESULT_BACKEND") or f"db+{database}"
    services: list[Service] = []
    # SIGTERM (from a supervisor or CI) cleans up like Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    ok = False
    try:
        _install_drivers(database, broker, results)
        port = _pick_port(env.get("PORT"))
        env["PORT"] = str(port)
        base = f"http://127.0.0.1:{port}"
        web = Service(
            "web", [sys.executable, "-m", "sqlalchemy_ledger"], env, rundir
        )
        services.append(web)
        worker_command = [
            sys.executable, "-m", "celery", "-A", "sqlalchemy_ledger",
            "worker", "-l", "INFO", "-c", "1",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip
        worker = Service("worker", worker_command, env, rundir)
        services.append(worker)
        _wait_for_web(web, base)
        _wait_for_log(worker, " ready.")
        print(f"""
pyramid_tasks demo: the SQLAlchemy ledger (examples/sqlalchemy_ledger)
  page     {base}/   open it in a browser
  web app  python -m sqlalchemy_ledger (pid {web.process.pid})
  worker   celery -A sqlalchemy_ledger worker (pid {worker.process.pid})
  data     {database}
  broker   {broker}
  results  {results}
  logs     {rundir}
""")
        ok = _walkthrough(base, fresh, worker)
        if not ok or exit_after:
            return 0 if ok else 1
        _serve(base, services)
        return 0
    except DemoError as exc:
        print(f"\ndemo: {exc}", file=sys.stderr)
        for service in services:
            _print_tail(service)
        return 1
    except KeyboardInterrupt:
        print("\nStopping...")
        return 0 if ok else 130
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        for service in reversed(services):
            service.stop()
        if ok:
            shutil.rmtree(rundir, ignore_errors=True)
        else:
            print(f"demo: logs kept in {rundir}", file=sys.stderr)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _install_drivers(database: str, broker: str, results: str) -> None:
    """Install the client libraries the chosen servers need."""
    from sqlalchemy.engine import make_url

    needed = []
    for url in (database, results.removeprefix("db+")):
        if "://" not in url:
            continue
        try:
            make_url(url).get_dialect().import_dbapi()
        except ImportError as exc:
            package = DRIVER_PACKAGES.get(exc.name or "", exc.name)
            if package and package not in needed:
                needed.append(package)
    if broker.startswith("redis") or results.startswith("redis"):
        try:
            import redis  # noqa: F401
        except ImportError:
            needed.append("redis")
    if needed:
        print(f"demo: installing {', '.join(needed)}")
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", *needed],
            check=True,
        )


def _pick_port(wanted: str | None) -> int:
    if wanted:
        return int(wanted)
    with socket.socket() as sock:
        # Like the server will: a port left in TIME_WAIT is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", 8000))
        except OSError:
            sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_web(web: Service, base: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if not web.running():
            raise DemoError("the web app exited")
        try:
            _get(base + "/result")
            return
        except OSError:
            time.sleep(0.1)
    raise DemoError(f"the web app did not answer at {base}")


def _wait_for_log(service: Service, text: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if text in service.output():
            return
        if not service.running():
            raise DemoError(f"the {service.name} exited")
        time.sleep(0.1)
    raise DemoError(f"the {service.name} did not start")


def _get(url: str, data: dict[str, str] | None = None) -> tuple[int, str]:
    body = None if data is None else urllib.parse.urlencode(data).encode()
    try:
        with urllib.request.urlopen(url, body, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _show(url: str) -> str:
    """GET ``url`` like curl would, print the call and its answer."""
    print(f"$ curl '{url}'")
    status, body = _get(url)
    print(body.rstrip("\n"))
    if status != 200:
        raise DemoError(f"{url} answered {status}")
    return body.strip()


def _wait_for_result(base: str, task_id: str, show: bool) -> str:
    url = f"{base}/result?id={task_id}"
    started = time.monotonic()
    answer = _show(url) if show else _get(url)[1].strip()
    while answer == "Pending...":
        if time.monotonic() - started > RESULT_TIMEOUT:
            raise DemoError(f"task {task_id} did not finish")
        time.sleep(0.1)
        answer = _get(url)[1].strip()
    if show:
        waited = time.monotonic() - started
        print(f"\n# ... {waited:.1f} s later, the worker is done:")
        answer = _show(url)
    return answer


def _walkthrough(base: str, fresh: bool, worker: Service) -> bool:
    start = 0
    if not fresh:
        # A database given by the user may hold a ledger already.
        task_id = _get(f"{base}/total")[1].strip()
        start = int(_wait_for_result(base, task_id, show=False))
        print(f"# The ledger in this database adds up to {start} so far.\n")
    print("# Append values to the ledger (stored by the web app):")
    for value in VALUES:
        _show(f"{base}/append?value={value}")
    print("\n# A bad value is refused:")
    print(f"$ curl '{base}/append?value=ten'")
    print(_get(f"{base}/append?value=ten")[1].rstrip("\n"))
    print("\n# Ask the worker for the total; it waits 1 s, to show the wait:")
    task_id = _show(f"{base}/total?delay=1")
    print("\n# The answer, from the result backend:")
    answer = _wait_for_result(base, task_id, show=True)
    print("\n# The task also recorded the total, in its own transaction:")
    totals = json.loads(_show(f"{base}/totals"))
    expected = start + sum(VALUES)
    recorded = {row["task_id"]: row["total"] for row in totals}
    if answer != str(expected) or recorded.get(task_id) != expected:
        print(f"\ndemo: FAILED, expected a total of {expected}")
        _print_tail(worker)
        return False
    if not _watch(base, expected):
        print(f"\ndemo: FAILED, the status URL did not answer {expected}")
        _print_tail(worker)
        return False
    print(f"\nThe worker added up the ledger: {expected}. Demo OK.")
    return True


def _watch(base: str, expected: int) -> bool:
    """Start a total as the page does; follow its status URL."""
    print(f"\n# The page at {base}/ starts a total and shows its progress:")
    print(f"$ curl -d action=total -d delay=1 '{base}/'")
    status, page = _get(f"{base}/", {"action": "total", "delay": "1"})
    found = re.search(r'data-task-status="([^"]+)"', page)
    if status != 200 or found is None:
        raise DemoError(f"the page answered {status} with no progress bar")
    url = html.unescape(found.group(1))
    print(f'<div role="progressbar" data-task-status="{url}" ...>')
    print("\n# Its script polls that status URL; each answer that changed:")
    print(f"$ curl '{url}'")
    started = time.monotonic()
    last = None
    while True:
        body = _get(url)[1].strip()
        if body != last:
            print(body)
            last = body
        answer = json.loads(body)
        if answer["state"] in FINAL_STATES:
            return bool(answer.get("result") == expected)
        if time.monotonic() - started > RESULT_TIMEOUT:
            raise DemoError(f"{url} did not reach a final state")
        time.sleep(0.1)


def _serve(base: str, services: list[Service]) -> None:
    print(f"""
Still serving. Open {base}/ in a browser: append values, start a total
and watch its progress bar. Or, in another terminal:
  curl '{base}/append?value=5'
  curl '{base}/total'
  curl '{base}/result?id=<the id total gave>'
Press Ctrl-C to stop. Output of the app and the worker follows.
""")
    for service in services:
        service.new_lines()
    while True:
        for service in services:
            for line in service.new_lines():
                print(f"[{service.name}] {line}")
            if not service.running():
                raise DemoError(f"the {service.name} exited")
        time.sleep(0.2)


def _print_tail(service: Service, lines: int = 30) -> None:
    tail = service.output().splitlines()[-lines:]
    print(f"--- last lines of the {service.name} ({service.log_path}):")
    print("\n".join(tail))


if __name__ == "__main__":
    sys.exit(main())
