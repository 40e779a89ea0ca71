"""The curves: how the cost of a task grows with what an app holds.

Each point is the median of interleaved rounds of plain Celery and
pyramid_tasks (alternating order), like the main table. ``shape()``
says whether a curve is flat or linear, from its end points.
"""

from __future__ import annotations

import statistics
import time
import uuid

from benchapp import NOOP
from harness import AMQP_URL, OURS, PLAIN
from sides import (
    ECHO,
    curve_app,
    interleaved,
    interleaved_points,
    make_request,
    task_messages,
)

TASKS = [1, 100, 1000]
DERIVERS = [0, 1, 5, 10]
SIZES = [100, 1000, 10_000, 100_000]
BATCHES = [1, 10, 100, 1000]
NAMES = {PLAIN: "plain", OURS: "ours"}


class Curve:
    """One plot: named series of ``{x: [samples]}``."""

    def __init__(
        self, name, title, xlabel, ylabel, expect, logx=True, logy=False
    ):
        self.name = name
        self.title = title
        self.xlabel = xlabel
        self.ylabel = ylabel
        self.expect = expect
        self.logx = logx
        self.logy = logy
        self.series: dict[str, dict[float, list[float]]] = {}

    def add(self, series, x, value):
        self.series.setdefault(series, {}).setdefault(x, []).append(value)

    def medians(self):
        return {
            name: {x: statistics.median(v) for x, v in sorted(points.items())}
            for name, points in self.series.items()
        }

    def shape(self, series):
        """``(kind, intercept, slope, r2)`` of a least-squares line.

        ``flat`` when the line rises less than 10% over the range,
        ``linear`` when it explains the points (r² >= 0.98).
        """
        points = self.medians()[series]
        xs, ys = list(points), list(points.values())
        mx, my = statistics.fmean(xs), statistics.fmean(ys)
        sxx = sum((x - mx) ** 2 for x in xs)
        slope = (
            sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
        )
        intercept = my - slope * mx
        total = sum((y - my) ** 2 for y in ys) or 1e-12
        residual = sum(
            (y - intercept - slope * x) ** 2
            for x, y in zip(xs, ys, strict=True)
        )
        r2 = 1 - residual / total
        rise = slope * (max(xs) - min(xs))
        if abs(rise) < 0.10 * max(abs(intercept + slope * min(xs)), 1e-12):
            kind = "flat"
        else:
            kind = "linear" if r2 >= 0.98 else "not linear"
        return kind, intercept, slope, r2

    def summary(self):
        out = {
            "name": self.name,
            "title": self.title,
            "x": self.xlabel,
            "y": self.ylabel,
            "expect": self.expect,
            "logx": self.logx,
            "logy": self.logy,
            "series": {
                name: {str(x): y for x, y in points.items()}
                for name, points in self.medians().items()
            },
            "shapes": {},
        }
        for name in self.series:
            kind, intercept, slope, r2 = self.shape(name)
            out["shapes"][name] = {
                "shape": kind,
                "intercept": intercept,
                "slope": slope,
                "r2": r2,
            }
        return out


def execute_cpu(app, calls):
    """CPU µs per task of the worker's per-task path, in process."""
    from celery.worker.request import Request as WorkerRequest

    task = app.tasks[NOOP]
    batch = task_messages(app, calls)
    c0 = time.process_time()
    for message in batch:
        WorkerRequest(message, app=app, task=task).execute()
    return (time.process_time() - c0) * 1e6 / calls


def warm(app):
    from celery.worker.request import Request as WorkerRequest

    for message in task_messages(app, 3):
        WorkerRequest(message, app=app, task=app.tasks[NOOP]).execute()


