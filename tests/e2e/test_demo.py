"""``make demo``'s script: the SQLAlchemy ledger and a real worker."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

from e2e_support import ROOT, example_env, get
import pytest
import sqlalchemy

import services

DEMO = ROOT / "scripts" / "demo.py"


def _run_demo(env, cwd, timeout=120) -> subprocess.CompletedProcess:
    process = subprocess.Popen(
        [sys.executable, str(DEMO)],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    finally:
        _kill_group(process)
    return subprocess.CompletedProcess(
        process.args, process.returncode, output
    )


def _kill_group(process) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def _assert_stopped(output: str) -> None:
    pids = [int(pid) for pid in re.findall(r"\(pid (\d+)\)", output)]
    assert len(pids) == 2, output
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_demo_walks_through_the_ledger_and_exits(tmp_path):
    port = services.free_port()
    env = example_env(DEMO_EXIT="1", PORT=str(port))
    done = _run_demo(env, tmp_path)
    assert done.returncode == 0, done.stdout
    output = done.stdout
    assert f"http://127.0.0.1:{port}/" in output
    assert "broker   sqla+sqlite:///" in output
    assert "results  db+sqlite:///" in output
    assert "Pending...\n" in output
    assert "\n42\n" in output
    assert "Demo OK." in output
    _assert_stopped(output)


@pytest.mark.postgres
def test_demo_runs_on_postgresql_and_counts_what_was_there(
    tmp_path, postgres_database
):
    from sqlalchemy_ledger.models import Base, Entry

    engine = sqlalchemy.create_engine(postgres_database)
    Base.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.insert(Entry), [{"value": 100}])
    engine.dispose()
    env = example_env(
        DEMO_EXIT="1",
        PORT=str(services.free_port()),
        DATABASE_URL=postgres_database,
    )
    done = _run_demo(env, tmp_path)
    assert done.returncode == 0, done.stdout
    assert "adds up to 100 so far" in done.stdout
    assert "broker   sqla+postgresql+psycopg2://" in done.stdout
    assert "\n142\n" in done.stdout
    _assert_stopped(done.stdout)


def test_demo_serves_until_interrupted_then_stops_everything(tmp_path):
    port = services.free_port()
    env = example_env(PORT=str(port))
    process = subprocess.Popen(
        [sys.executable, str(DEMO)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        lines = []
        deadline = time.monotonic() + 60
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Still serving"):
                break
            assert time.monotonic() < deadline, "".join(lines)
        else:
            pytest.fail("".join(lines))
        assert get(f"http://127.0.0.1:{port}/append?value=1") == (
            200,
            "Done.\n",
        )
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=30)
    finally:
        _kill_group(process)
    output = "".join(lines) + rest
    assert process.returncode == 0, output
    assert "Stopping..." in output
    _assert_stopped(output)
