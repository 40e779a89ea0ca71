"""Plain Celery vs pyramid_tasks, side by side, in one run.

Usage: ``make bench`` or ``python bench/run.py [--quick] [--out DIR]``.

Both sides run the same no-op tasks from the same application
(``benchapp``), interleaved round by round and in alternating order, so
the noise of a shared machine falls on both. Every figure is the median
of the rounds; only the ratios within one run mean anything. A private
Redis is started on a free loopback port (and always stopped); the local
RabbitMQ is used for the publish rows when it answers.

Writes ``report.md`` (the table) and ``raw.jsonl`` (one line per sample)
to ``bench/results/`` or ``--out``.
"""

from __future__ import annotations

import argparse
from contextlib import contextmanager
import datetime
from functools import partial
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import benchapp  # noqa: E402
from benchapp import DONE, NOOP, NOOP_STORE  # noqa: E402

AMQP_URL = os.environ.get(
    "BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//"
)
CLK_TCK = os.sysconf("SC_CLK_TCK")

FULL = {
    "drain_tasks": 1000,
    "drain_rounds": 15,
    "publish_calls": 300,
    "publish_rounds": 11,
    "batch_rounds": 15,
    "trace_calls": 2000,
    "trace_rounds": 9,
    "boot_rounds": 11,
}
QUICK = {
    "drain_tasks": 40,
    "drain_rounds": 1,
    "publish_calls": 20,
    "publish_rounds": 1,
    "batch_rounds": 1,
    "trace_calls": 50,
    "trace_rounds": 1,
    "boot_rounds": 1,
}
BATCH = 100

# The sides, in the order the report shows them.
PLAIN = "plain Celery"
OURS = "pyramid_tasks"
BARE = "bare Celery"


# --- processes -------------------------------------------------------------


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


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


class Worker:
    """A ``celery worker`` subprocess of one side of the comparison."""

    def __init__(self, side, env, workdir, pool="solo", concurrency=1):
        self.side = side
        self.hostname = f"bench-{uuid.uuid4().hex[:8]}@bench"
        self.ready_file = os.path.join(workdir, f"{self.hostname}.ready")
        self.log_path = os.path.join(workdir, f"{self.hostname}.log")
        self.idle_queue = "idle-" + uuid.uuid4().hex[:8]
        cmd = [sys.executable, "-m", "celery"]
        if side == OURS and not env.get("BENCH_AA"):
            cmd += ["-A", "pyramid_tasks", "worker", "--ini", env["BENCH_INI"]]
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


# --- the two sides in process ----------------------------------------------


def celery_conf(broker_url, result_url, queue):
    return {
        "broker_url": broker_url,
        "result_backend": result_url,
        "task_default_queue": queue,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
    }


def plain_app(broker_url, result_url, queue):
    from celery import Celery

    app = Celery("plain", set_as_current=False)
    app.conf.update(celery_conf(broker_url, result_url, queue))

    @app.task(name=NOOP, ignore_result=True, shared=False)
    def noop():
        """Do nothing."""

    @app.task(name=NOOP_STORE, ignore_result=False, shared=False)
    def noop_store():
        """Do nothing."""

    return app


def ours_app(broker_url, result_url, queue):
    settings = {
        f"celery.{key}": value
        for key, value in celery_conf(broker_url, result_url, queue).items()
        if key != "accept_content"
    }
    config = benchapp.make_config(settings, pyramid_tasks=True)
    return config.make_celery_app()


def make_request(registry, **environ):
    from pyramid.request import Request, apply_request_extensions

    request = Request.blank("/", environ)
    request.registry = registry
    apply_request_extensions(request)
    return request


def task_messages(app, count, queue="trace"):
    """Task messages for the no-op task, as a worker receives them."""
    from celery.utils import uuid as task_id
    from kombu import Message
    from kombu.serialization import dumps

    out = []
    for _ in range(count):
        tm = app.amqp.as_task_v2(
            task_id(), NOOP, args=(), kwargs={}, ignore_result=True
        )
        ctype, encoding, body = dumps(tm.body, serializer="json")
        out.append(
            Message(
                body=body,
                content_type=ctype,
                content_encoding=encoding,
                headers=tm.headers,
                properties=dict(tm.properties),
                delivery_info={
                    "exchange": "",
                    "routing_key": queue,
                    "priority": 0,
                    "redelivered": False,
                },
            )
        )
    return out


