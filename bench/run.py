"""Plain Celery, pyramid-tasks 0.4 and pyramid_tasks, side by side.

Usage: ``make bench`` or ``python bench/run.py [--quick] [--out DIR]``.

Every side runs the same no-op tasks from the same application
(``benchapp``; ``peerapp`` for the peer, which runs in its own
virtualenv, ``bench/.peer-venv``, made on demand), interleaved round by
round and in alternating order, so the noise of a shared machine falls
on all. Every figure is the median of the rounds; only the ratios within
one run mean anything. A private Redis is started on a free loopback
port (and always stopped); the local RabbitMQ is used for the publish
rows when it answers, the local PostgreSQL for the outbox rows.

Writes ``report.md`` (the tables), ``summary.json`` (the figures), the
curves as PNG images and ``raw.jsonl`` (one line per sample) to
``bench/results/`` or ``--out``.

The modules: ``harness`` (processes and workers), ``sides`` (the apps
built in process), ``measures`` (the main table), ``curves`` (the
curves and their plots), ``outboxbench`` (the outbox's latencies),
``soak`` (``make soak``), ``report`` (the tables).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (  # noqa: E402
    HERE,
    PEER_REQUIREMENT,
    answers,
    ensure_venvs,
    redis_server,
)
from measures import Bench  # noqa: E402
import plots  # noqa: E402
import report  # noqa: E402
import soak  # noqa: E402

FULL = {
    "drain_tasks": 1000,
    "drain_rounds": 11,
    "publish_calls": 300,
    "publish_rounds": 11,
    "batch_rounds": 15,
    "trace_calls": 2000,
    "trace_rounds": 9,
    "boot_rounds": 11,
    "outbox_requests": 50,
    "outbox_rounds": 9,
    "latency_samples": 100,
    "relay_rows": 1000,
    "curve_rounds": 3,
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
    "outbox_requests": 3,
    "outbox_rounds": 1,
    "latency_samples": 5,
    "relay_rows": 20,
    "curve_rounds": 1,
}
PARTS = "imports,trace,publish,drain,boot,curves,outbox"


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


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    parser.add_argument(
        "--no-amqp", action="store_true", help="skip RabbitMQ rows"
    )
    parser.add_argument(
        "--no-peer", action="store_true", help="skip pyramid-tasks 0.4"
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
        "--only", default=PARTS, help=f"comma-separated parts ({PARTS})"
    )
    return parser.parse_args(argv)


def run_parts(bench, parts, redis_url):
    steps = [
        ("imports", "import and configured app", bench.imports),
        ("trace", "in-process per-task path", bench.trace),
        ("publish", "publish cost and after-commit batch", bench.publish_all),
        ("drain", "queue drain", bench.drain),
        ("boot", "worker boot and memory", bench.boot),
        ("curves", "curves", bench.curves),
        ("outbox", "outbox and relay", bench.outbox),
    ]
    for name, title, step in steps:
        if name in parts:
            print(f"bench: {title}", flush=True)
            step()


def soak_section(out):
    """The last ``make soak``'s table, when its results are in ``out``."""
    path = os.path.join(out, "soak.json")
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        data = json.load(fh)
    for entry in data["results"].values():
        entry["rss"] = {int(k): v for k, v in entry["rss"].items()}
    return [soak.render(data)]


def main(argv=None):
    args = parse(argv)
    params = dict(QUICK if args.quick else FULL)
    if args.rounds:
        params.update(
            (key, args.rounds) for key in params if key.endswith("_rounds")
        )
    parts = args.only.split(",")
    os.makedirs(args.out, exist_ok=True)
    started = time.perf_counter()
    amqp = not args.no_amqp and answers(5672)
    peer = not args.no_peer and ensure_venvs()
    with (
        tempfile.TemporaryDirectory(prefix="bench-") as workdir,
        open(os.path.join(args.out, "raw.jsonl"), "w") as raw,
        redis_server(workdir) as redis_url,
    ):
        bench = Bench(params, workdir, redis_url, amqp, raw, peer)
        if args.aa:
            bench.env["BENCH_AA"] = "1"
        byte_compile()
        run_parts(bench, parts, redis_url)
        celery_version, redis_version = versions()
        meta = {
            "date": datetime.date.today().isoformat(),
            "machine": f"{platform.system()} {platform.machine()}, "
            f"{os.cpu_count()} cores",
            "python": platform.python_version(),
            "celery": celery_version,
            "redis": redis_version,
            "peer": PEER_REQUIREMENT if peer else "not run",
            "mode": "quick" if args.quick else "full",
            "seconds": time.perf_counter() - started,
        }
        rows = report.summarize(bench.samples)
        for row in rows:
            raw.write(json.dumps({"summary": row, **meta}) + "\n")
    sections = list(bench.sections)
    if bench.curve_summaries:
        images = plots.draw(bench.curve_summaries, args.out)
        sections.append(report.render_curves(bench.curve_summaries, images))
        bench.extra["curves"] = bench.curve_summaries
    sections += soak_section(args.out)
    text = report.render(rows, meta, sections)
    with open(os.path.join(args.out, "report.md"), "w") as fh:
        fh.write(text)
    with open(os.path.join(args.out, "summary.json"), "w") as fh:
        json.dump({"meta": meta, "rows": rows, **bench.extra}, fh, indent=1)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
