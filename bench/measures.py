"""The rows of the main table: drain, publish, in-process path, boot,
import; every side measured round by round, in alternating order."""

from __future__ import annotations

from functools import partial
import json
import os
import statistics
import subprocess
import time
import uuid

from benchapp import DONE, NOOP, NOOP_STORE
import curves
from harness import (
    AMQP_URL,
    BARE,
    HERE,
    OURS,
    PEER,
    PLAIN,
    Worker,
    python_of,
    rss_mib,
    tree_cpu,
    workers,
    write_bench_ini,
)
from outboxbench import RELAY
import report
from sides import interleaved, make_request, ours_app, plain_app, task_messages

BATCH = 100
PROBE = os.path.join(HERE, "probe.py")


def probe(side, *args):
    """Run ``probe.py`` with the interpreter of ``side``; its JSON."""
    name = {PLAIN: "plain", OURS: "ours", PEER: "peer"}[side]
    out = subprocess.run(
        [python_of(side), PROBE, args[0], name, *map(str, args[1:])],
        capture_output=True, text=True, check=True, cwd=HERE,
    ).stdout  # fmt: skip
    return json.loads(out)


class Bench:
    def __init__(self, params, workdir, redis_url, amqp, raw, peer):
        self.p = params
        self.workdir = workdir
        self.redis_url = redis_url
        self.amqp = amqp
        self.raw = raw
        self.peer = peer
        self.sides = [PLAIN, OURS] + ([PEER] if peer else [])
        self.samples: dict[tuple, list[float]] = {}
        #: Extra report sections (lists of lines) and summary entries.
        self.sections: list[list[str]] = []
        self.extra: dict = {}
        self.curve_summaries: list[dict] = []
        ini = write_bench_ini(workdir, "bench.ini", "benchapp", redis_url)
        peer_ini = write_bench_ini(workdir, "peer.ini", "peerapp", redis_url)
        self.env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join(
                [HERE] + [p for p in [os.environ.get("PYTHONPATH")] if p]
            ),
            BENCH_INI=ini,
            BENCH_PEER_INI=peer_ini,
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
                for side in self.sides
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
                        self.sides,
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
            if side == PEER:
                out = probe(PEER, "publish", broker_url, result_url, queue,
                            calls)  # fmt: skip
                row = f"publish ({broker}): us/call"
                self.record(row, side, out["us"], round=number)
                row = f"publish ({broker}): CPU us/call"
                self.record(row, side, out["cpu_us"], round=number)
                return
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

        interleaved(self.p["publish_rounds"], self.sides, measure)

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
        sides = [BARE, *self.sides]

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

    def publish_all(self):
        redis = self.redis_url
        self.publish("redis", f"{redis}/0", f"{redis}/1")
        if self.amqp:
            self.publish("rabbitmq", AMQP_URL, f"{redis}/1")

    def imports(self):
        """Import of the integration, then the app built, in new processes."""

        def measure(side, number):
            out = probe(side, "import")
            for key, row, scale in (
                ("import_cpu", "import (celery / pyramid_tasks): CPU ms", 1e3),
                ("import_modules", "import: new modules", 1),
                ("app_cpu", "import + configured app: CPU ms", 1e3),
                ("app_modules", "import + configured app: modules", 1),
            ):
                self.record(row, side, out[key] * scale, round=number)

        interleaved(self.p["boot_rounds"], self.sides, measure)

    def curves(self):
        """The curves (``curves.py``); kept for the plots and the report."""
        redis = self.redis_url
        found = [
            *curves.worker_curves(self.p),
            curves.defer_curve(self.p, redis),
            curves.batch_curve(self.p, redis, self.amqp),
        ]
        self.curve_summaries += [curve.summary() for curve in found]

    def outbox(self):
        """The outbox rows and the relay's curve (``outboxbench.py``)."""
        from harness import answers

        if not answers(5432):
            self.sections.append(["## Outbox", "", "PostgreSQL is not up."])
            return
        import outboxbench

        samples: dict[str, list[float]] = {}
        bench = outboxbench.OutboxBench(
            self.p,
            self.redis_url,
            lambda row, value: samples.setdefault(row, []).append(value),
        )
        try:
            bench.view_latency()
            bench.latencies()
            bench.throughput()
            self.curve_summaries.append(relay_note(bench.relay_curve()))
        finally:
            bench.close()
        medians = {row: statistics.median(v) for row, v in samples.items()}
        self.extra["outbox"] = {"rows": medians, "latency": bench.results}
        self.sections.append(report.render_outbox(medians, bench.results))


def relay_note(curve):
    """The relay curve's summary, with how it rises and levels off."""
    summary = curve.summary()
    (points,) = curve.medians().values()
    rates = list(points.values())
    summary["note"] = (
        f"batch {RELAY[2]} sends {rates[2] / rates[0]:.1f}x the rows per "
        f"second of batch {RELAY[0]}; batch {RELAY[3]} "
        f"{rates[3] / rates[2] - 1:+.0%} against batch {RELAY[2]}: "
        + ("levels off" if rates[3] / rates[2] < 1.25 else "still rising")
    )
    return summary