def interleaved(rounds, sides, measure):
    """Call ``measure(side, round)`` for each side, order flipped per round."""
    for number in range(rounds):
        order = sides if number % 2 == 0 else list(reversed(sides))
        for side in order:
            measure(side, number)


# --- the benchmarks ---------------------------------------------------------


class Bench:
    def __init__(self, params, workdir, redis_url, amqp, raw):
        self.p = params
        self.workdir = workdir
        self.redis_url = redis_url
        self.amqp = amqp
        self.raw = raw
        self.samples: dict[tuple, list[float]] = {}
        ini = os.path.join(workdir, "bench.ini")
        with open(ini, "w") as fh:
            fh.write(
                "[app:main]\nuse = call:benchapp:main\n"
                f"celery.broker_url = {redis_url}/0\n"
                f"celery.result_backend = {redis_url}/1\n"
            )
        self.env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join(
                [HERE] + [p for p in [os.environ.get("PYTHONPATH")] if p]
            ),
            BENCH_INI=ini,
            BENCH_BROKER_URL=f"{redis_url}/0",
            BENCH_RESULT_URL=f"{redis_url}/1",
        )

    def record(self, row, side, value, **extra):
        self.samples.setdefault((row, side), []).append(value)
        self.raw.write(
            json.dumps({"row": row, "side": side, "value": value, **extra})
            + "\n"
        )

    # 1. queue drain
    def drain(self):
        from celery import Celery

        self.filler = Celery("filler", set_as_current=False)
        self.filler.conf.update(broker_url=f"{self.redis_url}/0")
        self.waiter = Celery("waiter", set_as_current=False)
        self.waiter.conf.update(
            broker_url=f"{self.redis_url}/0",
            result_backend=f"{self.redis_url}/1",
        )
        for pool, concurrency in (("solo", 1), ("prefork", 2)):
            label = pool if pool == "solo" else f"prefork {concurrency}"
            sides = {
                side: Worker(side, self.env, self.workdir, pool, concurrency)
                for side in (PLAIN, OURS)
            }
            with workers(*sides.values()):
                for worker in sides.values():
                    worker.start()
                for task_name, results in (
                    (NOOP, "results ignored"),
                    (NOOP_STORE, "results stored"),
                ):
                    row = f"drain {label}, {results}"
                    interleaved(
                        self.p["drain_rounds"],
                        [PLAIN, OURS],
                        partial(self.drain_side, sides, task_name, row),
                    )

    def drain_side(self, sides, task_name, row, side, number):
        self.drain_round(sides[side], task_name, row, number)

    def drain_round(self, worker, task_name, row, number):
        """Fill a new queue, then time ``worker`` draining it."""
        filler, waiter, n = self.filler, self.waiter, self.p["drain_tasks"]
        queue = "drain-" + uuid.uuid4().hex[:8]
        with filler.producer_or_acquire() as producer:
            for _ in range(n):
                filler.send_task(task_name, queue=queue, producer=producer)
        done = waiter.send_task(DONE, queue=queue)
        cpu0 = tree_cpu(worker.proc.pid)
        t0 = time.perf_counter()
        # limit=1: return on the worker's reply instead of waiting out the
        # broadcast timeout.
        destination = [worker.hostname]
        waiter.control.add_consumer(
            queue, destination=destination, reply=True, limit=1
        )
        # The worker is blocked in a BRPOP on its idle queue (1 s timeout);
        # a message there wakes it at once and its next BRPOP includes the
        # new queue.
        filler.send_task(NOOP, queue=worker.idle_queue)
        done.get(timeout=120)
        elapsed = time.perf_counter() - t0
        cpu = tree_cpu(worker.proc.pid) - cpu0
        waiter.control.cancel_consumer(
            queue, destination=destination, reply=True, limit=1
        )
        count = n + 2  # the done and wake-up tasks
        side = worker.side
        self.record(f"{row}: tasks/s", side, count / elapsed, round=number)
        self.record(
            f"{row}: worker CPU us/task",
            side,
            cpu * 1e6 / count,
            round=number,
        )

    # 2. publish cost, 3. after-commit batch
    def publish(self, broker, broker_url, result_url):
        import transaction

        queue = "publish-" + uuid.uuid4().hex[:8]
        plain = plain_app(broker_url, result_url, queue)
        ours = ours_app(broker_url, result_url, queue)
        request = make_request(ours.registry)
        plain_task = plain.tasks[NOOP]
        calls = self.p["publish_calls"]
        # Connect and declare the queue before timing.
        plain_task.apply_async()
        request.defer_task(NOOP)

        def measure(side, number):
            perf, cpu = time.perf_counter, time.process_time
            if side == PLAIN:
                c0, t0 = cpu(), perf()
                for _ in range(calls):
                    plain_task.apply_async()
            else:
                defer = request.defer_task
                c0, t0 = cpu(), perf()
                for _ in range(calls):
                    defer(NOOP)
            elapsed, used = perf() - t0, cpu() - c0
            row = f"publish ({broker}): us/call"
            self.record(row, side, elapsed * 1e6 / calls, round=number)
            self.record(
                f"publish ({broker}): CPU us/call",
                side,
                used * 1e6 / calls,
                round=number,
            )

        interleaved(self.p["publish_rounds"], [PLAIN, OURS], measure)

        def batch(side, number):
            perf = time.perf_counter
            if side == PLAIN:
                t0 = perf()
                for _ in range(BATCH):
                    plain_task.apply_async()
                elapsed = perf() - t0
            else:
                manager = transaction.TransactionManager(explicit=True)
                batch_request = make_request(
                    ours.registry,
                    **{"tm.active": True, "tm.manager": manager},
                )
                manager.begin()
                results = [
                    batch_request.defer_task(NOOP) for _ in range(BATCH)
                ]
                t0 = perf()
                manager.commit()
                elapsed = perf() - t0
                assert all(r.sent for r in results), "batch not sent"
            self.record(
                f"after-commit batch of {BATCH} ({broker}): ms",
                side,
                elapsed * 1e3,
                round=number,
            )

        interleaved(self.p["batch_rounds"], [PLAIN, OURS], batch)
        with plain.connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)

    # 4. in-process per-task path
    def trace(self):
        from celery.worker.request import Request as WorkerRequest

        plain = plain_app("memory://", "cache+memory://", "trace")
        ours = ours_app("memory://", "cache+memory://", "trace")
        calls = self.p["trace_calls"]
        apps = {PLAIN: plain, OURS: ours}

        def measure(side, number):
            app = apps[side]
            task = app.tasks[NOOP]
            batch = task_messages(app, calls)
            cpu = time.process_time
            c0 = cpu()
            for message in batch:
                WorkerRequest(message, app=app, task=task).execute()
            used = cpu() - c0
            self.record(
                "in-process task (tracer + real message): CPU us/task",
                side,
                used * 1e6 / calls,
                round=number,
            )

        # Build the tracers before timing, as a worker does at start.
        for app in apps.values():
            for message in task_messages(app, 3):
                WorkerRequest(message, app=app, task=app.tasks[NOOP]).execute()
        interleaved(self.p["trace_rounds"], [PLAIN, OURS], measure)
        self.request_build(ours.registry)

    def request_build(self, registry):
        factory = registry.celery_app.task_request_factory
        calls = self.p["trace_calls"]

        def build(side, number):
            cpu = time.process_time
            c0 = cpu()
            if side == PLAIN:
                for _ in range(calls):
                    make_request(registry)
            else:
                for _ in range(calls):
                    factory()
            used = cpu() - c0
            self.record(
                "request build: CPU us",
                side,
                used * 1e6 / calls,
                round=number,
            )

        interleaved(self.p["trace_rounds"], [PLAIN, OURS], build)

    # 5. boot, 6. memory
    def boot(self):
        sides = [BARE, PLAIN, OURS]

        def measure(side, number):
            worker = Worker(side, self.env, self.workdir)
            with workers(worker):
                elapsed = worker.start()
                # Let the worker settle (consumer loop entered).
                time.sleep(0.2)
                rss = rss_mib(worker.proc.pid)
                cpu = worker.stop()
            self.record("worker boot: s", side, elapsed, round=number)
            # The CPU it took (to ready, then idle) is what a busy machine
            # does not blur.
            self.record("worker boot: CPU s", side, cpu, round=number)
            self.record("worker RSS after boot: MiB", side, rss, round=number)

        interleaved(self.p["boot_rounds"], sides, measure)


