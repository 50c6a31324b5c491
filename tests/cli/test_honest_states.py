"""`saga-harness` as a user runs it, in a subprocess: what it cannot reach is unknown (exit 2) in
one line, a closed pipe or Ctrl-C leaves no traceback, and an interrupted run stays unknown."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.exits import EXIT_INTERRUPTED, EXIT_OK, EXIT_UNKNOWN
from system.contracts import SERVICES

NOWHERE = "http://127.0.0.1:1"
NO_BROKER = "amqp://guest:secret@127.0.0.1:1/"


def _env(tmp_path: Path, **changes: str) -> dict[str, str]:
    env = {**os.environ, "SAGA_HOME": str(tmp_path / "home"), **changes}
    env.update({f"SAGA_{s.upper()}_URL": NOWHERE for s in SERVICES})
    env.pop("TOXIPROXY_URL", None)
    return env


def _saga(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], env=env, capture_output=True,
                          text=True, timeout=120)


def _one_line_no_traceback(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def test_check_of_services_nobody_runs_is_unknown_in_one_line(tmp_path):
    done = _saga(["check", "--target", "external"], _env(tmp_path, SAGA_AMQP_URL=NO_BROKER))
    assert done.returncode == EXIT_UNKNOWN
    line = _one_line_no_traceback(done.stderr)
    assert "cannot reach the service at http://127.0.0.1:1/" in line


def test_chaos_run_without_a_broker_is_unknown_in_one_line_and_writes_no_run(tmp_path):
    runs = tmp_path / "runs"
    done = _saga(["chaos", "run", "latency", "--target", "external", "--runs-dir", str(runs)],
                 _env(tmp_path, SAGA_AMQP_URL=NO_BROKER))
    assert done.returncode == EXIT_UNKNOWN
    line = _one_line_no_traceback(done.stderr)
    assert "cannot reach the broker at amqp://guest:***@127.0.0.1:1/" in line and "secret" not in line
    assert not runs.exists() or list(runs.iterdir()) == []


def test_a_reader_that_goes_away_leaves_no_traceback(tmp_path):
    """`saga-harness chaos list | head -0`: the pipe is closed before the first write."""
    process = subprocess.Popen([sys.executable, "-m", "harness.cli", "chaos", "list"], env=_env(tmp_path),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    stderr = process.stderr.read()
    assert process.wait(timeout=60) == EXIT_OK
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr


@pytest.mark.integration  # needs the broker: the run gets as far as waiting for the services
def test_ctrl_c_mid_run_writes_an_interrupted_run_that_analyze_keeps_unknown(saga_target, tmp_path):
    runs = tmp_path / "runs"
    env = _env(tmp_path, SAGA_AMQP_URL=saga_target.endpoints.amqp_url)
    process = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "chaos", "run", "duplicate-storm", "--target", "external",
         "--runs-dir", str(runs), "--no-report", "--seed", "3"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while not (runs.exists() and any(runs.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # into the steady-state phase, which waits for services nobody runs
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == EXIT_INTERRUPTED, (out, err)
    assert "Traceback" not in err, err
    [run_dir] = list(runs.iterdir())
    assert not (run_dir / "UNFINISHED").exists() and not list(run_dir.glob("*.tmp"))
    results = json.loads((run_dir / "results.json").read_text())
    assert results["interrupted"] is True and results["valid"] == "unknown"
    analyzed = _saga(["analyze", str(run_dir)], env)
    assert analyzed.returncode == EXIT_UNKNOWN and "interrupted" in analyzed.stdout
    assert "INVALID" not in analyzed.stdout