def worker_curves(params):
    """Per-task CPU against registered tasks, and against derivers."""
    calls, rounds = params["trace_calls"], params["trace_rounds"]
    tasks = Curve(
        "tasks",
        "Per-task worker CPU against registered tasks",
        "registered tasks",
        "CPU µs per task",
        "flat",
    )
    derivers = Curve(
        "derivers",
        "Per-task worker CPU against task derivers",
        "wrapping task derivers",
        "CPU µs per task",
        "at most one function call (about 0.1 µs) per wrapping deriver: "
        "flat at this scale",
        logx=False,
    )
    for curve, xs, key in ((tasks, TASKS, "tasks"),
                           (derivers, DERIVERS, "derivers")):  # fmt: skip
        for x in xs:
            count = {key: x}
            if key == "derivers":
                count = {"derivers": x, "tasks": 1}
            apps = {
                side: curve_app(
                    NAMES[side], "memory://", "cache+memory://", "trace",
                    **(count if side == OURS else {"tasks": count["tasks"]}),
                )
                for side in (PLAIN, OURS)
            }  # fmt: skip
            for app in apps.values():
                warm(app)
            interleaved(
                rounds,
                [PLAIN, OURS],
                lambda side, number, x=x, apps=apps, curve=curve: curve.add(
                    side, x, execute_cpu(apps[side], calls)
                ),
            )
    return [tasks, derivers]


def defer_curve(params, redis_url):
    """µs per immediate publish against the size of its argument."""
    calls = max(5, params["publish_calls"] // 3)
    curve = Curve(
        "argsize",
        "Publish cost against argument size (Redis)",
        "argument size, bytes",
        "µs per defer_task / apply_async",
        "linear in size, the same slope for both",
        logy=True,
    )
    queue = "curve-" + uuid.uuid4().hex[:8]
    broker, result = f"{redis_url}/0", f"{redis_url}/1"
    plain = curve_app("plain", broker, result, queue)
    ours = curve_app("ours", broker, result, queue)
    request = make_request(ours.registry)
    plain_task = plain.tasks[ECHO]
    plain_task.apply_async(("",))
    request.defer_task(ECHO, "")
    payloads = {size: "x" * size for size in SIZES}

    def measure(side, size):
        payload = payloads[size]
        t0 = time.perf_counter()
        if side == PLAIN:
            for _ in range(calls):
                plain_task.apply_async((payload,))
        else:
            for _ in range(calls):
                request.defer_task(ECHO, payload)
        curve.add(side, size, (time.perf_counter() - t0) * 1e6 / calls)

    interleaved_points(params["publish_rounds"], SIZES, [PLAIN, OURS], measure)
    with plain.connection_for_write() as conn:
        conn.default_channel.queue_delete(queue)
    return curve


def batch_once(side, plain_task, ours, size):
    """Seconds to publish ``size`` tasks: a loop of ``apply_async``, or
    our batch after a commit."""
    import transaction

    if side == PLAIN:
        t0 = time.perf_counter()
        for _ in range(size):
            plain_task.apply_async()
        return time.perf_counter() - t0
    manager = transaction.TransactionManager(explicit=True)
    request = make_request(
        ours.registry, **{"tm.active": True, "tm.manager": manager}
    )
    manager.begin()
    for _ in range(size):
        request.defer_task(NOOP)
    t0 = time.perf_counter()
    manager.commit()
    return time.perf_counter() - t0


def batch_curve(params, redis_url, amqp):
    """After-commit publish time against the batch size."""
    curve = Curve(
        "batch",
        "After-commit publish time against batch size",
        "tasks deferred in the transaction",
        "ms to publish the batch",
        "linear in the batch; ours below the apply_async loop",
        logy=True,
    )
    brokers = [("redis", f"{redis_url}/0")]
    if amqp:
        brokers.append(("rabbitmq", AMQP_URL))
    for broker, url in brokers:
        queue = "curve-" + uuid.uuid4().hex[:8]
        plain = curve_app("plain", url, f"{redis_url}/1", queue)
        ours = curve_app("ours", url, f"{redis_url}/1", queue)
        plain.tasks[NOOP].apply_async()
        make_request(ours.registry).defer_task(NOOP)
        apps = (plain.tasks[NOOP], ours)

        def measure(side, size, broker=broker, apps=apps):
            elapsed = batch_once(side, *apps, size)
            curve.add(f"{NAMES[side]}, {broker}", size, elapsed * 1e3)

        interleaved_points(
            params["batch_rounds"], BATCHES, [PLAIN, OURS], measure
        )
        with plain.connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)
    return curve
