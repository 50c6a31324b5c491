"""Real Locust runs (subprocesses: Locust monkey-patches with gevent) against real services.

A short clean run must end consistent; a run against a system with a defect must fail with the
counterexamples; the chaos shape must heal whether it runs to the end or is aborted with Ctrl-C.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.faults.network import CHAOS_PREFIX
from harness.pytest_plugin import TEST_PORT_BASE
from harness.runner.instance import fresh_isolated_env
from harness.runner.layout import Endpoints
from harness.runner.local import LocalSystem
from harness.toxiproxy.client import ToxiproxyClient

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = "load/locustfile.py"
WITH_CHAOS = "load/locustfile.py,load/shapes.py"
RUN_TIMEOUT_S = 180


def base_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This shell's environment without load settings a developer may have exported."""
    env = {k: v for k, v in {**os.environ, **(extra or {})}.items()
           if not k.startswith(("SAGA_LOAD_", "SAGA_CHAOS_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def locust_argv(endpoints: Endpoints, run_dir: Path, *extra: str, files: str = LOCUSTFILE,
                users: int = 5, seconds: int = 10) -> list[str]:
    s = endpoints.services
    return [
        sys.executable, "-m", "locust", "-f", files, "--headless", "--only-summary",
        "-u", str(users), "-r", str(users), "-t", f"{seconds}s",
        "--host", s["order"], "--inventory-url", s["inventory"], "--payment-url", s["payment"],
        "--delivery-url", s["delivery"], "--amqp-url", endpoints.amqp_url,
        "--saga-run-dir", str(run_dir), *extra,
    ]


def run_locust(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    done = subprocess.run(argv, cwd=ROOT, env=env or base_env(), capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S)
    return done.returncode, done.stdout + done.stderr


def port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def only(paths: list[Path]) -> Path:
    assert len(paths) == 1, paths
    return paths[0]


def assert_healed(system: LocalSystem) -> None:
    statuses = system.status()
    assert all(s.ready for s in statuses), statuses
    proxy_map = system.layout.read_proxy_map() or {}
    with ToxiproxyClient(proxy_map["toxiproxy_url"]) as toxiproxy:
        left = {name: [t.name for t in p.toxics if t.name.startswith(CHAOS_PREFIX)] or not p.enabled
                for name, p in toxiproxy.proxies().items()}
    assert not any(left.values()), left


# --- a clean run ------------------------------------------------------------------------------------
def test_short_headless_run_reports_saga_latency_and_ends_consistent(saga_target, tmp_path: Path):
    code, out = run_locust(locust_argv(saga_target.endpoints, tmp_path, "--saga-seed", "1",
                                       "--csv", str(tmp_path / "stats"), "--html", str(tmp_path / "load.html")))
    assert code == 0, out[-4000:]
    assert "saga-load verdict: CONSISTENT" in out, out[-4000:]
    verdict = json.loads(only(list(tmp_path.glob("load-*/verdict.json"))).read_text())
    assert verdict["valid"] is True
    with open(tmp_path / "stats_stats.csv", newline="") as f:
        rows = {(r["Type"], r["Name"]): r for r in csv.DictReader(f)}
    assert ("SAGA", "saga: completed") in rows, sorted(rows)
    assert int(rows[("SAGA", "saga: completed")]["Request Count"]) > 0
    # The verdict is a statistics row: Locust's web UI and its own HTML report show it (issue #18).
    assert int(rows[("VERDICT", "consistency: valid")]["Failure Count"]) == 0
    assert "consistency: valid" in (tmp_path / "load.html").read_text()


def test_the_scarce_stock_mix_races_for_the_last_units_and_ends_consistent(saga_target, tmp_path: Path):
    argv = locust_argv(saga_target.endpoints, tmp_path, "--saga-seed", "3", "--saga-mix", "scarce-stock",
                       "--csv", str(tmp_path / "stats"), users=8, seconds=8)
    code, out = run_locust(argv)
    assert code == 0, out[-4000:]
    assert "saga-load verdict: CONSISTENT" in out, out[-4000:]
    with open(tmp_path / "stats_stats.csv", newline="") as f:
        rows = {(r["Type"], r["Name"]): int(r["Request Count"]) for r in csv.DictReader(f)}
    # The boundary was reached (refusals) while other orders went through.
    assert rows.get(("SAGA", "saga: insufficient_inventory"), 0) > 0, sorted(rows)
    assert rows.get(("SAGA", "saga: completed"), 0) > 0, sorted(rows)
    assert rows.get(("GET", "GET /inventory"), 0) > 0, sorted(rows)  # boundary orders read the stock
    record = json.loads(only(list(tmp_path.glob("load-*/record.json"))).read_text())
    sized = [op["value"] for op in record["operations"] if op["type"] == "invoke" and "stock_seen" in op["value"]]
    assert {v["kind"] for v in sized} == {"scarce_exact", "scarce_over"}
    assert all(v["request"]["quantity"] == max(1, v["stock_seen"] + (v["kind"] == "scarce_over")) for v in sized)


# --- a broken system ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def defective_system() -> Iterator[LocalSystem]:
    """An instance of its own whose orders complete as soon as payment succeeds."""
    if os.environ.get("SAGA_TARGET", "local") != "local":
        pytest.skip("starts an instance with a defect, which needs the local target")
    name = f"{os.environ.get('SAGA_TEST_INSTANCE', 'test')}-loaddefect"
    port_base = int(os.environ.get("SAGA_TEST_PORT_BASE", TEST_PORT_BASE)) + 300
    env = fresh_isolated_env(name, port_base)
    env["SAGA_DEFECTS"] = "complete_before_delivery"
    system = LocalSystem(env=env, proxied=False, say=lambda line: None)
    # LocalSystem.up would take another process's /ready on these ports for its own services.
    taken = [s.port for s in system.status() if s.pid is None and port_in_use(s.port)]
    if taken:
        pytest.fail(f"ports {taken} are taken by something else; set SAGA_TEST_PORT_BASE to a free range")
    system.up(timeout=90)
    try:
        yield system
    finally:
        system.down()


def test_run_fails_and_prints_counterexamples_when_an_invariant_breaks(defective_system, tmp_path: Path):
    argv = locust_argv(defective_system.endpoints(), tmp_path, "--saga-mix", "delivery_failure=1",
                       users=3, seconds=5)
    code, out = run_locust(argv)
    assert code == 1, out[-4000:]
    assert "saga-load verdict: INCONSISTENT" in out, out[-4000:]
    assert "INVALID  completed_order_charged_once" in out
    assert "'problem': 'not exactly one scheduled delivery'" in out  # a counterexample, printed
    assert "completed_order_charged_once: invalid" in out  # the verdict row's failure, in Locust's summary


# --- chaos under load ------------------------------------------------------------------------------
def test_chaos_shape_stages_faults_heals_and_ends_consistent(saga_target, tmp_path: Path):
    system = saga_target.require_process_control()
    argv = locust_argv(saga_target.endpoints, tmp_path, "--saga-seed", "7", files=WITH_CHAOS, seconds=12)
    code, out = run_locust(argv, base_env(system.env))
    assert code == 0, out[-4000:]
    for line in ("chaos plan (seed 7", "chaos: stage latency", "chaos: stage crash", "chaos: healed",
                 "saga-load verdict: CONSISTENT"):
        assert line in out, (line, out[-4000:])
    record = json.loads(only(list(tmp_path.glob("load-*/record.json"))).read_text())
    assert {f["kind"] for f in record["faults"]} == {"latency", "crash"}
    assert all(f["end"] is not None for f in record["faults"])
    assert_healed(system)


def test_chaos_run_aborted_with_ctrl_c_in_the_crash_stage_still_heals_and_checks(saga_target, tmp_path: Path):
    system = saga_target.require_process_control()
    argv = locust_argv(saga_target.endpoints, tmp_path, "--saga-seed", "11", files=WITH_CHAOS, seconds=24)
    proc = subprocess.Popen(argv, cwd=ROOT, env=base_env(system.env), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # ends at EOF at the latest, when the 24 s run is over
            seen.append(line)
            if line.startswith("chaos: stage crash"):
                proc.send_signal(signal.SIGINT)
                break
        rest, _ = proc.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = "".join(seen) + rest
    assert any(line.startswith("chaos: stage crash") for line in seen), out[-4000:]
    assert "chaos: stage heal" not in out  # the abort came first
    assert proc.returncode == 0, out[-4000:]
    assert "chaos: healed" in out and "saga-load verdict: CONSISTENT" in out, out[-4000:]
    assert_healed(system)