# --- report -----------------------------------------------------------------

# (row, direction, target ratio); direction "low" = lower is better.
TARGETS = {
    "tasks/s": ("high", 0.97),
    "worker CPU us/task": ("low", 1.03),
    "publish (redis): us/call": ("low", 1.02),
    "after-commit batch of 100 (redis)": ("speedup", 1.2),
    "worker boot: s": ("low", 1.05),
    "worker boot: CPU s": ("low", 1.05),
    "worker RSS after boot: MiB": ("low", 1.05),
}


def target_for(row):
    for key, target in TARGETS.items():
        if key in row:
            return target
    return None


def paired_ratio(ours, other):
    """Median of the per-round ratios.

    Both sides of a round ran back to back, so their ratio cancels the
    slow swings of a shared machine that the medians of each side keep.
    """
    return statistics.median(
        o / p if p else float("nan") for o, p in zip(ours, other, strict=True)
    )


def summarize(samples):
    rows = []
    seen = []
    for row, _ in samples:
        if row not in seen:
            seen.append(row)
    for row in seen:
        plain = samples.get((row, PLAIN))
        ours = samples.get((row, OURS))
        bare = samples.get((row, BARE))
        plain_m = statistics.median(plain)
        ours_m = statistics.median(ours)
        if "worker CPU" in row:
            # The kernel counts a running worker's CPU in 10 ms ticks,
            # coarse for one round: compare the totals of all rounds.
            ratio = sum(ours) / sum(plain)
        else:
            ratio = paired_ratio(ours, plain)
        target = target_for(row)
        verdict, goal = "", ""
        if target is not None:
            direction, limit = target
            if direction == "high":
                goal, met = f">= {limit}x", ratio >= limit
            elif direction == "low":
                goal, met = f"<= {limit}x", ratio <= limit
            else:
                goal = f"<= {1 / limit:.2f}x ({limit}x faster)"
                met = ratio <= 1 / limit
            verdict = "met" if met else "MISSED"
        rows.append(
            {
                "row": row,
                "plain": plain_m,
                "ours": ours_m,
                "ratio": ratio,
                "bare": statistics.median(bare) if bare else None,
                "bare_ratio": paired_ratio(ours, bare) if bare else None,
                "target": goal,
                "verdict": verdict,
                "rounds": len(ours),
            }
        )
    return rows


