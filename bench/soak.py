"""``make soak``: memory stays flat over 100,000 tasks.

A pyramid_tasks worker (solo, then prefork with 2 processes) runs
100,000 no-op tasks, and a web process defers 100,000 tasks in
transactions (``soak_web.py``). RSS after 100,000 must be within 2% of
RSS after 10,000 (for prefork, of the pool processes, which run the
tasks). Writes ``soak.md`` and ``soak.json`` to ``bench/results/``.

Usage: ``python bench/soak.py [--total N] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchapp import DONE, NOOP  # noqa: E402
from harness import (  # noqa: E402
    HERE,
    OURS,
    Worker,
    children,
    redis_server,
    rss_kib,
    workers,
    write_bench_ini,
)

LIMIT = 0.02


def fill(app, client, queue: str, count: int) -> None:
    """Push ``count`` no-op task messages onto ``queue``, fast.

    One real message is published to a scratch queue and its bytes are
    pushed ``count`` times: the worker runs each (the ids repeat, which
    a task whose result is ignored does not mind).
    """
    scratch = "soak-template-" + uuid.uuid4().hex[:6]
    app.send_task(NOOP, queue=scratch)
    body = client.rpop(scratch)
    for start in range(0, count, 10_000):
        pipe = client.pipeline(transaction=False)
        for _ in range(min(10_000, count - start)):
            pipe.lpush(queue, body)
        pipe.execute()


def settle(app, client, queue: str) -> None:
    """Wait until the worker ran what ``queue`` holds."""
    while client.llen(queue):
        time.sleep(0.2)
    app.send_task(DONE, queue=queue).get(timeout=300)
    time.sleep(0.5)


def worker_soak(env, workdir, redis_url, pool, concurrency, points):
    from celery import Celery
    import redis

    app = Celery("soak", set_as_current=False)
    app.conf.update(
        broker_url=f"{redis_url}/0", result_backend=f"{redis_url}/1"
    )
    client = redis.Redis.from_url(f"{redis_url}/0")
    queue = "soak-" + uuid.uuid4().hex[:8]
    worker = Worker(OURS, env, workdir, pool, concurrency, queue=queue)
    out, done = {}, 0
    with workers(worker):
        worker.start()
        for point in points:
            fill(app, client, queue, point - done)
            settle(app, client, queue)
            done = point
            pids = children(worker.proc.pid) if pool == "prefork" else []
            out[point] = sum(rss_kib(pid) for pid in pids or [worker.proc.pid])
    return out


def web_soak(env, redis_url, points):
    queue = "soak-web-" + uuid.uuid4().hex[:8]
    proc = subprocess.run(
        [sys.executable, os.path.join(HERE, "soak_web.py"),
         f"{redis_url}/0", queue, str(points[-1]), *map(str, points)],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    out = json.loads(proc.stdout)
    events = out.pop("events")
    return {int(k): v for k, v in out.items()}, events


def run(total: int = 100_000) -> dict:
    """The soak; ``{name: {"rss": {n: KiB}, "growth": ratio}}``."""
    first = total // 10
    points = [first, total]
    results = {}
    with (
        tempfile.TemporaryDirectory(prefix="soak-") as workdir,
        redis_server(workdir) as redis_url,
    ):
        ini = write_bench_ini(workdir, "bench.ini", "benchapp", redis_url)
        env = dict(os.environ, PYTHONPATH=HERE, BENCH_INI=ini)
        for name, pool, concurrency in (
            ("worker, solo", "solo", 1),
            ("worker, prefork 2 (pool processes)", "prefork", 2),
        ):
            print(f"soak: {name}", flush=True)
            rss = worker_soak(env, workdir, redis_url, pool, concurrency,
                              points)  # fmt: skip
            results[name] = {"rss": rss}
        print("soak: web process", flush=True)
        rss, events = web_soak(env, redis_url, points)
        results["web process, deferring in transactions"] = {
            "rss": rss,
            "events": events,
        }
    for entry in results.values():
        rss = entry["rss"]
        entry["growth"] = rss[total] / rss[first] - 1
        entry["met"] = abs(entry["growth"]) <= LIMIT
    return {"total": total, "first": first, "results": results}


def render(soak: dict) -> list[str]:
    first, total = soak["first"], soak["total"]
    lines = [
        f"## Memory over {total:,} tasks (`make soak`)",
        "",
        f"| process | RSS after {first:,}: MiB | RSS after {total:,}: MiB "
        "| growth | target |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for name, entry in soak["results"].items():
        rss = entry["rss"]
        verdict = "met" if entry["met"] else "MISSED"
        lines.append(
            f"| {name} | {rss[first] / 1024:.1f} | {rss[total] / 1024:.1f} "
            f"| {entry['growth']:+.2%} | within {LIMIT:.0%}: {verdict} |"
        )
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--total", type=int, default=100_000)
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args(argv)
    started = time.perf_counter()
    soak = run(args.total)
    soak["seconds"] = time.perf_counter() - started
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "soak.json"), "w") as fh:
        json.dump(soak, fh, indent=1)
    text = "\n".join(render(soak)) + "\n"
    with open(os.path.join(args.out, "soak.md"), "w") as fh:
        fh.write(text)
    print(text)
    return 0 if all(e["met"] for e in soak["results"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
