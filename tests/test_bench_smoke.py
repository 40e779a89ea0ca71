"""The benchmark harness still runs end to end (tiny mode, no timing)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROWS = [
    "in-process task (tracer + real message): CPU us/task",
    "request build: CPU us",
    "publish (redis): us/call",
    "after-commit batch of 100 (redis): ms",
    "drain solo, results ignored: tasks/s",
    "drain solo, results ignored: worker CPU us/task",
    "drain solo, results stored: tasks/s",
    "drain solo, results stored: worker CPU us/task",
    "drain prefork 2, results ignored: tasks/s",
    "drain prefork 2, results ignored: worker CPU us/task",
    "drain prefork 2, results stored: tasks/s",
    "drain prefork 2, results stored: worker CPU us/task",
    "worker boot: s",
    "worker boot: CPU s",
    "worker RSS after boot: MiB",
]


def test_bench_harness_writes_a_report_with_every_row(tmp_path):
    if shutil.which("redis-server") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("redis-server is not installed, and CI needs it")
        pytest.skip("redis-server is not installed")
    out = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bench", "run.py"), "--quick",
         "--no-amqp", "--no-peer", "--out", str(out)],
        capture_output=True, text=True, timeout=180, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = (out / "report.md").read_text()
    table = [line for line in report.splitlines() if line.startswith("| ")]
    for row in ROWS:
        assert any(line.startswith(f"| {row} |") for line in table), row
    assert "bare Celery" in report
    raw = (out / "raw.jsonl").read_text().splitlines()
    assert len(raw) >= 2 * len(ROWS)