def fmt(value):
    if value is None:
        return ""
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if value < 1 else f"{value:.2f}"


def render(rows, meta):
    lines = [
        "# pyramid_tasks vs plain Celery",
        "",
        f"Taken {meta['date']} on {meta['machine']}; "
        f"Python {meta['python']}, Celery {meta['celery']}, "
        f"Redis {meta['redis']}; {meta['mode']} mode, "
        f"{meta['seconds']:.0f} s. Values are medians of the rounds; "
        "ratio = median of the per-round pyramid_tasks / plain Celery "
        "ratios (worker CPU rows: ratio of the totals of all rounds); "
        "lower is better, except tasks/s.",
        "",
        "| measure | plain Celery | pyramid_tasks | ratio | target | |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for row in rows:
        lines.append(
            f"| {row['row']} | {fmt(row['plain'])} | {fmt(row['ours'])} "
            f"| {row['ratio']:.3f}x | {row['target']} | {row['verdict']} |"
        )
    bare = [row for row in rows if row["bare"] is not None]
    if bare:
        lines += [
            "",
            "Against a bare Celery worker (no Pyramid at all), for reference:",
            "",
            "| measure | bare Celery | pyramid_tasks | ratio |",
            "| --- | ---: | ---: | ---: |",
        ]
        for row in bare:
            lines.append(
                f"| {row['row']} | {fmt(row['bare'])} | {fmt(row['ours'])} "
                f"| {row['bare_ratio']:.3f}x |"
            )
    lines += [
        "",
        "Plain Celery is a Celery app running the same no-op tasks; for "
        "boot and memory its module builds the same Pyramid application "
        "(`bench/plain_pyramid.py`). The request build row compares our "
        "`TaskRequestFactory` with Pyramid's own `Request.blank` + "
        "`apply_request_extensions`.",
        "",
    ]
    return "\n".join(lines)


def byte_compile():
    """Write the bytecode of pyramid_tasks and of the benchmark modules.

    An installed package has its bytecode (pip writes it), as Celery and
    Pyramid do here; an editable checkout run with
    ``PYTHONDONTWRITEBYTECODE`` would compile our modules at every worker
    boot, which no deployed worker does.
    """
    import pyramid_tasks

    package = os.path.dirname(pyramid_tasks.__file__)
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", package, HERE],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def versions():
    import celery

    out = subprocess.run(
        ["redis-server", "--version"], capture_output=True, text=True
    ).stdout
    redis = out.split("v=")[1].split()[0] if "v=" in out else "?"
    return celery.__version__, redis


def machine():
    cores = os.cpu_count()
    return f"{platform.system()} {platform.machine()}, {cores} cores"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    parser.add_argument(
        "--no-amqp", action="store_true", help="skip RabbitMQ rows"
    )
    parser.add_argument(
        "--rounds", type=int, help="rounds of every part (default: 9 to 15)"
    )
    parser.add_argument(
        "--aa",
        action="store_true",
        help="A/A check: plain Celery workers on both sides (noise floor)",
    )
    parser.add_argument(
        "--only",
        default="drain,publish,trace,boot",
        help="comma-separated parts to run",
    )
    args = parser.parse_args(argv)
    params = dict(QUICK if args.quick else FULL)
    if args.rounds:
        params.update(
            (key, args.rounds) for key in params if key.endswith("_rounds")
        )
    parts = args.only.split(",")
    os.makedirs(args.out, exist_ok=True)
    started = time.perf_counter()
    amqp = not args.no_amqp and answers(5672)
    with (
        tempfile.TemporaryDirectory(prefix="bench-") as workdir,
        open(os.path.join(args.out, "raw.jsonl"), "w") as raw,
        redis_server(workdir) as redis_url,
    ):
        bench = Bench(params, workdir, redis_url, amqp, raw)
        if args.aa:
            bench.env["BENCH_AA"] = "1"
        byte_compile()
        if "trace" in parts:
            print("bench: in-process per-task path", flush=True)
            bench.trace()
        if "publish" in parts:
            print("bench: publish cost and after-commit batch", flush=True)
            bench.publish("redis", f"{redis_url}/0", f"{redis_url}/1")
            if amqp:
                bench.publish("rabbitmq", AMQP_URL, f"{redis_url}/1")
        if "drain" in parts:
            print("bench: queue drain", flush=True)
            bench.drain()
        if "boot" in parts:
            print("bench: worker boot and memory", flush=True)
            bench.boot()
        celery_version, redis_version = versions()
        meta = {
            "date": datetime.date.today().isoformat(),
            "machine": machine(),
            "python": platform.python_version(),
            "celery": celery_version,
            "redis": redis_version,
            "mode": "quick" if args.quick else "full",
            "seconds": time.perf_counter() - started,
        }
        rows = summarize(bench.samples)
        for row in rows:
            raw.write(json.dumps({"summary": row, **meta}) + "\n")
    report = render(rows, meta)
    with open(os.path.join(args.out, "report.md"), "w") as fh:
        fh.write(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
